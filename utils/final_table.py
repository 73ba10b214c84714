"""The end-of-run table per workload, and whether the run met its targets."""

from __future__ import annotations

from dataclasses import dataclass

from utils.aggregate import RunAggregate, WorkloadStats
from utils.events import Outcome
from utils.settings import NON_TX_WORKLOADS


@dataclass(frozen=True, slots=True)
class Verdict:
    met: bool
    success_rate: float
    p95: float
    reasons: tuple[str, ...]


def verdict(agg: RunAggregate, target_success: float, target_p95: float) -> Verdict:
    total = agg.totals()
    reasons: list[str] = []
    p95 = total.latency.percentile(0.95)
    if total.finished == 0:
        reasons.append("no transactions finished")
    else:
        if total.success_rate < target_success:
            reasons.append(f"success rate {total.success_rate:.2%} < target {target_success:.2%}")
        if p95 > target_p95:
            reasons.append(f"p95 latency {p95:.3f} s > target {target_p95:g} s")
    return Verdict(not reasons, total.success_rate, p95, tuple(reasons))


_COLUMNS = (
    ("workload", 14), ("sent", 5), ("success", 7), ("reverted", 8), ("rejected", 8),
    ("dropped", 7), ("timeout", 7), ("target/s", 8), ("achieved/s", 10), ("p50(s)", 7),
    ("p95(s)", 7), ("p99(s)", 7), ("max(s)", 7), ("gas", 10),
)


def _row(wl: WorkloadStats, elapsed: float) -> list[str]:
    lat = wl.latency
    return [
        wl.name, str(wl.finished), str(wl.successes), str(wl.outcomes[Outcome.REVERTED]),
        str(wl.outcomes[Outcome.REJECTED]), str(wl.outcomes[Outcome.DROPPED]),
        str(wl.outcomes[Outcome.TIMEOUT]), f"{wl.target_rate:.2f}",
        f"{wl.achieved_rate(elapsed):.2f}", f"{lat.percentile(0.5):.3f}",
        f"{lat.percentile(0.95):.3f}", f"{lat.percentile(0.99):.3f}", f"{lat.max:.3f}",
        str(wl.gas_used),
    ]


def render(agg: RunAggregate) -> str:
    """A fixed-width table; ``sent`` counts every transaction with an outcome."""
    elapsed = agg.elapsed()
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
