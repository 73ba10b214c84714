"""Goodput: business operations completed (payments, settlements, loan lifecycles), beside
the transactions that carry them.

A dApp workload reports each completed operation once to a :class:`Goodput` it is given
(as the loan book is given to the lending workload): its name, and when it started and
ended on the run clock. A payment or settlement is one transaction (started when it was
meant to be sent, ended when its receipt was seen); a loan lifecycle is borrow to repaid
(or to liquidated). Operations per second, their latency histogram, Prometheus metrics on
a registry passed in, and the summary / final-table lines all come from here.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter
from prometheus_client import Histogram as PromHistogram

from utils.observe.buckets import FINE_TO, LATENCY_BUCKETS, OCTAVE_STEPS
from utils.observe.histogram import Histogram
from utils.observe.tally import Tally

__all__ = ["GasPerOperation", "Goodput", "OperationStats"]

#: business-operation latency: the transaction latency bounds from 10 ms, continued with the
#: same cuts per octave up to 2**32 us (71 min, a loan's lifecycle): fine enough that Grafana's
#: quantiles agree with summary.json's goodput p95 (utils/observe/buckets.py)
OPERATION_BUCKETS = (*(b for b in LATENCY_BUCKETS if b >= 0.01),
                     *(2**k * step // 64 / 1e6 for k in range(FINE_TO, 32)
                       for step in (*OCTAVE_STEPS[1:], 128)))


@dataclass
class OperationStats:
    count: int = 0
    latency: Histogram = field(default_factory=Histogram)


class Goodput:
    """Completed business operations per (workload, operation)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self._ops: dict[tuple[str, str], OperationStats] = {}
        self._lock = threading.Lock()  # /metrics and /kpis read from the server thread
        self._counter: Counter | None = None
        self._histogram: PromHistogram | None = None
        if registry is not None:
            self._counter = Counter(
                "kcstress_business_operations", "Business operations completed "
                "(payments, settlements, loan lifecycles)", ["workload", "operation"],
                registry=registry)
            self._histogram = PromHistogram(
                "kcstress_business_operation_latency_seconds", "From the operation's intended "
                "start to its completion (a loan: borrow to repaid)", ["workload", "operation"],
                buckets=OPERATION_BUCKETS, registry=registry)

    def record(self, workload: str, operation: str, started_at: float,
               finished_at: float) -> None:
        latency = max(0.0, finished_at - started_at)
        with self._lock:
            stats = self._ops.setdefault((workload, operation), OperationStats())
            stats.count += 1
            stats.latency.observe(latency)
        if self._counter is not None and self._histogram is not None:
            self._counter.labels(workload, operation).inc()
            self._histogram.labels(workload, operation).observe(latency)

    def count(self, workload: str, operation: str) -> int:
        stats = self._ops.get((workload, operation))
        return stats.count if stats else 0

    def summary(self, seconds: float) -> dict[str, dict[str, Any]]:
        """workload -> operation -> {count, per_second, latency p50/p95/max}."""
        out: dict[str, dict[str, Any]] = {}
        with self._lock:
            items = [(k, v.count, v.latency.copy()) for k, v in self._ops.items()]
        for (workload, operation), count, latency in sorted(items):
            out.setdefault(workload, {})[operation] = {
                "count": count,
                "per_second": round(count / seconds, 3) if seconds > 0 else None,
                "latency_p50_sec": round(latency.percentile(0.5), 4),
                "latency_p95_sec": round(latency.percentile(0.95), 4),
                "latency_max_sec": round(latency.max, 4),
            }
        return out

    def lines(self, seconds: float) -> list[str]:
        """The final table's goodput block."""
        rows = []
        for workload, ops in self.summary(seconds).items():
            for operation, s in ops.items():
                rate = f"{s['per_second']:.2f}/s" if s["per_second"] is not None else "n/a"
                rows.append(f"  {workload:<14} {operation:<18} {s['count']:>7}  {rate:>9}  "
                            f"p50 {s['latency_p50_sec']:.3f} s  p95 {s['latency_p95_sec']:.3f} s")
        return ["goodput (business operations):", *rows] if rows else []


class GasPerOperation:
    """Stats-hub listener (``hub.listen(gas)``): gas (L2 and L1) of the successful
    transactions of each (workload, operation), for "gas per operation" in the summary and
    the report, from the tallies' per-operation sums."""

    def __init__(self, workloads: frozenset[str]) -> None:
        self._workloads = workloads
        self._sums: dict[tuple[str, str], list[int]] = {}  # -> [count, gas, l1 gas]

    def on_tally(self, tally: Tally) -> None:
        for workload, tx in tally.tx.items():
            if workload not in self._workloads:
                continue
            for operation, (n, gas, l1) in tx.operations.items():
                sums = self._sums.setdefault((workload, operation), [0, 0, 0])
                sums[0] += n
                sums[1] += gas
                sums[2] += l1

    def summary(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for (workload, operation), (count, gas, l1) in sorted(self._sums.items()):
            out.setdefault(workload, {})[operation] = {
                "count": count, "gas_per_op": round(gas / count),
                "l1_gas_per_op": round(l1 / count), "l2_gas_per_op": round((gas - l1) / count),
            }
        return out
