"""What one workload did in one interval, from the stats hub's tallies: the figures of
``kpi_intervals.csv`` (one row per interval) and of the live console's ticks (one a second)
are read off this one window, so they are computed in one place."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from utils.observe.events import Outcome
from utils.observe.histogram import Histogram
from utils.observe.tally import FiringCell, TxCell

OUTCOMES = {o.value: o for o in Outcome}
FAILURES = (Outcome.REVERTED, Outcome.REJECTED, Outcome.DROPPED, Outcome.TIMEOUT,
            Outcome.REORGED)
GWEI = 10**9


@dataclass(slots=True)
class IntervalWindow:
    """One workload's open interval: firings, outcomes, latency, gas and fees."""

    fired: int = 0
    late: int = 0
    missed: int = 0
    outcomes: Counter[Outcome] = field(default_factory=Counter)
    latency: Histogram = field(default_factory=Histogram)
    lag: Histogram = field(default_factory=Histogram)
    gas_used: int = 0
    fee_wei: int = 0
    ops: int = 0  # successful transactions (their gas below)
    op_gas: int = 0
    op_l1_gas: int = 0

    @property
    def empty(self) -> bool:
        return not (self.fired or self.missed or self.outcomes)

    @property
    def successes(self) -> int:
        return self.outcomes[Outcome.SUCCESS]

    def add_tx(self, tx: TxCell) -> None:
        for outcome, n in tx.outcomes.items():
            self.outcomes[OUTCOMES[outcome]] += n
        self.latency.merge(tx.latency)
        self.gas_used += tx.gas_used
        self.fee_wei += tx.fee_wei
        for count, gas, l1 in tx.operations.values():
            self.ops += count
            self.op_gas += gas
            self.op_l1_gas += l1

    def add_firing(self, firing: FiringCell) -> None:
        self.missed += firing.missed
        self.fired += firing.fired
        self.late += firing.late
        self.lag.merge(firing.lag)

    def offered_rate(self, length: float) -> float:
        return self.fired / length if length > 0 else 0.0

    def achieved_rate(self, length: float) -> float:
        return self.successes / length if length > 0 else 0.0

    def percentiles(self) -> dict[str, float] | None:
        """Latency p50/p95/p99 of the transactions finished in the interval (None: none)."""
        if not self.latency.count:
            return None
        return {name: self.latency.percentile(q)
                for name, q in (("p50", 0.50), ("p95", 0.95), ("p99", 0.99))}

    def per_op(self) -> dict[str, Any]:
        """L2 and L1 gas per successful transaction, and fee (gwei) of the interval's
        included transactions per successful one; None where there was none."""
        if not self.ops:
            return {"l2_gas_per_op": None, "l1_gas_per_op": None, "fee_per_op_gwei": None}
        return {"l2_gas_per_op": round((self.op_gas - self.op_l1_gas) / self.ops),
                "l1_gas_per_op": round(self.op_l1_gas / self.ops),
                "fee_per_op_gwei": round(self.fee_wei / self.ops / GWEI, 6)}
