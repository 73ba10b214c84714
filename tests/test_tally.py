"""One event path: every event reaches every sink in a tally. The figures a run's sinks
give (the run aggregate, Prometheus, tx_metrics.csv, kpi_intervals.csv, health, gas per
operation) are checked against figures counted event by event in this file, and are the
same whether the tallies come from the run's own hub, from a hub's timer, or from a
worker's frames."""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import io
import logging
import math
import random
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from utils.clock import Clock
from utils.load.event_stream import EventWriter, read_frame, tally_body, tally_of
from utils.load.workers import relay
from utils.observe.aggregate import LATE_AFTER_SECONDS, RunAggregate, WorkloadStats
from utils.observe.aggregate_io import aggregate_to_dict, workload_to_dict
from utils.observe.buckets import LATENCY_BUCKETS, RPC_BUCKETS
from utils.observe.csv_sinks import TxCsvSink
from utils.observe.events import (
    Event,
    FiringEvent,
    HeadEvent,
    IotEvent,
    Outcome,
    RpcEvent,
    TargetRateEvent,
    TxEvent,
    TxSentEvent,
)
from utils.observe.goodput import GasPerOperation
from utils.observe.health import HealthMonitor, RefusalWindow
from utils.observe.histogram import bucket_bounds, bucket_index
from utils.observe.kpi_intervals import KpiIntervalSink
from utils.observe.metrics import PrometheusSink
from utils.observe.stats import BATCH_SECONDS, StatsHub
from utils.observe.tally import TALLIED, Tally
from utils.observe.tx_rows import TX_COLUMNS, tx_line, tx_row

T0 = 1_700_000_000.0
WORKLOADS = ("payment_app", "merchant_app", "lending_app")
METHODS = ("eth_sendRawTransaction", "eth_getBlockReceipts", "eth_blockNumber")


def random_events(rng: random.Random, n: int) -> list[Event]:
    """A shuffled-looking but plausible stream: firings, sends, outcomes of every kind,
    JSON-RPC calls, and the untallied kinds between them."""
    events: list[Event] = []
    for i in range(n):
        name = rng.choice(WORKLOADS)
        t = T0 + i * 0.003
        lag = rng.choice((0.0, rng.expovariate(100.0), rng.uniform(0.05, 3.0)))
        missed = rng.choice((0, 0, 0, rng.randrange(1, 5)))
        events.append(FiringEvent(name, t, t + lag, missed, fired=rng.random() > 0.05))
        # the outcomes an engine ends a transaction with (a reorg's comes later, in its own
        # tests); their mix keeps health's refusal share over its threshold
        outcome = rng.choice([o for o in Outcome if o is not Outcome.REORGED])
        sent = outcome is not Outcome.REJECTED
        if sent:
            events.append(TxSentEvent(name, t + lag + 0.001))
        included = outcome in (Outcome.SUCCESS, Outcome.REVERTED)
        gas = rng.choice((21_000, 52_345, 131_072)) if included else 0
        latency = rng.choice((0.01, 0.025, 0.5, 2.0, rng.lognormvariate(-1.0, 1.2)))
        events.append(TxEvent(
            name, name, outcome, f"0x{rng.getrandbits(256):064x}" if sent else "", t,
            t + lag + 0.001 if sent else None, t + latency, rng.randrange(1, 999) if included
            else None, gas, f"0x{rng.getrandbits(160):040x}", rng.randrange(100),
            "" if outcome.ok else f"{outcome.value}: node said, no\n(really)",
            rng.choice(("payment", "settlement", "origination")),
            rng.randrange(0, gas // 3 + 1) if gas and rng.random() < 0.5 else 0,
            rng.randrange(10**8, 10**10) if included else 0,
        ))  # fmt: skip
        ok = rng.random() > 0.1
        kind = "" if ok else rng.choice(("throttled", "transient", "connection", "final", ""))
        retried = kind not in ("", "final") and rng.random() < 0.7
        events.append(RpcEvent(rng.choice(METHODS), rng.lognormvariate(-5, 1.5), ok, kind,
                               retried, rng.uniform(0, 2) if kind == "throttled" else 0.0))
        if i % 97 == 0:
            events += [HeadEvent(i, t), TargetRateEvent(name, t, rng.uniform(1, 50)),
                       IotEvent(t, "EV_1", "ev_sensor", "submit", "total", True, 0.002)]
    return events


def rounded(value: Any) -> Any:
    """Floats to 10 significant digits: sums added in another order differ in the last bit."""
    if isinstance(value, float):
        return float(f"{value:.10g}")
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(rounded(v) for v in value)
    return value


class Sinks:
    """The sinks of a run, on one hub."""

    def __init__(self, run_dir: Path, hub: StatsHub) -> None:
        self.hub = hub
        targets = {name: 10.0 for name in WORKLOADS}
        self.aggregate = RunAggregate(targets, clock=T0)
        self.registry = CollectorRegistry()
        self.health = HealthMonitor(Clock(), refusals=RefusalWindow(window=1e9, share=0.2))
        self.gas = GasPerOperation(frozenset(WORKLOADS))
        hub.listen(self.aggregate)
        hub.listen(self.health)
        hub.listen(self.gas)
        hub.add_sink(PrometheusSink(self.registry, run_id="r", chain_id=1, version="0",
                                    targets=targets))
        hub.add_sink(TxCsvSink(run_dir))
        hub.add_sink(KpiIntervalSink(run_dir, interval=1e6, targets=targets, start=T0,
                                     clock=lambda: T0 + 100.0))

    def figures(self, run_dir: Path) -> dict[str, Any]:
        self.hub.close()
        metrics = {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(generate_latest(self.registry).decode())
            for s in family.samples if not s.name.endswith("_created")
        }  # fmt: skip
        return {
            "aggregate": rounded(aggregate_to_dict(self.aggregate)),
            "metrics": rounded(metrics),
            "tx_csv": (run_dir / "tx_metrics.csv").read_bytes(),
            "kpi_csv": (run_dir / "kpi_intervals.csv").read_bytes(),
            "health": self.health.check()[1].get("reason"),
            "gas": self.gas.summary(),
        }



# -- the figures, counted event by event ---------------------------------------------------
def expected_workloads(events: list[Event]) -> dict[str, dict[str, Any]]:
    """Each workload's counters and histograms, one event at a time."""
    wls = {name: WorkloadStats(name, target_rate=10.0) for name in WORKLOADS}
    for e in events:
        if isinstance(e, TxEvent):
            wl = wls[e.workload]
            wl.outcomes[e.outcome] += 1
            wl.finished_sent += e.sent_at is not None
            wl.latency.observe(e.latency)
            wl.gas_used += e.gas_used
            wl.l1_gas_used += e.l1_gas_used
            wl.fee_wei += e.fee_wei
        elif isinstance(e, TxSentEvent):
            wls[e.workload].sent += 1
        elif isinstance(e, FiringEvent):
            wl = wls[e.workload]
            wl.missed += e.missed
            if e.fired:
                wl.fired += 1
                wl.late += e.lag > LATE_AFTER_SECONDS
                wl.lag.observe(e.lag)
    return {name: rounded(workload_to_dict(wl)) for name, wl in wls.items()}


def below(values: list[float], bound: float) -> int:
    """How many ``values`` lie in the run histogram's buckets under ``bound`` (a bucket edge)."""
    return sum(bucket_bounds(bucket_index(v))[1] <= bound * (1 + 1e-9) for v in values)


Key = tuple[str, tuple[tuple[str, str], ...]]


def expected_metrics(events: list[Event]) -> dict[Key, float]:
    out: dict[Key, float] = defaultdict(float)
    latencies: dict[str, list[float]] = {name: [] for name in WORKLOADS}
    rpc: dict[str, list[float]] = {}
    for e in events:
        if isinstance(e, TxEvent):
            out[("kcstress_transactions_total",
                 (("outcome", e.outcome.value), ("workload", e.workload)))] += 1
            out[("kcstress_in_flight_transactions", (("workload", e.workload),))] -= (
                e.sent_at is not None)
            out[("kcstress_fee_wei_total", (("workload", e.workload),))] += e.fee_wei
            latencies[e.workload].append(e.latency)
        elif isinstance(e, TxSentEvent):
            out[("kcstress_in_flight_transactions", (("workload", e.workload),))] += 1
        elif isinstance(e, RpcEvent):
            rpc.setdefault(e.method, []).append(e.duration)
            if not e.ok:  # an error without a kind counts as final
                kind = e.kind or "final"
                out[("kcstress_rpc_errors_total", (("kind", kind), ("method", e.method)))] += 1
                if e.retried:
                    out[("kcstress_rpc_retries_total", (("kind", kind),))] += 1
                out[("kcstress_rpc_throttled_seconds_total", ())] += e.held
        elif isinstance(e, TargetRateEvent):
            out[("kcstress_offered_rate_per_second", (("workload", e.workload),))] = e.rate
        elif isinstance(e, HeadEvent):
            out[("kcstress_chain_head_block", ())] = max(out[("kcstress_chain_head_block", ())],
                                                         e.block_number)
    for name, values in latencies.items():
        for bound in LATENCY_BUCKETS[::7]:
            out[("kcstress_tx_latency_seconds_bucket",
                 (("le", repr(bound)), ("workload", name)))] = below(values, bound)
    for method, values in rpc.items():
        for bound in RPC_BUCKETS:
            out[("kcstress_rpc_request_duration_seconds_bucket",
                 (("le", repr(float(bound))), ("method", method)))] = sum(
                v <= bound for v in values)
    return dict(out)


def expected_csv(events: list[Event]) -> bytes:
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(TX_COLUMNS)
    for e in events:
        if isinstance(e, TxEvent):
            writer.writerow(tx_row(e))
    return text.getvalue().encode()


@pytest.fixture(scope="module")
def events() -> list[Event]:
    return random_events(random.Random(20261201), 3_000)


@pytest.fixture(scope="module")
def through_the_hub(events: list[Event], tmp_path_factory: pytest.TempPathFactory
                    ) -> dict[str, Any]:
    """The run's path: emit every event to the hub, then flush and close it."""
    run_dir = tmp_path_factory.mktemp("hub")
    sinks = Sinks(run_dir, StatsHub())
    for event in events:
        sinks.hub.emit(event)
    sinks.hub.flush()
    return sinks.figures(run_dir)


def test_the_aggregate_counts_every_event(events: list[Event],
                                          through_the_hub: dict[str, Any]) -> None:
    assert through_the_hub["aggregate"]["workloads"] == expected_workloads(events)
    heads = [e.block_number for e in events if isinstance(e, HeadEvent)]
    assert through_the_hub["aggregate"]["head_block"] == max(heads)
    iot = sum(isinstance(e, IotEvent) for e in events)
    assert through_the_hub["aggregate"]["iot_ops"] == [["submit", "total", True, iot]]


def test_prometheus_counts_every_event(events: list[Event],
                                       through_the_hub: dict[str, Any]) -> None:
    metrics = through_the_hub["metrics"]
    expected = expected_metrics(events)
    assert len(expected) > 150
    for key, value in expected.items():
        assert metrics[key] == pytest.approx(value), key
    for name in WORKLOADS:
        txs = [e for e in events if isinstance(e, TxEvent) and e.workload == name]
        labels = (("workload", name),)
        assert metrics[("kcstress_tx_latency_seconds_count", labels)] == len(txs)
        assert metrics[("kcstress_tx_latency_seconds_sum", labels)] == pytest.approx(
            math.fsum(e.latency for e in txs))
        fired = [e for e in events if isinstance(e, FiringEvent) and e.workload == name]
        assert metrics[("kcstress_firings_total", labels)] == sum(e.fired for e in fired)
        assert metrics[("kcstress_missed_firings_total", labels)] == sum(e.missed for e in fired)


def test_tx_metrics_csv_has_one_row_per_transaction(events: list[Event],
                                                    through_the_hub: dict[str, Any]) -> None:
    assert through_the_hub["tx_csv"].replace(b"\r\n", b"\n") == expected_csv(events).replace(
        b"\r\n", b"\n")


def test_kpi_interval_health_and_gas_per_operation(events: list[Event],
                                                   through_the_hub: dict[str, Any]) -> None:
    rows = list(csv.DictReader(io.StringIO(through_the_hub["kpi_csv"].decode())))
    assert [r["workload"] for r in rows] == list(WORKLOADS)  # one interval, closed at close
    txs = [e for e in events if isinstance(e, TxEvent)]
    for row in rows:
        mine = Counter(e.outcome.value for e in txs if e.workload == row["workload"])
        assert {o: int(row[o if o != "success" else "successes"]) for o in mine} == mine
    rejected = sum(e.outcome is Outcome.REJECTED for e in txs)
    assert through_the_hub["health"] == (
        f"chain refusing transactions: {rejected} of {len(txs)} rejected in the last 1e+09 s "
        f"(last: {[e.error for e in txs if e.outcome is Outcome.REJECTED][-1]})")
    sums: dict[tuple[str, str], list[int]] = {}
    for e in txs:
        if e.outcome is Outcome.SUCCESS:
            s = sums.setdefault((e.workload, e.operation), [0, 0])
            s[0] += 1
            s[1] += e.gas_used
    gas = through_the_hub["gas"]
    assert {(w, op): [g["count"], g["gas_per_op"]] for w, ops in gas.items()
            for op, g in ops.items()} == {k: [n, round(g / n)] for k, (n, g) in sums.items()}


async def frames(data: bytes) -> list[tuple[str, Any]]:
    reader = asyncio.StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    out = []
    while (message := await read_frame(reader)) is not None:
        out.append(message)
    return out


async def test_a_workers_tally_frames_give_the_same_figures(
    events: list[Event], through_the_hub: dict[str, Any], tmp_path: Path
) -> None:
    out = io.BytesIO()
    worker_hub = StatsHub(batch=500)
    writer = EventWriter(out, worker_hub)
    for event in events:
        worker_hub.emit(event)
    writer.flush()
    assert writer.sent_events == len(events)
    received = await frames(out.getvalue())
    assert {kind for kind, _ in received} == {"tally"} and len(received) == -(-len(events) // 500)
    sinks = Sinks(tmp_path, StatsHub())
    assert sum(relay(sinks.hub, body) for _, body in received) == len(events)
    assert sinks.figures(tmp_path) == through_the_hub


async def test_the_hubs_timer_hands_tallies_on_and_taps_see_each_event(
    events: list[Event], through_the_hub: dict[str, Any], tmp_path: Path
) -> None:
    hub = StatsHub()
    sinks = Sinks(tmp_path, hub)
    seen: list[Event] = []
    hub.tap(seen.append)
    transactions = sum(isinstance(e, TxEvent) for e in events)
    for i, event in enumerate(events):
        hub.emit(event)
        if i % 1000 == 999:
            await asyncio.sleep(BATCH_SECONDS * 1.5)  # the hub's timer hands a tally on
            assert 0 < sinks.aggregate.totals().finished < transactions
    assert seen == events
    assert sinks.aggregate.totals().finished < transactions  # the last stretch still open
    await asyncio.sleep(BATCH_SECONDS * 1.5)
    assert sinks.aggregate.totals().finished == transactions  # no flush: the timer did it
    assert sinks.figures(tmp_path) == through_the_hub


class Broken:
    def on_tally(self, tally: Tally) -> None:
        raise RuntimeError("broken sink")


def test_a_broken_listener_is_named_by_its_class_and_the_others_go_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    hub = StatsHub()
    aggregate = RunAggregate({}, clock=T0)
    hub.listen(Broken())
    hub.listen(aggregate)
    hub.tap(Broken().on_tally)  # type: ignore[arg-type]
    with caplog.at_level(logging.ERROR):
        hub.emit(TxSentEvent("payment_app", T0))
        hub.flush()
    assert aggregate.workloads["payment_app"].sent == 1
    messages = [r.getMessage() for r in caplog.records]
    assert messages == ["stats tap Broken failed on TxSentEvent",
                        "stats listener Broken failed on a tally"]
    assert not any("<" in m or " at 0x" in m for m in messages)


@pytest.mark.parametrize("error", ["", "plain", 'says "no", twice', "a,b", "line\r\nbreak",
                                   "tab\there", "ünïcode ✓", " padded "])
def test_a_formatted_line_is_what_csv_writes(events: list[Event], error: str) -> None:
    txs = [dataclasses.replace(e, error=error) if e.error else e
           for e in events if isinstance(e, TxEvent)][:300]
    text = io.StringIO()
    writer = csv.writer(text)
    for e in txs:
        writer.writerow(tx_row(e))
    assert "".join(map(tx_line, txs)) == text.getvalue()


def test_a_tally_and_its_other_events_survive_the_wire(events: list[Event]) -> None:
    tally = Tally()
    for event in events:
        tally.add(event)
    again = tally_of(tally_body(tally))
    assert again.to_wire() == tally.to_wire()
    assert again.others == tally.others == [e for e in events if type(e) not in TALLIED]
    assert again.csv_rows == sum(isinstance(e, TxEvent) for e in events)
    assert again.events == len(events)
