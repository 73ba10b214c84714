"""The end-of-run table per workload, and whether the run met its targets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from utils.observe.aggregate import RunAggregate, WorkloadStats
from utils.observe.events import Outcome
from utils.settings import NON_TX_WORKLOADS


@dataclass(frozen=True, slots=True)
class Verdict:
    met: bool
    reasons: tuple[str, ...]


def verdict(kpis: dict[str, Any]) -> Verdict:
    """Did the run meet TARGET_SUCCESS_RATE and TARGET_MAX_LATENCY_SEC (p95), for its
    transactions and, when it ran the IoT pipeline, its IoT operations? Read from the same
    KPI snapshot as /kpis and summary.json."""
    targets, tx = kpis["targets"], kpis["transactions"]
    reasons: list[str] = []
    if not tx["finished"] and not kpis["total_operations"]:
        reasons.append("nothing was measured")
    if tx["meets_success_target"] is False:
        reasons.append(f"transaction success rate {tx['success_rate']:.2%} < target "
                       f"{targets['success_rate']:.2%}")
    if tx["meets_latency_target"] is False:
        reasons.append(f"transaction p95 latency {tx['p95']:.3f} s > target "
                       f"{targets['max_latency_sec']:g} s")
    if kpis["meets_success_target"] is False:
        reasons.append(f"IoT success rate {kpis['success_rate']:.2%} < target "
                       f"{targets['success_rate']:.2%}")
    if kpis["meets_latency_target"] is False:
        reasons.append(f"IoT p95 latency {kpis['p95_latency_sec']:.3f} s > target "
                       f"{targets['max_latency_sec']:g} s")
    return Verdict(not reasons, tuple(reasons))


_COLUMNS = (
    ("workload", 14), ("sent", 5), ("success", 7), ("reverted", 8), ("rejected", 8),
    ("dropped", 7), ("timeout", 7), ("target/s", 8), ("achieved/s", 10), ("p50(s)", 7),
    ("p95(s)", 7), ("p99(s)", 7), ("max(s)", 7), ("gas", 10), ("l1_gas", 10),
    ("gas/op", 8), ("fee(ETH)", 10),
)


def _row(wl: WorkloadStats, elapsed: float) -> list[str]:
    lat = wl.latency
    return [
        wl.name, str(wl.finished), str(wl.successes), str(wl.outcomes[Outcome.REVERTED]),
        str(wl.outcomes[Outcome.REJECTED]), str(wl.outcomes[Outcome.DROPPED]),
        str(wl.outcomes[Outcome.TIMEOUT]), f"{wl.target_rate:.2f}",
        f"{wl.achieved_rate(elapsed):.2f}", f"{lat.percentile(0.5):.3f}",
        f"{lat.percentile(0.95):.3f}", f"{lat.percentile(0.99):.3f}", f"{lat.max:.3f}",
        str(wl.gas_used), str(wl.l1_gas_used), str(round(wl.gas_used / max(1, _included(wl)))),
        f"{wl.fee_wei / 10**18:.6f}",
    ]


def _included(wl: WorkloadStats) -> int:
    """Transactions with a receipt (they paid gas): successes and reverts."""
    return wl.successes + wl.outcomes[Outcome.REVERTED]


def render(agg: RunAggregate) -> str:
    """A fixed-width table; ``sent`` counts every transaction with an outcome."""
    elapsed = agg.load_elapsed()  # achieved/s over the load window (the drain is not load)
    rows = [[name for name, _ in _COLUMNS]]
    for wl in agg.workloads.values():
        if wl.name not in NON_TX_WORKLOADS and (wl.finished or wl.target_rate):
            rows.append(_row(wl, elapsed))
    rows.append(_row(agg.totals(), elapsed))
    widths = [max(w, *(len(r[i]) for r in rows)) for i, (_, w) in enumerate(_COLUMNS)]
    lines = ["  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in
                       enumerate(zip(r, widths, strict=True))) for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    lines.insert(len(lines) - 1, "-" * len(lines[0]))
    return "\n".join(lines)
