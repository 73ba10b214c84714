"""Live progress: an ANSI status block on a terminal, plain lines otherwise."""

from __future__ import annotations

import asyncio
import io

import pytest

from tests.test_csv_sinks import FakeClock
from tests.test_metrics import sample_events
from utils.observe.aggregate import RunAggregate
from utils.observe.events import RpcEvent
from utils.observe.live import LiveDisplay
from utils.observe.stats import StatsHub

T0 = 1_700_000_000.0


def fed_aggregate() -> RunAggregate:
    agg = RunAggregate({"payment_app": 2.0, "merchant_app": 1.0}, clock=T0)
    hub = StatsHub()
    hub.listen(agg)
    for event in sample_events(T0):
        hub.emit(event)
    hub.flush()
    return agg


class TtyBuffer(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_plain_line_when_not_a_tty() -> None:
    stream = io.StringIO()
    clock = FakeClock(T0 + 10)
    live = LiveDisplay(fed_aggregate(), stream, duration=300, clock=clock)
    assert not live.tty and live.interval == 10.0
    live.draw()
    clock.now = T0 + 20
    live.draw()
    first, second = stream.getvalue().splitlines()
    assert "\x1b" not in stream.getvalue()
    assert first.startswith("elapsed 00:00:10 / 00:05:00  head #9 | ")
    assert "payment_app 0.40/2.00 tx/s p95 0.500s err 0" in first  # 4 successes over 10 s
    assert "merchant_app 0.00/1.00 tx/s" in first and "err 2" in first
    assert first.endswith("IoT ops 3 ok 2  records pending 1 submitted 0 committed 1 failed 0")
    assert "payment_app 0.00/2.00 tx/s" in second  # nothing new since the last line


def test_block_redrawn_in_place_on_a_tty() -> None:
    stream = TtyBuffer()
    live = LiveDisplay(fed_aggregate(), stream, clock=FakeClock(T0 + 10))
    assert live.tty and live.interval == 2.0
    live.draw()
    live.draw()
    out = stream.getvalue()
    first, rest = out.split("\x1b[5F\x1b[J")  # up 5 lines (title, header, 2 workloads, IoT)
    lines = first.splitlines()
    assert lines[0] == "kcstress  elapsed 00:00:10 / until stopped  head #9"
    assert lines[1].split() == ["workload", "tx/s", "target", "p95", "s", "errors", "missed",
                                "flight"]
    assert lines[2].split()[:3] == ["payment_app", "0.40", "2.00"]
    assert lines[3].split()[-3:] == ["2", "2", "1"]  # merchant: 2 errors, 2 missed, 1 in flight
    assert len(rest.splitlines()) == 5


def test_a_refresh_shows_the_rate_of_the_last_ten_seconds() -> None:
    """A 2 s refresh of a slow workload read 0.00 between its successes: the rate is over
    the last 10 s (the whole run before that)."""
    stream = TtyBuffer()
    clock = FakeClock(T0 + 10)
    live = LiveDisplay(fed_aggregate(), stream, clock=clock)
    rates = []
    for now in (T0 + 10, T0 + 12, T0 + 21):
        clock.now = now
        rates.append(live.block(now)[2].split()[1])  # payment_app's tx/s
    assert rates == ["0.40", "0.33", "0.00"]  # 4 in 10 s, 4 in 12 s, none since T0 + 10


class LineCounter(io.StringIO):
    """A stream that sets ``seen`` once ``wanted`` lines were written to it."""

    def __init__(self, wanted: int) -> None:
        super().__init__()
        self.wanted = wanted
        self.seen = asyncio.Event()

    def write(self, text: str) -> int:
        written = super().write(text)
        if self.getvalue().count("\n") >= self.wanted:
            self.seen.set()
        return written


async def test_run_task_refreshes_and_stops() -> None:
    """One line per interval while running, then exactly one final line on stop."""
    stream = LineCounter(wanted=3)
    live = LiveDisplay(fed_aggregate(), stream, interval=0.01, tty=False)
    task = asyncio.create_task(live.run())
    await asyncio.wait_for(stream.seen.wait(), 30)  # a guard against a hang, not a timing
    live.stop()
    await asyncio.wait_for(task, 30)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 4  # three refreshes, then the final line
    assert all(line.startswith("elapsed ") for line in lines)


async def test_run_task_can_be_cancelled() -> None:
    live = LiveDisplay(fed_aggregate(), io.StringIO(), interval=10, tty=False)
    task = asyncio.create_task(live.run())
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert task.cancelled()


def test_a_refresh_that_saw_the_provider_throttle_says_so() -> None:
    """Throttled answers (HTTP 429 with Retry-After, -32005) reach the live line through the
    hub and the run aggregate; a refresh with none since the previous one says nothing."""
    agg = fed_aggregate()
    hub = StatsHub()
    hub.listen(agg)
    stream = io.StringIO()
    clock = FakeClock(T0 + 10)
    live = LiveDisplay(agg, stream, duration=300, clock=clock)
    for held in (1.0, 0.5, 0.0):  # the third answer came inside a window already held
        hub.emit(RpcEvent("eth_sendRawTransaction", 0.01, False, "throttled", True, held))
    hub.emit(RpcEvent("eth_getBlockByNumber", 0.02, False, "transient", True, 0.0))
    hub.emit(RpcEvent("eth_blockNumber", 0.003, True))
    hub.flush()
    live.draw()
    clock.now = T0 + 20
    live.draw()
    hub.emit(RpcEvent("eth_blockNumber", 0.01, False, "throttled", False, 2.0))
    hub.flush()
    clock.now = T0 + 30
    live.draw()
    first, second, third = stream.getvalue().splitlines()
    assert first.endswith("failed 0 | provider-throttled (3 throttled, 1.5 s held)")
    assert "provider-throttled" not in second
    assert third.endswith("| provider-throttled (1 throttled, 2.0 s held)")

    tty = TtyBuffer()
    hub.emit(RpcEvent("eth_call", 0.01, False, "throttled", True, 0.3))
    hub.flush()
    LiveDisplay(agg, tty, clock=FakeClock(T0 + 40)).draw()
    assert tty.getvalue().splitlines()[-1] == "provider-throttled (5 throttled, 3.8 s held)"
