"""The out folder's runs as the console lists them (``GET /api/runs``), and the files of a
run it serves (``/runs/<id>/<file>``): the report, the summary, the CSVs and figures; never
anything else a run folder holds (the lcore node's key files, its database, logs)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

MAX_RUNS = 100
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
#: what of a run folder may be served: its outputs (the report and what it draws from)
SERVED_SUFFIXES = frozenset({".html", ".csv", ".png", ".svg", ".prom"})
SERVED_NAMES = frozenset({"summary.json", "histograms.json"})


def list_runs(out: Path, running: str | None = None) -> list[dict[str, Any]]:
    """The run folders of ``out`` (those with a summary.json or a run.log), newest first."""
    if not out.is_dir():
        return []
    found = [d for d in out.iterdir() if d.is_dir() and not d.is_symlink() and _RUN_ID.match(d.name)
             and ((d / "summary.json").is_file() or (d / "run.log").is_file())]
    found.sort(key=lambda d: d.name, reverse=True)
    return [run_entry(d, d.name == running) for d in found[:MAX_RUNS]]


def run_entry(run_dir: Path, running: bool = False) -> dict[str, Any]:
    """One run: its verdict's exit code and headline, key figures, its report's link."""
    entry: dict[str, Any] = {
        "id": run_dir.name, "kind": "benchmark", "running": running, "started_at": None,
        "exit_code": None, "headline": None, "figures": {},
        "report": f"/runs/{run_dir.name}/report.html"
        if (run_dir / "report.html").is_file() else None,
    }  # fmt: skip
    try:
        summary = json.loads((run_dir / "summary.json").read_text())
    except (OSError, ValueError):
        return entry
    verdict = summary.get("verdict") or {}
    tx = (summary.get("kpis") or {}).get("transactions") or {}
    entry.update({
        "kind": "capacity" if "capacity" in summary else "benchmark",
        "started_at": summary.get("started_at"),
        "exit_code": verdict.get("exit_code"),
        "headline": verdict.get("headline") or summary.get("exit_reason"),
        "figures": {"duration_sec": summary.get("duration_sec"),
                    "tx_per_sec": tx.get("achieved_rate"),
                    "success_rate": tx.get("success_rate"),
                    "latency_p95_sec": tx.get("p95")},
    })  # fmt: skip
    return entry


def run_file(out: Path, run_id: str, name: str) -> Path | None:
    """The path of ``name`` in run ``run_id`` when it is a served output, else None."""
    if not _RUN_ID.match(run_id):
        return None
    folder = (out / run_id).resolve()
    path = (folder / name).resolve()
    if path.parent != folder or not path.is_file():
        return None
    if path.name not in SERVED_NAMES and path.suffix not in SERVED_SUFFIXES:
        return None
    return path
