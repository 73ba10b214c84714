"""The run's one verdict: every target judged once, every reason a run is not clean, and
every output (exit code, final line, summary.json, report, /health) reading that object."""

from __future__ import annotations

import html
import json
from pathlib import Path

import pytest

from utils.observe.aggregate import RunAggregate
from utils.observe.events import FiringEvent, IotEvent, Outcome, TxEvent
from utils.observe.kpis import judge_targets, kpi_snapshot
from utils.observe.stats import StatsHub
from utils.observe.verdict import Condition, Reason, Status, Targets, Verdict
from utils.report.summary import build_summary, summary_verdict

T0 = 1_700_000_000.0


def tx(workload: str, latency: float, outcome: Outcome = Outcome.SUCCESS, at: float = 0.0
       ) -> TxEvent:
    return TxEvent(workload, workload, outcome, "0x" + "ab" * 32, T0 + at, T0 + at + 0.01,
                   T0 + at + latency, 5, 21_000, "0x" + "11" * 20, 0)


def firing(workload: str, missed: int = 0, fired: bool = True) -> FiringEvent:
    return FiringEvent(workload, T0, T0 + 0.001, missed, fired)


def submit(ok: bool, at: float) -> IotEvent:
    return IotEvent(T0 + at, "dev-1", "thermo", "submit", "total", ok, 0.01)


def aggregate(events: list, seconds: float = 100.0) -> RunAggregate:
    """The events through a hub to the run's aggregate, the way a run feeds it."""
    hub = StatsHub()
    agg = RunAggregate({"payment_app": 1.0}, clock=T0)
    hub.listen(agg)
    for event in events:
        hub.emit(event)
    hub.flush()
    agg.load_ended_at = agg.ended_at = T0 + seconds
    return agg


def judge(events: list, targets: Targets | None = None, iot: bool = False) -> Verdict:
    targets = targets or Targets()
    kpis = kpi_snapshot(aggregate(events), targets=targets, iot=iot)
    return judge_targets(kpis, targets, iot)


def by_key(verdict: Verdict) -> dict[str, Status]:
    return {c.key: c.status for c in verdict.checks}


def test_a_run_within_every_target_is_clean() -> None:
    verdict = judge([firing("payment_app"), tx("payment_app", 0.2)] * 50)
    assert verdict.clean and verdict.code == 0 and verdict.headline() == "targets met"
    checks = by_key(verdict)
    assert checks["transactions.p95"] is Status.MET
    assert checks["workloads.payment_app.success_rate"] is Status.MET
    assert checks["firings.missed_share"] is Status.MET
    # no IoT pipeline: its targets are listed, not evaluated, and say why
    iot = [c for c in verdict.checks if c.key.startswith("iot.")]
    assert {c.status for c in iot} == {Status.NOT_EVALUATED}
    assert all(c.note == "no IoT pipeline in this run" for c in iot)


def test_each_missed_target_names_its_value_and_threshold() -> None:
    events = [firing("payment_app"), tx("payment_app", 7.0)] * 19
    events += [firing("payment_app"), tx("payment_app", 0.1, Outcome.REVERTED)]
    verdict = judge(events)
    assert verdict.code == 1 and not verdict.clean
    lines = [c.line() for c in verdict.missed]
    assert "transaction p95 latency 7.000 s > target 5.000 s" in lines
    assert "transaction success rate 95.00% < target 95.00%" not in lines  # 95 % meets it
    assert verdict.headline().startswith("targets NOT met: transaction p95 latency")


def test_missed_firings_over_the_limit_fail_the_run() -> None:
    events = [firing("payment_app"), tx("payment_app", 0.1)] * 98
    events.append(firing("payment_app", missed=2, fired=False))  # 2 of 100 asked: 2 %
    verdict = judge(events)
    missed = next(c for c in verdict.checks if c.key == "firings.missed_share")
    assert missed.status is Status.MISSED and missed.measured == pytest.approx(0.02)
    assert missed.line() == "missed firings 2.00% > target 1.00%"
    assert judge(events, Targets(max_missed_share=0.05)).clean


def test_the_volume_target_is_judged_over_the_load_window() -> None:
    # 10 successful submissions in 100 s of load: 8,640 a day, under 10,000
    verdict = judge([submit(True, t) for t in range(10)], iot=True)
    volume = next(c for c in verdict.checks if c.key == "iot.volume")
    assert volume.status is Status.MISSED and volume.measured == pytest.approx(8640.0)
    assert judge([submit(True, t) for t in range(10)], Targets(daily_entries=8000),
                 iot=True).clean


def test_conditions_come_first_and_make_the_run_not_clean() -> None:
    verdict = judge([firing("payment_app"), tx("payment_app", 0.2)] * 10)
    stopped = verdict.with_conditions([Condition(Reason.INTERRUPTED, "SIGINT after 10.0 of 60 s")])
    assert not stopped.clean and stopped.code == 1
    assert stopped.headline() == "targets NOT met: interrupted (SIGINT after 10.0 of 60 s)"


def test_summary_json_holds_the_verdict_and_agrees_with_its_keys(tmp_path: Path) -> None:
    agg = aggregate([firing("payment_app"), tx("payment_app", 6.0)] * 10)
    conditions = [Condition(Reason.BOOKS_UNBALANCED, "1 discrepancies")]
    summary = build_summary(agg, run_id="r", targets=Targets(), settings={}, seed=1,
                            chain_id=1, iot=False, conditions=conditions)
    summary = json.loads(json.dumps(summary))  # as written and read back
    verdict = summary_verdict(summary)
    assert verdict is not None and verdict.as_dict() == summary["verdict"]
    assert summary["exit_reason"] == verdict.headline()
    assert summary["targets_met"]["all"] is False
    assert summary["kpis"]["transactions"]["meets_latency_target"] is False
    assert summary["kpis"]["workloads"]["payment_app"]["meets_latency_target"] is False
    assert verdict.conditions == tuple(conditions) and verdict.code == 1


def test_a_capacity_search_keeps_its_own_code_and_headline() -> None:
    agg = aggregate([firing("payment_app"), tx("payment_app", 6.0)] * 10)
    summary = build_summary(agg, run_id="c", targets=Targets(), settings={}, seed=1,
                            chain_id=1, iot=False, result=(3, "capacity >= 40.0 tx/s (no knee)"))
    verdict = summary_verdict(summary)
    assert verdict is not None and verdict.checks == ()  # no run targets for a search
    assert (verdict.code, verdict.headline()) == (3, "capacity >= 40.0 tx/s (no knee)")


def test_the_report_shows_the_verdict_of_summary_json(tmp_path: Path) -> None:
    from utils.report.html import build_report
    from utils.report.summary import write_summary

    agg = aggregate([firing("payment_app"), tx("payment_app", 6.0)] * 10)
    summary = build_summary(agg, run_id="r", targets=Targets(), settings={}, seed=1,
                            chain_id=1, iot=False,
                            conditions=[Condition(Reason.INTERRUPTED, "SIGTERM after 2.0 of 9 s")])
    write_summary(tmp_path, summary)
    page = build_report(tmp_path).read_text()
    assert html.escape(summary["exit_reason"]) in page
    assert "interrupted (SIGTERM after 2.0 of 9 s)" in page
    assert '<td class="missed">missed</td>' in page  # the p95 row
    assert "not evaluated (no IoT pipeline in this run)" in page
