"""Bucket bounds of the Prometheus histograms (seconds).

The latency histograms (transactions, scheduler lag, IoT stages) share one layout,
:data:`LATENCY_BUCKETS`, fine enough that Grafana's ``histogram_quantile`` agrees with the
report. Its bounds are edges of the run's own log-linear histogram
(:mod:`utils.observe.histogram`: 64 sub-buckets per power of two of microseconds), so the
Prometheus counts are that histogram re-bucketed (:func:`fine_map`), not a second count:
from 1.024 ms to 134 s each octave is cut at :data:`OCTAVE_STEPS` 64ths of its lower bound,
every bucket at most 4.92 % wider than its lower bound. ``histogram_quantile`` interpolates
inside the bucket that holds the quantile, and the report's percentile lies in the same
bucket, so the two differ by less than 4.92 % (tests/test_prometheus_quantile.py checks it
on a ``metrics.prom``). Below 1 ms the bounds double (1 us .. 512 us): there the dashboards
show the order of magnitude only. Cost: 283 bounds, 285 series per histogram and label set.

The JSON-RPC round trips keep a short layout of their own (:data:`RPC_BUCKETS`, counted per
call as prometheus_client's ``observe`` counts: a value on a bound is in that bucket).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from functools import cache

from utils.observe.histogram import NBUCKETS, bucket_bounds

#: where each octave of microseconds is cut, in 64ths of its lower bound (ratio <= 1.0492)
OCTAVE_STEPS = (64, 67, 70, 73, 76, 79, 82, 86, 90, 94, 98, 102, 107, 112, 117, 122)
#: the fine bounds span 2**FINE_FROM us (1.024 ms) to 2**FINE_TO us (134 s)
FINE_FROM, FINE_TO = 10, 27


def _latency_bounds() -> tuple[float, ...]:
    micros = [2**k for k in range(FINE_FROM)]  # 1 us .. 512 us, doubling
    micros += [2**k * step // 64 for k in range(FINE_FROM, FINE_TO) for step in OCTAVE_STEPS]
    micros.append(2**FINE_TO)
    return tuple(us / 1e6 for us in micros)  # whole microseconds: short `le` labels


#: transaction latency, scheduler lag and IoT stage duration: 1 us .. 134 s
LATENCY_BUCKETS = _latency_bounds()
#: finality stages (utils/observe/finality_stats.py): the latency bounds, then octaves of the
#: run's histogram up to 2**31 us (36 minutes): a batch is posted and confirmed on the parent
#: chain minutes after its receipt on a real Orbit chain
FINALITY_BUCKETS = LATENCY_BUCKETS + tuple(2**k / 1e6 for k in range(FINE_TO + 1, 32))
#: JSON-RPC round trip, 1 ms .. 30 s
RPC_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


def bucket_of(bounds: tuple[float, ...], value: float) -> int:
    """The Prometheus bucket of ``value``: the first bound it does not exceed (``le``),
    ``len(bounds)`` for +Inf: what prometheus_client's ``Histogram.observe`` counts."""
    return bisect_left(bounds, value)


@cache
def fine_map(bounds: tuple[float, ...]) -> tuple[int, ...]:
    """For each bucket of the run's histogram, the Prometheus bucket holding it.

    ValueError when a bound is not an edge of the run's histogram (a fine bucket would
    straddle it). A value exactly on a bound counts in the bucket above it, as in the run's
    histogram (its buckets are ``[lower, upper)``)."""
    lowers = [bucket_bounds(i)[0] for i in range(NBUCKETS)]
    for bound in bounds:
        edge = lowers[min(NBUCKETS - 1, bisect_left(lowers, bound * (1 - 1e-9)))]
        if abs(edge - bound) > bound * 1e-9:
            raise ValueError(f"Prometheus bound {bound} is not an edge of the run's histogram")
    tolerant = [b * (1 - 1e-9) for b in bounds]
    return tuple(bisect_right(tolerant, lower) for lower in lowers)
