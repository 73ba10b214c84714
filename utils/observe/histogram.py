"""Bounded-memory latency histogram: 1 us to 1 hour at under 2 % relative error.

Log-linear buckets, the HdrHistogram layout: values are counted in microseconds,
every power of two of microseconds is split into 64 equal sub-buckets, so a
bucket is at most 1/64 (1.6 %) of its lower bound wide, from 1 us up to
2**32 us (71 minutes); one bucket holds everything below 1 us. At most 2,049
buckets exist, kept sparse (only those that were hit), plus the exact count,
sum, min and max. A percentile is read off the cumulative bucket counts and
interpolated inside its bucket, so its relative error is below the bucket
width. Two histograms merge exactly (bucket counts add), in any order, in
any process: the layout is fixed, and :meth:`to_dict` / :meth:`from_dict`
carry it to a file (``histograms.json``) and back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

#: the unit of bucket bounds, seconds
UNIT = 1e-6
SUB_BUCKETS = 64
#: the highest bucket ends at 2**OCTAVES units (2**32 us = 4,295 s > 1 hour)
OCTAVES = 32
NBUCKETS = 1 + OCTAVES * SUB_BUCKETS
LAYOUT = f"log-linear/us/{SUB_BUCKETS}/{OCTAVES}"


def bucket_index(value: float) -> int:
    """The bucket of ``value`` seconds (0 below 1 us; the last one above 71 minutes)."""
    units = value / UNIT
    if units < 1.0:
        return 0
    mantissa, exponent = math.frexp(units)  # units = mantissa * 2**exponent, 0.5 <= m < 1
    if exponent > OCTAVES:
        return NBUCKETS - 1
    return 1 + (exponent - 1) * SUB_BUCKETS + int((mantissa * 2.0 - 1.0) * SUB_BUCKETS)


def bucket_bounds(index: int) -> tuple[float, float]:
    """[lower, upper) of a bucket, in seconds."""
    if index <= 0:
        return 0.0, UNIT
    octave, sub = divmod(index - 1, SUB_BUCKETS)
    base = UNIT * 2.0**octave
    return base * (1 + sub / SUB_BUCKETS), base * (1 + (sub + 1) / SUB_BUCKETS)


@dataclass(slots=True)
class Histogram:
    """Latency histogram in seconds."""

    counts: dict[int, int] = field(default_factory=dict)
    count: int = 0
    total: float = 0.0
    min: float = math.inf
    max: float = 0.0

    def observe(self, value: float) -> None:
        value = max(0.0, value)
        index = bucket_index(value)
        counts = self.counts
        counts[index] = counts.get(index, 0) + 1
        self.count += 1
        self.total += value
        if value < self.min:
            self.min = value
        if value > self.max:
            self.max = value

    def merge(self, other: Histogram) -> None:
        """Add ``other``'s samples (exact: the same buckets)."""
        counts = self.counts
        for index, n in list(other.counts.items()):  # a snapshot: /kpis reads from a thread
            counts[index] = counts.get(index, 0) + n
        self.count += other.count
        self.total += other.total
        self.min = min(self.min, other.min)
        self.max = max(self.max, other.max)

    def copy(self) -> Histogram:
        return Histogram(dict(self.counts), self.count, self.total, self.min, self.max)

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else 0.0

    def percentile(self, q: float) -> float:
        """The q-quantile (0 < q <= 1); 0.0 when empty. Clamped to [min, max]."""
        if not self.count:
            return 0.0
        rank = q * self.count
        seen = 0
        for index in sorted(self.counts):
            n = self.counts[index]
            if seen + n >= rank:
                lower, upper = bucket_bounds(index)
                value = lower + (upper - lower) * ((rank - seen) / n)
                return min(self.max, max(self.min, value))
            seen += n
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

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form: the layout, the exact figures and the non-empty buckets."""
        return {
            "layout": LAYOUT,
            "count": self.count,
            "sum": self.total,
            "min": self.min if self.count else None,
            "max": self.max,
            "buckets": {str(i): n for i, n in sorted(self.counts.items())},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Histogram:
        """The inverse of :meth:`to_dict`; ValueError for another layout or bad counts."""
        if data.get("layout") != LAYOUT:
            raise ValueError(f"histogram layout {data.get('layout')!r} is not {LAYOUT!r}")
        counts = {int(i): int(n) for i, n in data.get("buckets", {}).items()}
        if any(not 0 <= i < NBUCKETS or n < 0 for i, n in counts.items()):
            raise ValueError("histogram bucket index or count out of range")
        count = int(data["count"])
        if sum(counts.values()) != count:
            raise ValueError("histogram bucket counts do not add up to its count")
        low = data.get("min")
        return cls(counts, count, float(data["sum"]), math.inf if low is None else float(low),
                   float(data["max"]))

    def encode(self) -> str:
        """Compact text of the buckets (``index:count;...``), e.g. for a CSV cell."""
        return ";".join(f"{i}:{n}" for i, n in sorted(self.counts.items()))

    @classmethod
    def decode(cls, text: str) -> Histogram:
        """Buckets from :meth:`encode`; count exact, sum/min/max from the bucket bounds."""
        hist = cls()
        for part in filter(None, text.split(";")):
            index, _, n = part.partition(":")
            hist.add_bucket(int(index), int(n))
        return hist

    def add_bucket(self, index: int, n: int) -> None:
        """Count ``n`` samples known only by their bucket (min/max/sum from its bounds)."""
        if not 0 <= index < NBUCKETS or n < 0:
            raise ValueError(f"bucket {index} x {n} out of range")
        if not n:
            return
        lower, upper = bucket_bounds(index)
        self.counts[index] = self.counts.get(index, 0) + n
        self.count += n
        self.total += n * (lower + upper) / 2
        self.min = min(self.min, lower)
        self.max = max(self.max, upper)
