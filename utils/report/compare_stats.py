"""How sure a change is: the sampling spread of each compared figure (docs/compare.md).

- Figures with a time series (throughput, success, p50/p95/p99, missed firings, gas and fee
  per transaction): a block bootstrap. Each run's blocks of consecutive intervals are drawn
  with replacement (the same count), the figure is computed from the drawn blocks (latency
  quantiles from their merged exact histograms), :data:`RESAMPLES` times per run. Blocks,
  not single transactions, are resampled because latencies within a block are correlated
  (one slow block delays all of its transactions): an iid resample of the histogram would
  call every rerun different.
- Counts of events over the load window (goodput, IoT records/s): Poisson counts, drawn.
- The capacity knee: the search's own bracket (the knee passed, the next step failed).

The drawn changes are centred on the change of the summary's figures (the figure itself is
read where it is computed, never recomputed); their 0.5 % and 99.5 % points bound a 99 %
interval (many figures are compared at once).
"""

from __future__ import annotations

import functools
import math
import random
from collections.abc import Callable, Sequence
from typing import TypeVar

from utils.observe.histogram import bucket_bounds
from utils.report.compare_blocks import Block, CostBlock

RESAMPLES = 1000
CONFIDENCE = 0.99
#: fewer outcomes than this in a run's series: no interval (a bootstrap of a handful of
#: transactions draws the same few values and is sure of nothing it could know)
MIN_EVENTS = 10
T = TypeVar("T")
Stats = dict[str, float | None]


def latency_stats(blocks: Sequence[Block]) -> Stats:
    """The figures of a run's transaction blocks (tx_values' names); rates (throughput,
    missed firings) from the blocks of the load window only (ramp-up and drain are not load)."""
    load = [b for b in blocks if b.in_load]
    seconds = sum(b.seconds for b in load)
    successes = sum(b.successes for b in load)
    finished = sum(b.finished for b in blocks)
    asked = sum(b.fired + b.missed for b in load)
    merged: dict[int, int] = {}
    for b in blocks:
        for index, n in b.latency.items():
            merged[index] = merged.get(index, 0) + n
    p50, p95, p99 = quantiles(merged, (0.50, 0.95, 0.99))
    return {
        "throughput": successes / seconds if seconds > 0 else None,
        "success": sum(b.successes for b in blocks) / finished if finished else None,
        "p50": p50, "p95": p95, "p99": p99,
        "missed": sum(b.missed for b in load) / asked if asked else None,
        "events": float(finished),
    }


_bounds = functools.cache(bucket_bounds)


def quantiles(counts: dict[int, int], qs: Sequence[float]) -> list[float | None]:
    """The ``qs`` quantiles of bucket ``counts`` as :meth:`Histogram.percentile` reads them
    from buckets alone (interpolated in the bucket); None when empty."""
    total = sum(counts.values())
    if not total:
        return [None] * len(qs)
    found: list[float | None] = []
    order = sorted(counts)
    seen, i = 0, 0
    for q in qs:  # ascending
        rank = q * total
        while i < len(order) - 1 and seen + counts[order[i]] < rank:
            seen += counts[order[i]]
            i += 1
        lower, upper = _bounds(order[i])
        n = counts[order[i]]
        found.append(min(upper, lower + (upper - lower) * max(0.0, (rank - seen) / n)))
    return found


def cost_stats(blocks: Sequence[CostBlock]) -> Stats:
    ops = sum(b.ops for b in blocks)
    if not ops:
        return {"l2_gas_per_op": None, "l1_gas_per_op": None, "fee_per_op": None,
                "events": 0.0}
    return {"l2_gas_per_op": sum(b.l2_gas for b in blocks) / ops,
            "l1_gas_per_op": sum(b.l1_gas for b in blocks) / ops,
            "fee_per_op": sum(b.fee_wei for b in blocks) / ops, "events": float(ops)}


def resample(blocks: Sequence[T], stats: Callable[[Sequence[T]], Stats],
             rng: random.Random, times: int = RESAMPLES) -> list[Stats]:
    """``stats`` of ``times`` draws of ``len(blocks)`` blocks with replacement."""
    if not blocks:
        return []
    n = len(blocks)
    return [stats([blocks[rng.randrange(n)] for _ in range(n)]) for _ in range(times)]


def change(base: float | None, new: float | None, points: bool) -> float | None:
    """New against base: a difference for shares (``points``), else relative (+0.1 = +10 %;
    inf when the base is 0 and the new is not)."""
    if base is None or new is None:
        return None
    if points:
        return new - base
    if base == 0:
        return 0.0 if new == 0 else math.copysign(math.inf, new)
    return new / base - 1.0


def spread(base: list[Stats], new: list[Stats], key: str, points: bool,
           observed: float | None) -> list[float]:
    """What sampling alone moves the change of ``key`` by, sorted: each pair of draws' change
    against the undrawn blocks' (``observed``); a difference for shares (``points``), else a
    ratio of the new/base ratios (a relative change cannot go below -100 %)."""
    if observed is None or not math.isfinite(observed) or (not points and observed <= -1):
        return []
    drawn = [change(b.get(key), n.get(key), points) for b, n in zip(base, new, strict=False)]
    kept = [d for d in drawn if d is not None and math.isfinite(d)]
    if points:
        return sorted(d - observed for d in kept)
    return sorted((1 + d) / (1 + observed) for d in kept)


def interval(centre: float, offsets: list[float], points: bool,
             confidence: float = CONFIDENCE) -> tuple[float, float] | None:
    """The change ``centre`` moved by the (1-c)/2 and (1+c)/2 points of ``offsets`` (added
    for shares, multiplying the ratio otherwise); None without draws."""
    if not offsets:
        return None
    tail = (1.0 - confidence) / 2
    lo = offsets[min(len(offsets) - 1, int(tail * len(offsets)))]
    hi = offsets[max(0, math.ceil((1 - tail) * len(offsets)) - 1)]
    if points:
        return centre + lo, centre + hi
    return (1 + centre) * lo - 1, (1 + centre) * hi - 1


def poisson(mean: float, rng: random.Random) -> int:
    """A Poisson draw (Knuth's product method below 30, a rounded normal above)."""
    if mean <= 0:
        return 0
    if mean >= 30:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def count_offsets(base_count: float, new_count: float, rng: random.Random,
                  times: int = RESAMPLES) -> list[float]:
    """What drawing two Poisson counts multiplies the ratio of their rates by (rate = count
    over a fixed window, so the windows cancel)."""
    if base_count <= 0 or new_count <= 0:
        return []
    observed = new_count / base_count  # the windows' ratio (scale) cancels in a ratio
    found = []
    for _ in range(times):
        b, n = poisson(base_count, rng), poisson(new_count, rng)
        if b > 0:
            found.append(n / b / observed)
    return sorted(found)
