"""Live progress: an ANSI status block on a terminal, plain lines otherwise."""

from __future__ import annotations

import asyncio
import io

import pytest

from tests.test_csv_sinks import FakeClock
from tests.test_metrics import sample_events
from utils.observe.aggregate import RunAggregate
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
    assert lines[1].split() == ["workload", "tx/s", "target", "p95", "s", "errors", "flight"]
    assert lines[2].split()[:3] == ["payment_app", "0.40", "2.00"]
    assert lines[3].split()[-2:] == ["2", "1"]  # merchant: 2 errors, 1 in flight
    assert len(rest.splitlines()) == 5


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
