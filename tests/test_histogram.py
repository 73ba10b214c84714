"""The latency histogram: 1 us to 1 hour at about 2 %, exact merge, bounded, serializable."""

from __future__ import annotations

import json
import math
import random

import pytest

from utils.observe.histogram import NBUCKETS, Histogram, bucket_bounds, bucket_index


def exact(values: list[float], q: float) -> float:
    """Nearest-rank percentile of the raw samples."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def test_microsecond_percentiles_match_the_exact_values() -> None:
    rng = random.Random(3)
    # what the IoT stages look like: validate/encrypt take a few to a few hundred us
    values = [rng.lognormvariate(math.log(40e-6), 0.9) for _ in range(20_000)]
    hist = Histogram()
    for v in values:
        hist.observe(v)
    for q in (0.5, 0.9, 0.95, 0.99, 0.999):
        assert hist.percentile(q) == pytest.approx(exact(values, q), rel=0.02), q
    assert hist.count == len(values)
    assert hist.mean == pytest.approx(sum(values) / len(values), rel=1e-9)
    assert hist.min == min(values) and hist.max == max(values)


@pytest.mark.parametrize("value", [1e-6, 1.7e-6, 65e-6, 0.001, 0.25, 1.0, 59.9, 3600.0])
def test_every_value_from_a_microsecond_to_an_hour_is_resolved_at_two_percent(
    value: float,
) -> None:
    lower, upper = bucket_bounds(bucket_index(value))
    assert lower <= value < upper
    assert (upper - lower) / lower <= 0.02
    hist = Histogram()
    for offset in (0.999, 1.0, 1.001):
        hist.observe(value * offset)
    assert hist.percentile(0.5) == pytest.approx(value, rel=0.02)


def test_bucket_layout_is_contiguous_and_fixed() -> None:
    previous_upper = 0.0
    for index in range(NBUCKETS):
        lower, upper = bucket_bounds(index)
        assert lower == pytest.approx(previous_upper, rel=1e-12)
        assert bucket_index((lower + upper) / 2) == index
        previous_upper = upper
    assert bucket_bounds(NBUCKETS - 1)[1] > 3600.0
    assert bucket_index(0.0) == 0 and bucket_index(1e9) == NBUCKETS - 1


def test_merge_is_exact_and_memory_is_bounded() -> None:
    rng = random.Random(5)
    a, b, union = Histogram(), Histogram(), Histogram()
    values = [10 ** rng.uniform(-6.5, 3.6) for _ in range(50_000)]  # 0.3 us .. 66 min
    for i, v in enumerate(values):
        (a if i % 3 else b).observe(v)
        union.observe(v)
    merged = a.copy()
    merged.merge(b)
    assert merged.counts == union.counts and merged.count == union.count
    assert merged.min == union.min and merged.max == union.max
    for q in (0.5, 0.95, 0.99):
        assert merged.percentile(q) == union.percentile(q)
        assert merged.percentile(q) == pytest.approx(exact(values, q), rel=0.02)
    assert len(union.counts) <= NBUCKETS


def test_serialization_round_trips_and_refuses_another_layout() -> None:
    hist = Histogram()
    for v in (3e-6, 4e-6, 0.2, 0.21, 9.0):
        hist.observe(v)
    back = Histogram.from_dict(json.loads(json.dumps(hist.to_dict())))
    assert back == hist
    assert Histogram.from_dict(Histogram().to_dict()).count == 0
    decoded = Histogram.decode(hist.encode())
    assert decoded.counts == hist.counts and decoded.count == 5
    assert decoded.percentile(0.5) == pytest.approx(hist.percentile(0.5), rel=0.02)
    with pytest.raises(ValueError, match="layout"):
        Histogram.from_dict({**hist.to_dict(), "layout": "log/ms/1.02"})
    with pytest.raises(ValueError, match="add up"):
        Histogram.from_dict({**hist.to_dict(), "count": 6})
