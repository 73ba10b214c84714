"""Tallies: a run's sinks fed event by event, through a worker's tally frames over a pipe,
and through a batching hub end up with the same figures, rows and metrics, exactly."""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import io
import random
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from utils.clock import Clock
from utils.load.event_stream import EventWriter, read_frame
from utils.load.workers import relay
from utils.observe.aggregate import RunAggregate
from utils.observe.aggregate_io import aggregate_to_dict
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
from utils.observe.kpi_intervals import KpiIntervalSink
from utils.observe.metrics import PrometheusSink
from utils.observe.stats import StatsHub
from utils.observe.tally import Tally
from utils.observe.tx_rows import tx_line, tx_row

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
        outcome = rng.choice(list(Outcome))
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
        events.append(RpcEvent(rng.choice(METHODS), rng.lognormvariate(-5, 1.5),
                               rng.random() > 0.1))
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
    """Every sink a parent of workers feeds with tallies, on one hub."""

    def __init__(self, run_dir: Path, hub: StatsHub) -> None:
        self.hub = hub
        targets = {name: 10.0 for name in WORKLOADS}
        self.aggregate = RunAggregate(targets, clock=T0)
        self.registry = CollectorRegistry()
        self.health = HealthMonitor(Clock(), refusals=RefusalWindow(window=1e9, share=0.2))
        self.gas = GasPerOperation(frozenset(WORKLOADS))
        hub.subscribe(self.aggregate.on_event)
        hub.subscribe(self.health.on_event)
        hub.subscribe(self.gas.on_event)
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


@pytest.fixture(scope="module")
def events() -> list[Event]:
    return random_events(random.Random(20261201), 3_000)


@pytest.fixture(scope="module")
def one_by_one(events: list[Event], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    run_dir = tmp_path_factory.mktemp("events")
    sinks = Sinks(run_dir, StatsHub())
    for event in events:
        sinks.hub.emit(event)
    return sinks.figures(run_dir)


async def frames(data: bytes) -> list[tuple[str, Any]]:
    reader = asyncio.StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    out = []
    while (message := await read_frame(reader)) is not None:
        out.append(message)
    return out


async def test_tally_frames_of_a_worker_give_the_same_figures(
    events: list[Event], one_by_one: dict[str, Any], tmp_path: Path
) -> None:
    out = io.BytesIO()
    writer = EventWriter(out, batch=500, tally=True)
    for event in events:
        writer.on_event(event)
    writer.flush()
    assert writer.sent_events == len(events)
    received = await frames(out.getvalue())
    kinds = [kind for kind, _ in received]
    assert set(kinds) == {"tally"} and len(kinds) > len(events) // 4 // 500  # batched
    sinks = Sinks(tmp_path, StatsHub())
    assert sum(relay(sinks.hub, kind, body) for kind, body in received) == len(events)
    figures = sinks.figures(tmp_path)
    assert figures["metrics"] == one_by_one["metrics"]
    assert figures == one_by_one
    assert one_by_one["health"] and "rejected" in one_by_one["health"]  # the window judged


async def test_a_batching_hub_gives_the_same_figures(
    events: list[Event], one_by_one: dict[str, Any], tmp_path: Path
) -> None:
    hub = StatsHub()
    sinks = Sinks(tmp_path, hub)
    seen: list[Event] = []
    hub.subscribe(seen.append)  # no tally handler: still sees every event, at once
    hub.batch_events()
    for i, event in enumerate(events):
        hub.emit(event)
        if i % 1000 == 0:
            await asyncio.sleep(0.15)  # the hub's timer hands a tally on meanwhile
    assert seen == events
    assert sinks.aggregate.totals().finished < sum(isinstance(e, TxEvent) for e in events)
    assert sinks.figures(tmp_path) == one_by_one


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


def test_a_tally_survives_its_wire_form(events: list[Event]) -> None:
    tally = Tally()
    for event in events:
        if isinstance(event, TxEvent | TxSentEvent | FiringEvent | RpcEvent):
            tally.add(event)
    again = Tally.from_wire(tally.to_wire())
    assert again.to_wire() == tally.to_wire()
    assert again.csv_rows == sum(isinstance(e, TxEvent) for e in events)
    with pytest.raises(KeyError):
        tally.add(HeadEvent(1, T0))
