"""compare's statistics and verdict rules on their own: quantiles of merged buckets read as the
run reads them, intervals (additive for shares, multiplicative otherwise), Poisson draws, and
the floors under which a change is never a regression."""

from __future__ import annotations

import math
import random
from collections import Counter
from pathlib import Path

import pytest

from utils.observe.histogram import Histogram
from utils.observe.run_figures import HIGHER, LOWER
from utils.report.compare import FEE_FLOOR, IMPROVED, REGRESSED, SAME, block_floor, judge
from utils.report.compare_blocks import Block
from utils.report.compare_data import RunData
from utils.report.compare_stats import (
    count_offsets,
    interval,
    latency_stats,
    poisson,
    quantiles,
    resample,
    spread,
)


def test_quantiles_of_buckets_are_the_histograms() -> None:
    rng = random.Random(1)
    for _ in range(200):
        hist = Histogram()
        for _ in range(rng.randrange(1, 300)):
            hist.observe(rng.expovariate(2.0))
        from_buckets = Histogram.decode(hist.encode())  # a histogram known by buckets only
        assert quantiles(dict(hist.counts), (0.5, 0.95, 0.99)) == pytest.approx(
            [from_buckets.percentile(q) for q in (0.5, 0.95, 0.99)], rel=1e-12)
    assert quantiles({}, (0.5,)) == [None]


def block(successes: int, latency: float, seconds: float = 1.0, in_load: bool = True) -> Block:
    hist = Histogram()
    for _ in range(successes):
        hist.observe(latency)
    return Block(seconds, successes, successes, successes, 0, Counter(hist.counts), in_load)


def test_rates_are_read_from_the_load_window_only() -> None:
    blocks = [block(10, 0.3), block(10, 0.3), block(2, 3.0, in_load=False)]
    stats = latency_stats(blocks)
    assert stats["throughput"] == 10.0  # the drain block is not load
    assert stats["events"] == 22.0 and stats["success"] == 1.0
    assert stats["p99"] is not None and stats["p99"] > 1.0  # its latencies count


def test_a_slower_run_is_told_apart_and_a_copy_is_not() -> None:
    rng = random.Random(0)
    base = [block(20, 0.3 + 0.01 * i) for i in range(12)]
    slow = [block(20, 0.6 + 0.01 * i) for i in range(12)]
    draws_b, draws_s = resample(base, latency_stats, rng), resample(slow, latency_stats, rng)
    observed = latency_stats(slow)["p95"] / latency_stats(base)["p95"] - 1  # type: ignore
    ci = interval(observed, spread(draws_b, draws_s, "p95", False, observed), False)
    assert ci is not None and 0 < ci[0] <= observed <= ci[1]
    same = spread(draws_b, resample(base, latency_stats, rng), "p95", False, 0.0)
    low, high = interval(0.0, same, False)  # type: ignore[misc]
    assert low < 0 < high


def test_relative_intervals_stay_above_minus_100_percent() -> None:
    low, high = interval(-0.9, [0.2, 0.5, 1.0, 2.0, 5.0], False)  # type: ignore[misc]
    assert -1 < low < -0.9 < high
    assert interval(0.01, [-0.02, 0.0, 0.03], True) == pytest.approx((-0.01, 0.04))


def test_poisson_counts() -> None:
    rng = random.Random(3)
    draws = [poisson(4.0, rng) for _ in range(4000)] + [poisson(400.0, rng) for _ in range(4000)]
    assert sum(draws[:4000]) / 4000 == pytest.approx(4.0, rel=0.05)
    assert sum(draws[4000:]) / 4000 == pytest.approx(400.0, rel=0.01)
    factors = count_offsets(100, 100, rng)
    assert factors == sorted(factors) and 0.6 < factors[len(factors) // 2] * 1.0 < 1.4
    assert count_offsets(0, 5, rng) == []


@pytest.mark.parametrize(("change", "ci", "better", "points", "kwargs", "verdict"), [
    (0.30, (0.1, 0.5), LOWER, False, {}, REGRESSED),  # latency up, sure
    (0.30, (-0.1, 0.5), LOWER, False, {}, SAME),  # not sure
    (-0.30, (-0.5, -0.1), LOWER, False, {}, IMPROVED),
    (-0.30, (-0.5, -0.1), HIGHER, False, {}, REGRESSED),  # throughput down
    (0.04, (0.02, 0.06), LOWER, False, {}, SAME),  # under 5 %
    (0.004, (0.001, 0.007), HIGHER, True, {}, SAME),  # under half a point
    (-0.02, (-0.03, -0.01), HIGHER, True, {}, REGRESSED),  # success down 2 points
    (0.15, (0.06, 0.41), LOWER, False, {"shift": 0.04, "shift_floor": 0.5}, SAME),  # a block
    (0.15, (0.06, 0.41), LOWER, False, {"shift": 0.6, "shift_floor": 0.5}, REGRESSED),
    (-0.21, (-0.30, -0.13), LOWER, False, {"floor": FEE_FLOOR}, SAME),  # a fee's base fee
    (math.inf, None, LOWER, False, {}, REGRESSED),  # from 0 to some
    (0.5, None, LOWER, False, {}, SAME),  # no interval: not shown to be real
    (None, None, LOWER, False, {}, "not compared"),
])
def test_verdicts(change: float | None, ci: tuple[float, float] | None, better: str,
                  points: bool, kwargs: dict, verdict: str) -> None:
    assert judge(change, ci, better, points, **kwargs) == verdict


def test_latency_floor_is_the_faster_chains_block() -> None:
    """A chain slowed from 1 s to 3 s blocks tripled p95 (+1.95 s): under one 3 s block, yet
    the regression itself; the floor is the shorter block, only for transaction latencies."""
    def run(seconds: float | None) -> RunData:
        return RunData(Path("."), {}, {}, {"totals": [], "iot": []}, {}, 1.0, [],
                       block_seconds=seconds)
    assert block_floor("totals.p95", run(1.0), run(2.99)) == 1.0
    assert block_floor("totals.p95", run(2.99), run(1.0)) == 1.0
    assert block_floor("totals.p95", run(None), run(0.5)) == 0.5
    assert block_floor("totals.p95", run(None), run(None)) == 0.0
    assert block_floor("totals.throughput", run(1.0), run(3.0)) == 0.0
    assert block_floor("iot.p95", run(1.0), run(3.0)) == 0.0
    assert judge(2.03, (1.96, 2.07), LOWER, False, shift=1.955,
                 shift_floor=block_floor("totals.p95", run(1.0), run(2.99))) == REGRESSED
