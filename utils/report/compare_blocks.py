"""The blocks of time ``main.py compare`` resamples: what one scope (all transactions, a
workload, an operation, the IoT pipeline) did in one block of consecutive intervals, and what
its receipts cost."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass(slots=True)
class Block:
    """What one scope did in one block of time."""

    seconds: float = 0.0
    successes: int = 0
    finished: int = 0
    fired: int = 0
    missed: int = 0
    latency: Counter[int] = field(default_factory=Counter)  # histogram bucket -> count
    in_load: bool = True  # wholly inside the load window (rates are read from these only)

    def add(self, other: Block) -> None:
        self.in_load = self.in_load and other.in_load
        self.seconds += other.seconds
        self.successes += other.successes
        self.finished += other.finished
        self.fired += other.fired
        self.missed += other.missed
        self.latency.update(other.latency)


@dataclass(slots=True)
class CostBlock:
    ops: int = 0
    l2_gas: int = 0
    l1_gas: int = 0
    fee_wei: int = 0
