"""``summary.json``: what ran, on what, with which settings, and how it went."""

from __future__ import annotations

import json
import logging
import platform
import subprocess
import tomllib
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from utils.errors import ConfigError
from utils.observe.aggregate import RunAggregate
from utils.observe.csv_sinks import iso_utc
from utils.observe.kpis import judge_targets, kpi_snapshot
from utils.observe.run_figures import run_figures
from utils.observe.thresholds import judge, parse_all
from utils.observe.verdict import Condition, Targets, Verdict

log = logging.getLogger(__name__)

FILENAME = "summary.json"
SECRET_MARKERS = ("key", "secret", "password", "token", "mnemonic")
#: what ran: the embedded chain's EVM and this package (web3 and eth-tester are test tools)
_PACKAGES = {"py-evm": "py-evm", "kcstress": "kcstress"}
_REPO_ROOT = Path(__file__).resolve().parents[2]


def strip_secrets(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Drop keys naming a secret (recursively), whatever the caller already removed."""
    clean: dict[str, Any] = {}
    for key, value in settings.items():
        if any(marker in str(key).lower() for marker in SECRET_MARKERS):
            continue
        clean[str(key)] = strip_secrets(value) if isinstance(value, Mapping) else value
    return clean


def versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {"python": platform.python_version()}
    for label, dist in _PACKAGES.items():
        try:
            found[label] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            found[label] = _source_version() if label == "kcstress" else None
    return found


def _source_version() -> str | None:
    """This package's version from pyproject.toml when it runs from a checkout, not installed."""
    try:
        project = tomllib.loads((_REPO_ROOT / "pyproject.toml").read_text())["project"]
        return str(project["version"])
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return None


def git_commit(repo: Path = _REPO_ROOT) -> str | None:
    """``git rev-parse HEAD`` of the code that ran, or None (no git, no repo, no commit)."""
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True,
            timeout=5, check=False,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError) as exc:
        log.debug("no git commit: %s", exc)
        return None
    commit = done.stdout.strip()
    return commit if done.returncode == 0 and len(commit) == 40 else None


def _iso(unix: float | None) -> str | None:
    return None if unix is None else iso_utc(unix)


def build_summary(
    aggregate: RunAggregate,
    *,
    run_id: str,
    targets: Targets,
    settings: Mapping[str, Any],
    seed: int | None,
    chain_id: int | None,
    iot: bool = True,
    conditions: Sequence[Condition] = (),
    result: tuple[int, str] | None = None,
) -> dict[str, Any]:
    """The summary and, under ``verdict``, the run's one verdict: its targets judged from the
    same KPI snapshot, with ``conditions``. ``result``: a capacity search's (exit code,
    headline), which replaces the run's targets (a search judges its steps by its SLOs)."""
    kpis = kpi_snapshot(aggregate, targets=targets, iot=iot)
    verdict = judge_targets(kpis, targets, iot).with_conditions(conditions)
    if result is not None:
        code, headline = result
        verdict = Verdict((), verdict.conditions, code or (1 if conditions else 0), headline)
    ended = aggregate.ended_at
    return {
        "run_id": run_id,
        "started_at": _iso(aggregate.started_at),
        "ended_at": _iso(ended),
        "duration_sec": round(aggregate.elapsed(), 3),
        "exit_reason": verdict.headline(),
        "verdict": verdict.as_dict(),
        "seed": seed,
        "chain_id": chain_id,
        "versions": versions(),
        "git_commit": git_commit(),
        "settings": strip_secrets(settings),
        "targets": targets.as_dict(),
        "targets_met": {
            "success_rate": kpis["meets_success_target"],
            "latency": kpis["meets_latency_target"],
            "volume": kpis["meets_volume_target"],
            "missed_firings": kpis["meets_missed_target"],
            "all": kpis["all_targets_met"],
        },
        "totals": kpis["transactions"],
        "kpis": kpis,
        "rpc": rpc_summary(aggregate),
        "chain_events": {
            "reorgs": len(aggregate.reorgs),
            "reorg_depths": aggregate.reorg_depths,
            "max_reorg_depth": max(aggregate.reorg_depths, default=0),
            "outcomes_corrected": aggregate.corrections,
        },
    }


def rpc_summary(aggregate: RunAggregate) -> dict[str, Any]:
    """The run's JSON-RPC round trips and failures by kind, from its start (set-up included)
    to its end."""
    end = aggregate.ended_at if aggregate.ended_at is not None else aggregate.opened_at
    return aggregate.rpc.summary(max(0.0, end - aggregate.opened_at))


def summary_verdict(summary: Mapping[str, Any]) -> Verdict | None:
    """The verdict a summary.json holds (None: written by a version without one)."""
    block = summary.get("verdict")
    return Verdict.from_dict(block) if isinstance(block, Mapping) else None


def read_summary(run_dir: Path, what: str = "--baseline") -> dict[str, Any]:
    """A finished run folder's summary.json; ConfigError naming ``what`` when it has none."""
    path = Path(run_dir) / FILENAME
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(what, f"{run_dir} is not a finished run folder: cannot read "
                          f"{FILENAME} ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(what, f"{path} is not a summary")
    return data


def judge_thresholds(summary: dict[str, Any], texts: Sequence[str],
                     baseline: Path | None) -> Verdict:
    """The summary's verdict with the thresholds ``texts`` judged on its figures (the
    relative ones against ``baseline``'s) and joined to it; summary.json's ``verdict`` and
    ``exit_reason`` updated."""
    verdict = summary_verdict(summary)
    assert verdict is not None
    if not texts:
        return verdict
    if "capacity" not in summary:  # a run's code and headline are derived from its checks
        verdict = Verdict(verdict.checks, verdict.conditions)
    base = run_figures(read_summary(baseline)) if baseline is not None else None
    checks = judge(parse_all((t, "threshold") for t in texts), run_figures(summary), base)
    verdict = verdict.with_checks(checks)
    summary["verdict"] = verdict.as_dict()
    summary["exit_reason"] = verdict.headline()
    if baseline is not None:
        summary["baseline"] = str(baseline)
    return verdict


def write_summary(run_dir: Path, summary: Mapping[str, Any]) -> Path:
    """Write ``summary.json`` atomically (temp file then rename); return its path."""
    path = Path(run_dir) / FILENAME
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(summary, indent=2, sort_keys=False, default=str) + "\n")
    tmp.replace(path)
    log.info("summary written to %s", path)
    return path
