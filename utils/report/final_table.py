"""The end-of-run table per workload (the verdict under it is :mod:`utils.observe.verdict`'s)."""

from __future__ import annotations

from utils.observe.aggregate import RunAggregate, WorkloadStats
from utils.observe.events import Outcome
from utils.settings import NON_TX_WORKLOADS

_COLUMNS = (
    ("workload", 14), ("fired", 6), ("missed", 6), ("late", 5), ("sent", 5), ("success", 7),
    ("reverted", 8), ("rejected", 8), ("dropped", 7), ("timeout", 7), ("reorged", 7),
    ("target/s", 8),
    ("achieved/s", 10), ("p50(s)", 7),
    ("p95(s)", 7), ("p99(s)", 7), ("max(s)", 7), ("gas", 10), ("l1_gas", 10),
    ("gas/op", 8), ("fee(ETH)", 10), ("fee/op(gwei)", 12),
)


def _row(wl: WorkloadStats, elapsed: float) -> list[str]:
    lat = wl.latency
    return [
        wl.name, str(wl.fired), str(wl.missed), str(wl.late), str(wl.finished),
        str(wl.successes), str(wl.outcomes[Outcome.REVERTED]),
        str(wl.outcomes[Outcome.REJECTED]), str(wl.outcomes[Outcome.DROPPED]),
        str(wl.outcomes[Outcome.TIMEOUT]), str(wl.outcomes[Outcome.REORGED]),
        f"{wl.target_rate:.2f}",
        f"{wl.achieved_rate(elapsed):.2f}", f"{lat.percentile(0.5):.3f}",
        f"{lat.percentile(0.95):.3f}", f"{lat.percentile(0.99):.3f}", f"{lat.max:.3f}",
        str(wl.gas_used), str(wl.l1_gas_used), str(round(wl.gas_used / max(1, _included(wl)))),
        f"{wl.fee_wei / 10**18:.6f}", f"{wl.fee_wei / max(1, _included(wl)) / 10**9:,.0f}",
    ]


def _included(wl: WorkloadStats) -> int:
    """Transactions with a receipt (they paid gas): successes and reverts."""
    return wl.successes + wl.outcomes[Outcome.REVERTED]


def render(agg: RunAggregate) -> str:
    """A fixed-width table. ``fired``: the scheduler's firings, ``missed``: firings it gave up,
    ``late``: firings more than 0.1 s behind their intended time; ``sent`` counts every
    transaction with an outcome."""
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
