"""The KPI snapshot served on /kpis and written into summary.json.

Top-level keys are the original system's (its ``IoTMetricsTracker``), computed
over whole IoT operations (stage ``total``): runtime_hours, total_operations,
successful_operations, success_rate, avg_latency_sec, registrations,
data_submissions, on_chain_commitments, daily_submission_rate, the three
``meets_*`` verdicts and ``targets``. Differences from the original, on purpose:

- the latency target is checked against the p95 latency, not the mean;
- ``daily_submission_rate`` extrapolates *successful* data submissions over the load
  window (the drain after it offers no load);
- a ``meets_*`` value is ``None`` (JSON null) when it was not evaluated: IoT
  targets when the run has no IoT pipeline (``iot=False``).

``transactions`` (all workloads merged) and ``workloads`` add transaction
figures; the ``meets_*`` keys and ``all_targets_met`` are read from the checks of
:mod:`utils.observe.target_checks`, where every target is judged.
"""

from __future__ import annotations

from typing import Any

from utils.observe.aggregate import IOT_TOTAL_STAGE, RunAggregate, WorkloadStats
from utils.observe.events import Outcome
from utils.observe.histogram import Histogram
from utils.observe.target_checks import target_checks
from utils.observe.verdict import Targets, Verdict

__all__ = ["Targets", "kpi_snapshot", "latency_summary"]

SECONDS_PER_DAY = 86_400.0


def _round(value: float, digits: int = 6) -> float:
    return round(value, digits)


#: latencies keep nanoseconds: histograms resolve from 1 us (utils/observe/histogram.py)
LATENCY_DIGITS = 9


def latency_summary(hist: Histogram) -> dict[str, float]:
    return {
        "mean": _round(hist.mean, LATENCY_DIGITS),
        "p50": _round(hist.percentile(0.50), LATENCY_DIGITS),
        "p95": _round(hist.percentile(0.95), LATENCY_DIGITS),
        "p99": _round(hist.percentile(0.99), LATENCY_DIGITS),
        "max": _round(hist.max, LATENCY_DIGITS),
    }


def cost_summary(wl: WorkloadStats) -> dict[str, Any]:
    """L2 gas, L1 gas (Nitro's gasUsedForL1; 0 elsewhere) and fees, in total and per
    operation (per transaction that got a receipt)."""
    ops = wl.successes + wl.outcomes[Outcome.REVERTED]

    def per_op(value: int) -> float | None:
        return round(value / ops, 1) if ops else None

    return {
        "operations": ops,
        "l2_gas": wl.l2_gas_used,
        "l1_gas": wl.l1_gas_used,
        "fee_wei": wl.fee_wei,
        "fee_eth": wl.fee_wei / 10**18,
        "l2_gas_per_op": per_op(wl.l2_gas_used),
        "l1_gas_per_op": per_op(wl.l1_gas_used),
        "fee_wei_per_op": per_op(wl.fee_wei),
    }


def iot_costs_per_record(
    aggregate: RunAggregate, pipeline: WorkloadStats | None
) -> dict[str, Any] | None:
    """What one committed IoT record cost on chain: the data pipeline's gas and fees over
    the records committed (one per submitResult, up to a batch per commitBatch)."""
    records = aggregate.iot_ops[("submit", "commit", True)]
    if pipeline is None or not records:
        return None
    return {
        "records": records,
        "l2_gas": round(pipeline.l2_gas_used / records, 1),
        "l1_gas": round(pipeline.l1_gas_used / records, 1),
        "fee_wei": round(pipeline.fee_wei / records),
    }


def workload_kpis(wl: WorkloadStats, elapsed: float) -> dict[str, Any]:
    """Figures of one workload (transactions it sent)."""
    finished = wl.finished
    return {
        "target_rate": wl.target_rate,
        "offered_rate": _round(wl.fired / elapsed if elapsed > 0 else 0.0, 3),
        "achieved_rate": _round(wl.achieved_rate(elapsed), 3),
        "fired": wl.fired,
        "late": wl.late,
        "missed": wl.missed,
        "sent": wl.sent,
        "in_flight": wl.in_flight,
        "finished": finished,
        "successes": wl.successes,
        "failures": wl.failures,
        "outcomes": {o.value: wl.outcomes[o] for o in Outcome},
        "success_rate": _round(wl.success_rate, 4),
        **latency_summary(wl.latency),
        "scheduler_lag_p95": _round(wl.lag.percentile(0.95), LATENCY_DIGITS),
        "gas_used": wl.gas_used,
        "costs": cost_summary(wl),
    }


def kpi_snapshot(
    aggregate: RunAggregate, *, targets: Targets, iot: bool = True, now: float | None = None
) -> dict[str, Any]:
    """All KPIs as a JSON-able dict. ``iot``: the run includes the IoT pipeline. The
    ``meets_*`` keys and ``all_targets_met`` are read from :func:`judge_targets`."""
    elapsed = aggregate.elapsed(now)
    load = aggregate.load_elapsed(now)  # rates are over the load window, not load + drain
    total_ops = aggregate.iot_count()
    ok_ops = aggregate.iot_count(success=True)
    latency = aggregate.iot_latency.get(IOT_TOTAL_STAGE, Histogram())
    ok_submissions = aggregate.iot_count("submit", success=True)
    daily = ok_submissions / load * SECONDS_PER_DAY if load > 0 else 0.0
    snapshot: dict[str, Any] = {
        "runtime_hours": _round(elapsed / 3600.0, 4),
        "total_operations": total_ops,
        "successful_operations": ok_ops,
        "success_rate": _round(ok_ops / total_ops if total_ops else 0.0, 4),
        "avg_latency_sec": _round(latency.mean, LATENCY_DIGITS),
        "p95_latency_sec": _round(latency.percentile(0.95), LATENCY_DIGITS),
        "registrations": aggregate.iot_count("register"),
        "data_submissions": aggregate.iot_count("submit"),
        "successful_submissions": ok_submissions,
        "on_chain_commitments": aggregate.commits.counts["committed"],
        "daily_submission_rate": _round(daily, 1),
        "targets": targets.as_dict(),
        "iot_records": dict(sorted(aggregate.commits.counts.items())),
        "iot_commit_retries": aggregate.commits.retries,
        "iot_stages": {s: latency_summary(h) for s, h in sorted(aggregate.iot_latency.items())},
        "chain_head_block": aggregate.head_block,
        "load_window_sec": _round(load, 3),
        "transactions": workload_kpis(aggregate.totals(), load),
        "workloads": {
            name: workload_kpis(wl, load)
            for name, wl in list(aggregate.workloads.items())  # /kpis reads from another thread
        },
    }
    mark_verdicts(snapshot, judge_targets(snapshot, targets, iot))
    return snapshot


def judge_targets(snapshot: dict[str, Any], targets: Targets, iot: bool) -> Verdict:
    """The targets' checks of a snapshot, as a verdict without run conditions."""
    return Verdict(target_checks(snapshot, targets, iot))


def mark_verdicts(snapshot: dict[str, Any], verdict: Verdict) -> None:
    """The original system's ``meets_*`` keys (and per workload), read from ``verdict``."""
    snapshot["meets_success_target"] = verdict.status_of("iot.success_rate")
    snapshot["meets_latency_target"] = verdict.status_of("iot.p95")
    snapshot["meets_volume_target"] = verdict.status_of("iot.volume")
    for prefix, part in [("transactions", snapshot["transactions"]),
                         *((f"workloads.{n}", wl) for n, wl in snapshot["workloads"].items())]:
        part["meets_success_target"] = verdict.status_of(f"{prefix}.success_rate")
        part["meets_latency_target"] = verdict.status_of(f"{prefix}.p95")
    snapshot["meets_missed_target"] = verdict.status_of("firings.missed_share")
    snapshot["all_targets_met"] = not verdict.missed
