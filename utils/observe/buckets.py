"""Bucket bounds of the Prometheus histograms (seconds), shared by the Prometheus sink and
the tallies workers pre-aggregate for it (:mod:`utils.observe.tally`)."""

from __future__ import annotations

from bisect import bisect_left

#: transaction latency, 10 ms .. 120 s
TX_LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120)
#: scheduler lag, 100 us .. 10 s
LAG_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
               2.5, 5, 10)  # fmt: skip
#: IoT stage latency, 1 us .. 120 s (validation and encryption are microseconds, a commit
#: seconds); the run's own histograms resolve every value at 2 % (utils/observe/histogram.py)
IOT_BUCKETS = (
    0.000001, 0.0000025, 0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005,
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120,
)  # fmt: skip
#: JSON-RPC round trip, 1 ms .. 30 s
RPC_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


def bucket_of(bounds: tuple[float, ...], value: float) -> int:
    """The Prometheus bucket of ``value``: the first bound it does not exceed (``le``),
    ``len(bounds)`` for +Inf: what prometheus_client's ``Histogram.observe`` counts."""
    return bisect_left(bounds, value)
