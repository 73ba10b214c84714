"""Grafana agrees with the report: ``histogram_quantile(0.95, ...)`` over a run's
``metrics.prom`` is within 5 % of the p95 summary.json reports, for latencies from 1 ms to
60 s. The quantile is computed here as Prometheus computes it (promql's ``bucketQuantile``:
the first bucket whose cumulative count reaches the rank, linear interpolation inside it,
the highest finite bound when the rank falls in +Inf), from the text the real
PrometheusSink and prometheus_client's ``generate_latest`` write."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from utils.observe.aggregate import RunAggregate
from utils.observe.buckets import LATENCY_BUCKETS
from utils.observe.events import Outcome, TxEvent
from utils.observe.metrics import PrometheusSink
from utils.observe.stats import StatsHub

N = 2_000
Q = 0.95


def bucket_quantile(q: float, buckets: list[tuple[float, float]]) -> float:
    """promql's bucketQuantile over (upper bound, cumulative count) pairs."""
    buckets = sorted(buckets)
    if not buckets or not math.isinf(buckets[-1][0]) or len(buckets) < 2:
        return math.nan
    observations = buckets[-1][1]
    if observations == 0:
        return math.nan
    rank = q * observations
    # sort.Search(len(buckets)-1, ...): the first bucket reaching the rank, or the +Inf one
    b = next((i for i in range(len(buckets) - 1) if buckets[i][1] >= rank), len(buckets) - 1)
    if b == len(buckets) - 1:
        return buckets[-2][0]
    if b == 0 and buckets[0][0] <= 0:
        return buckets[0][0]
    start, end, count = 0.0, buckets[b][0], buckets[b][1]
    if b > 0:
        start = buckets[b - 1][0]
        count -= buckets[b - 1][1]
        rank -= buckets[b - 1][1]
    return start + (end - start) * (rank / count)


def prom_p95(metrics_prom: str, workload: str) -> float:
    buckets = [
        (float(s.labels["le"]), s.value)
        for family in text_string_to_metric_families(metrics_prom)
        if family.name == "kcstress_tx_latency_seconds"
        for s in family.samples
        if s.name.endswith("_bucket") and s.labels["workload"] == workload
    ]
    return bucket_quantile(Q, buckets)


def run_with(latencies: list[float], run_dir: Path) -> tuple[float, float]:
    """A run's outputs for transactions of these latencies: (the p95 summary.json reports,
    histogram_quantile over its metrics.prom)."""
    registry = CollectorRegistry()
    hub = StatsHub()
    aggregate = RunAggregate({"payment_app": 1.0}, clock=0.0)
    hub.listen(aggregate)
    hub.add_sink(PrometheusSink(registry, run_id="q", chain_id=1, version="0",
                                targets={"payment_app": 1.0}))
    for i, latency in enumerate(latencies):
        t = i * 0.01  # not unix time: there a difference of times is only good to 0.2 us
        hub.emit(TxEvent("payment_app", "payment_app", Outcome.SUCCESS, "0x", t, t,
                         t + latency, 1, 21_000, "0x1", i))
    hub.close()
    (run_dir / "metrics.prom").write_bytes(generate_latest(registry))
    report = aggregate.workloads["payment_app"].latency.percentile(Q)
    return report, prom_p95((run_dir / "metrics.prom").read_text(), "payment_app")


def exact_p95(values: list[float]) -> float:
    return sorted(values)[math.ceil(Q * len(values)) - 1]


Distribution = Callable[[random.Random], list[float]]
EDGES = [b for b in LATENCY_BUCKETS if 0.001 <= b <= 60.0]


def _constant(value: float) -> Distribution:
    return lambda rng: [value] * N


def _uniform(low: float, high: float) -> Distribution:
    return lambda rng: [rng.uniform(low, high) for _ in range(N)]


def _lognormal(median: float, sigma: float) -> Distribution:
    return lambda rng: [min(60.0, max(0.001, rng.lognormvariate(math.log(median), sigma)))
                        for _ in range(N)]


def _bimodal(fast: float, slow: float, slow_share: float) -> Distribution:
    return lambda rng: [rng.gauss(slow, slow * 0.1) if rng.random() < slow_share
                        else rng.gauss(fast, fast * 0.1) for _ in range(N)]


def _worst(low_edge: float) -> Distribution:
    """Nearly everything on a bucket's lower edge, the rest far above: the rank lands at the
    top of that bucket, where interpolation is furthest from the true value."""
    return lambda rng: [low_edge * (1 + 1e-6)] * (N - 80) + [50.0] * 80


DISTRIBUTIONS: dict[str, Distribution] = {
    **{f"constant on edge {b:g}": _constant(b) for b in EDGES[::9]},
    **{f"constant just under edge {b:g}": _constant(b * (1 - 1e-9)) for b in EDGES[4::9]},
    **{f"constant {v:g}": _constant(v) for v in (0.001, 0.0123, 0.277, 0.42, 3.3, 59.9, 60.0)},
    "uniform 1-10 ms": _uniform(0.001, 0.010),
    "uniform 0.2-0.3 s": _uniform(0.2, 0.3),
    "uniform 1 ms-60 s": _uniform(0.001, 60.0),
    **{f"lognormal {m:g} s": _lognormal(m, s)
       for m, s in ((0.005, 0.3), (0.15, 0.5), (0.9, 1.0), (12.0, 0.4))},
    "bimodal, p95 in the slow mode": _bimodal(0.05, 5.0, 0.10),
    "bimodal, p95 in the fast mode": _bimodal(0.02, 40.0, 0.03),
    "worst case at 0.131072 s": _worst(0.131072),
    "worst case at 2.097152 s": _worst(2.097152),
}


@pytest.mark.parametrize("name", DISTRIBUTIONS)
def test_histogram_quantile_of_metrics_prom_is_within_5_percent_of_the_reports_p95(
    name: str, tmp_path: Path
) -> None:
    latencies = DISTRIBUTIONS[name](random.Random(name))
    report, grafana = run_with(latencies, tmp_path)
    assert abs(grafana - report) <= 0.05 * report, (name, report, grafana)
    assert abs(report - exact_p95(latencies)) <= 0.02 * exact_p95(latencies)  # its own error


def test_the_old_buckets_were_the_issue(tmp_path: Path) -> None:
    """A run like the issue's (p95 0.287 s) read through the old buckets (.., 0.25, 0.5, ..)
    and through today's."""
    old = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, math.inf]
    latencies = [0.2] * 800 + [0.25 + 0.05 * i / 200 for i in range(1, 201)]
    counts = [(le, float(sum(v <= le for v in latencies))) for le in old]
    assert exact_p95(latencies) == pytest.approx(0.28750)
    assert bucket_quantile(Q, counts) == pytest.approx(0.4375)  # Grafana said 52 % more
    report, grafana = run_with(latencies, tmp_path)
    assert report == pytest.approx(0.2875, rel=0.02)
    assert grafana == pytest.approx(report, rel=0.05)


@pytest.mark.parametrize("median", [0.02, 0.8, 45.0, 900.0])
def test_business_operation_quantiles_agree_with_the_goodput_p95(median: float) -> None:
    """Goodput's own p95 (summary.json's ``dapp.goodput``) and Grafana's over its histogram,
    for operations from tens of milliseconds to a loan's lifecycle of many minutes."""
    from utils.observe.goodput import Goodput

    registry = CollectorRegistry()
    goodput = Goodput(registry)
    rng = random.Random(int(median * 1000))
    for _ in range(N):
        goodput.record("lending_app", "loan_repaid", 0.0, rng.lognormvariate(math.log(median), 0.6))
    text = generate_latest(registry).decode()
    buckets = [
        (float(s.labels["le"]), s.value)
        for family in text_string_to_metric_families(text)
        if family.name == "kcstress_business_operation_latency_seconds"
        for s in family.samples if s.name.endswith("_bucket")
    ]
    report = goodput.summary(1.0)["lending_app"]["loan_repaid"]["latency_p95_sec"]
    assert bucket_quantile(Q, buckets) == pytest.approx(report, rel=0.05)
