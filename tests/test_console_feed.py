"""The console's feed without a run: a tick's figures are the KPI interval's (one window
computes both), the chain's head, block time and stall, the broadcast never blocks on a slow
or gone client, and the live panel says where things are, the current targets, missed
firings, a stalled chain and the drain."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from tests.test_csv_sinks import FakeClock
from tests.test_metrics import sample_events
from utils.observe.aggregate import RunAggregate
from utils.observe.console_feed import ConsoleFeed, FeedSources
from utils.observe.console_stream import CLIENT_QUEUE, HISTORY, Broadcast
from utils.observe.goodput import Goodput
from utils.observe.head_watch import HeadWatch
from utils.observe.kpi_intervals import KpiIntervalSink
from utils.observe.live import LiveDisplay
from utils.observe.selfwatch import SelfWatch
from utils.observe.stats import StatsHub

T0 = 1_700_000_000.0


def _fed(tmp_path: Path) -> tuple[ConsoleFeed, Broadcast, RunAggregate, HeadWatch, Path]:
    clock = FakeClock(T0)
    hub, broadcast = StatsHub(), Broadcast()
    aggregate = RunAggregate({"payment_app": 2.0, "merchant_app": 1.0}, clock=T0)
    heads = HeadWatch()
    kpi = KpiIntervalSink(tmp_path, interval=10.0, targets={"payment_app": 2.0,
                                                            "merchant_app": 1.0},
                          start=T0, clock=clock)
    controls = {"payment_app": {"target": 2.0, "profile": "2", "paused": False}}
    sources = FeedSources(aggregate, heads, SelfWatch(), Goodput(), phase=lambda: "load",
                          controls=lambda: controls, base_fee=lambda: 100_000_000,
                          planned=60.0)
    feed = ConsoleFeed("r1", sources, broadcast, clock=clock)
    for listener in (aggregate, heads, feed):
        hub.listen(listener)
    hub.add_sink(kpi)
    for event in sample_events(T0):
        hub.emit(event)
    hub.flush_tally()
    clock.now = T0 + 10
    hub.close()
    return feed, broadcast, aggregate, heads, tmp_path / KpiIntervalSink.FILENAME


def test_a_tick_has_the_kpi_intervals_figures(tmp_path: Path) -> None:
    feed, broadcast, _, _, kpi_csv = _fed(tmp_path)
    client = broadcast.stream(lambda: {"mode": "run"}, ping=0.01)
    assert next(client).startswith(b"event: snapshot\n")
    tick = feed.publish()
    with kpi_csv.open(newline="") as f:
        rows = {r["workload"]: r for r in csv.DictReader(f)}
    pay, merchant = tick["workloads"]["payment_app"], tick["workloads"]["merchant_app"]
    assert tick["dt"] == 10.0 and tick["phase"] == "load" and tick["planned"] == 60.0
    assert pay["offered"] == float(rows["payment_app"]["offered_rate"]) == 0.4
    assert pay["achieved"] == float(rows["payment_app"]["achieved_rate"]) == 0.4
    assert pay["latency"]["p95"] == round(float(rows["payment_app"]["latency_p95"]), 6)
    assert pay["target"] == 2.0 and pay["profile"] == "2"  # the control's, as given
    assert merchant["missed"] == int(rows["merchant_app"]["missed"]) == 2
    assert merchant["late"] == int(rows["merchant_app"]["late"]) == 1
    assert merchant["outcomes"]["reverted"] == 1 and merchant["outcomes"]["rejected"] == 1
    assert merchant["in_flight"] == 1 and merchant["profile"] is None
    assert tick["chain"]["head"] == 9 and tick["chain"]["block_time"] == 0.5
    assert tick["chain"]["base_fee_gwei"] == 0.1
    assert tick["iot"]["ops"] == 3 and tick["iot"]["ok"] == 2
    assert tick["iot"]["records"] == {"pending": 1, "submitted": 0, "committed": 1, "failed": 0}
    assert tick["totals"] == {"offered": 7, "successes": 4, "failures": 2, "missed": 2, "late": 1}
    kind, data = next(client).decode().split("\n")[:2]
    assert kind == "event: tick" and json.loads(data.removeprefix("data: ")) == tick
    again = feed.tick(T0 + 11)  # a second with nothing in it
    assert again["workloads"]["payment_app"]["offered"] == 0.0
    assert again["workloads"]["payment_app"]["latency"] is None


def test_the_broadcast_never_blocks_and_forgets_gone_clients() -> None:
    broadcast = Broadcast()
    slow = broadcast.stream(lambda: {}, ping=0.01)
    next(slow)  # subscribed; never reads again
    for i in range(HISTORY + 50):
        broadcast.publish("tick", {"i": i})  # returns at once though the client is full
    queued = [next(slow) for _ in range(CLIENT_QUEUE)]
    assert json.loads(queued[-1].split(b"data: ")[1]) == {"i": HISTORY + 49}  # the newest kept
    assert next(slow) == b": ping\n\n"  # the oldest were dropped, nothing else waits
    assert broadcast.clients == 1
    slow.close()  # the server closes a gone client's stream
    assert broadcast.clients == 0
    fresh = broadcast.stream(lambda: {"x": 1})
    snapshot = json.loads(next(fresh).split(b"data: ")[1])
    assert len(snapshot["ticks"]) == HISTORY and snapshot["ticks"][-1] == {"i": HISTORY + 49}
    broadcast.close()
    assert list(fresh) == []  # the stream ends with the broadcast


def test_live_panel_says_where_targets_missed_stall_and_drain(tmp_path: Path) -> None:
    _, _, aggregate, heads, _ = _fed(tmp_path)
    stream = io.StringIO()
    live = LiveDisplay(aggregate, stream, duration=0, clock=FakeClock(T0 + 30), tty=True)
    live.where = ["console http://127.0.0.1:43210/  run folder logs/r1"]
    live.targets = lambda: {"payment_app": 7.5}
    live.heads = heads
    live.notice = "draining (Ctrl-C received, up to 30 s)"
    live.draw()
    lines = stream.getvalue().splitlines()
    assert lines[0].endswith("head #9  no new block for 27 s")  # last block at T0+3
    assert lines[1] == "console http://127.0.0.1:43210/  run folder logs/r1"
    assert lines[3].split()[:3] == ["payment_app", "0.13", "7.50"]  # the current target
    assert lines[4].split()[-2:] == ["2", "1"]  # merchant: 2 missed, 1 in flight
    assert lines[-1] == "draining (Ctrl-C received, up to 30 s)"
