"""Bounded-memory latency histogram with percentile estimates.

Log-spaced buckets (about 2% relative width) from 1 ms to 1 hour, plus exact
count, sum, min and max. Memory is fixed whatever the number of samples; a
percentile is read off the cumulative bucket counts, interpolated inside the
bucket, so its error is bounded by the bucket width.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

_MIN = 0.001
_MAX = 3600.0
_GROWTH = 1.02
_NBUCKETS = math.ceil(math.log(_MAX / _MIN) / math.log(_GROWTH)) + 1
_LOG_GROWTH = math.log(_GROWTH)


def _bucket(value: float) -> int:
    if value <= _MIN:
        return 0
    return min(_NBUCKETS - 1, int(math.log(value / _MIN) / _LOG_GROWTH) + 1)


def _upper(index: int) -> float:
    return _MIN * _GROWTH**index


@dataclass(slots=True)
class Histogram:
    """Latency histogram in seconds."""

    counts: list[int] = field(default_factory=lambda: [0] * _NBUCKETS)
    count: int = 0
    total: float = 0.0
    min: float = math.inf
    max: float = 0.0

    def observe(self, value: float) -> None:
        value = max(0.0, value)
        self.counts[_bucket(value)] += 1
        self.count += 1
        self.total += value
        self.min = min(self.min, value)
        self.max = max(self.max, value)

    def merge(self, other: Histogram) -> None:
        for i, c in enumerate(other.counts):
            if c:
                self.counts[i] += c
        self.count += other.count
        self.total += other.total
        self.min = min(self.min, other.min)
        self.max = max(self.max, other.max)

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else 0.0

    def percentile(self, q: float) -> float:
        """The q-quantile (0 < q <= 1); 0.0 when empty. Clamped to [min, max]."""
        if not self.count:
            return 0.0
        rank = q * self.count
        seen = 0
        for i, c in enumerate(self.counts):
            if not c:
                continue
            if seen + c >= rank:
                lower = _upper(i - 1) if i else 0.0
                frac = (rank - seen) / c
                value = lower + (_upper(i) - lower) * frac
                return min(self.max, max(self.min, value))
            seen += c
        return self.max

    def summary(self) -> dict[str, float]:
        return {
            "count": float(self.count),
            "mean": self.mean,
            "p50": self.percentile(0.50),
            "p95": self.percentile(0.95),
            "p99": self.percentile(0.99),
            "max": self.max,
        }
