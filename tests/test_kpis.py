"""KPI snapshot (the original keys + per workload) and summary.json."""

from __future__ import annotations

import json
import subprocess
import tomllib
from pathlib import Path

import pytest

from tests.test_metrics import iot_operation, sample_events, tx
from utils.observe.aggregate import RunAggregate
from utils.observe.events import CommitStatusEvent, Outcome
from utils.observe.kpis import Targets, kpi_snapshot
from utils.observe.stats import StatsHub
from utils.report.summary import build_summary, git_commit, strip_secrets, write_summary

T0 = 1_700_000_000.0
ORIGINAL_KEYS = {
    "runtime_hours", "total_operations", "successful_operations", "success_rate",
    "avg_latency_sec", "registrations", "data_submissions", "on_chain_commitments",
    "daily_submission_rate", "meets_success_target", "meets_latency_target",
    "meets_volume_target", "targets",
}  # fmt: skip


def aggregate_of(events: list, seconds: float = 3600.0) -> RunAggregate:
    agg = RunAggregate({"payment_app": 2.0, "merchant_app": 1.0}, clock=T0)
    hub = StatsHub()  # the run's path: emitted to the hub, handed on in a tally
    hub.listen(agg)
    for event in events:
        hub.emit(event)
    hub.flush()
    agg.ended_at = T0 + seconds
    return agg


def test_original_keys_and_values() -> None:
    kpis = kpi_snapshot(aggregate_of(sample_events(T0)), targets=Targets())
    assert kpis.keys() >= ORIGINAL_KEYS
    assert kpis["runtime_hours"] == 1.0
    assert (kpis["total_operations"], kpis["successful_operations"]) == (3, 2)
    assert kpis["success_rate"] == pytest.approx(0.6667)
    assert kpis["avg_latency_sec"] == pytest.approx(0.0023, abs=1e-4)
    assert (kpis["registrations"], kpis["data_submissions"]) == (1, 2)
    assert kpis["successful_submissions"] == 1
    assert kpis["on_chain_commitments"] == 1
    assert kpis["daily_submission_rate"] == 24.0  # 1 successful submission in 1 h
    assert kpis["meets_success_target"] is False  # 66.7% < 95%
    assert kpis["meets_latency_target"] is True  # p95 of ~2 ms <= 5 s
    assert kpis["meets_volume_target"] is False  # 24/day < 10,000
    assert kpis["targets"] == {
        "success_rate": 0.95,
        "max_latency_sec": 5.0,
        "daily_entries": 10000.0,
        "max_missed_share": 0.01,
    }
    assert kpis["iot_records"] == {"committed": 1, "pending": 1, "submitted": 0}
    assert kpis["chain_head_block"] == 9
    assert kpis["all_targets_met"] is False
    json.dumps(kpis)  # JSON-able


def test_workload_figures() -> None:
    kpis = kpi_snapshot(aggregate_of(sample_events(T0), seconds=10), targets=Targets())
    pay, merch = kpis["workloads"]["payment_app"], kpis["workloads"]["merchant_app"]
    assert (pay["target_rate"], pay["achieved_rate"], pay["offered_rate"]) == (2.0, 0.4, 0.4)
    assert pay["outcomes"] == {
        "success": 4,
        "reverted": 0,
        "rejected": 0,
        "dropped": 0,
        "timeout": 0,
        "reorged": 0,
    }
    assert 0.2 <= pay["p50"] <= 0.4 and 0.4 <= pay["p95"] <= pay["p99"] <= pay["max"] == 0.5
    assert pay["meets_success_target"] is True and pay["meets_latency_target"] is True
    assert (merch["successes"], merch["failures"], merch["in_flight"]) == (0, 2, 1)
    assert (merch["late"], merch["missed"]) == (1, 2)
    assert merch["meets_success_target"] is False
    assert kpis["transactions"]["finished"] == 6


def test_targets_change_verdicts_and_iot_can_be_off() -> None:
    events = [tx("payment_app", Outcome.SUCCESS, T0 + i, 2.0) for i in range(10)]
    for i in range(20):
        events += iot_operation(T0 + i, f"EV_{i}", "submit")
        events.append(CommitStatusEvent(T0 + i, i, "committed"))
    agg = aggregate_of(events, seconds=60)
    strict = kpi_snapshot(agg, targets=Targets(success_rate=1.0, max_latency_sec=1.0,
                                               daily_entries=30_000))  # fmt: skip
    assert strict["daily_submission_rate"] == 28_800.0  # 20 per minute
    assert strict["meets_success_target"] is True and strict["meets_volume_target"] is False
    assert strict["workloads"]["payment_app"]["meets_latency_target"] is False  # p95 2 s > 1 s
    lenient = kpi_snapshot(agg, targets=Targets(max_latency_sec=3.0, daily_entries=500))
    assert lenient["all_targets_met"] is True
    no_iot = kpi_snapshot(aggregate_of([]), targets=Targets(), iot=False)
    assert no_iot["meets_volume_target"] is None and no_iot["all_targets_met"] is True
    assert no_iot["workloads"]["payment_app"]["meets_success_target"] is None


def test_strip_secrets_recursively() -> None:
    settings = {"duration": 25, "private_key": "x", "PRIVATE_KEY_2": "y", "db_password": "z",
                "nested": {"api_secret": "s", "rate": 2}, "out": Path("logs")}  # fmt: skip
    assert strip_secrets(settings) == {"duration": 25, "nested": {"rate": 2}, "out": Path("logs")}


def test_summary_json(tmp_path: Path) -> None:
    agg = aggregate_of(sample_events(T0), seconds=25.5)
    summary = build_summary(
        agg, run_id="20250101T000000Z-abc123", targets=Targets(), seed=42, chain_id=31337,
        settings={"duration": 25, "rpc_url": None, "private_key": "0xdead", "out": tmp_path},
    )  # fmt: skip
    path = write_summary(tmp_path, summary)
    loaded = json.loads(path.read_text())
    assert loaded["run_id"] == "20250101T000000Z-abc123"
    assert loaded["started_at"] == "2023-11-14T22:13:20.000Z"
    assert loaded["ended_at"] == "2023-11-14T22:13:45.500Z"
    assert loaded["duration_sec"] == 25.5 and loaded["seed"] == 42 and loaded["chain_id"] == 31337
    assert "private_key" not in loaded["settings"] and loaded["settings"]["out"] == str(tmp_path)
    assert "0xdead" not in path.read_text()
    assert loaded["versions"]["python"].count(".") == 2
    project = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())
    assert loaded["versions"]["py-evm"]
    assert loaded["versions"]["kcstress"] == project["project"]["version"]
    assert loaded["targets_met"] == {"success_rate": False, "latency": True, "volume": False,
                                     "missed_firings": False, "all": False}  # fmt: skip
    assert loaded["exit_reason"] == loaded["verdict"]["headline"]
    assert loaded["exit_reason"].startswith("targets NOT met: ")
    assert loaded["totals"]["finished"] == 6
    assert loaded["kpis"]["workloads"]["payment_app"]["p95"] > 0
    assert not list(tmp_path.glob("*.tmp"))


def test_git_commit_present_or_none(tmp_path: Path) -> None:
    assert git_commit(tmp_path) is None  # not a repository: no failure
    repo = tmp_path / "repo"
    repo.mkdir()
    env = ["-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    (repo / "f").write_text("x")
    subprocess.run(["git", "add", "f"], cwd=repo, check=True)
    subprocess.run(["git", *env, "commit", "-qm", "x"], cwd=repo, check=True)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True)
    assert git_commit(repo) == head.stdout.strip()
