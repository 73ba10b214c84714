"""Live progress of a run, read from the shared :class:`RunAggregate`.

On a terminal: a status block redrawn in place every ``interval`` seconds
(ANSI cursor-up + clear, no extra dependency). Otherwise (a log file, a pipe,
a container's stdout): one plain line per interval.

When the JSON-RPC provider throttled the run since the previous refresh (throttled answers,
or time in which no request could leave: Retry-After), the refresh says so:
``provider-throttled (N throttled, H s held)``, from the run aggregate's RPC totals (the
figures the run's provider-throttled verdict reads): the rates shown are then the
provider's limit, not the chain's.

The block's first lines say where things are (:attr:`LiveDisplay.where`: the console's URL with
its real port, the run folder); each workload's target is its profile's current one
(:attr:`LiveDisplay.targets`, when the run steers its load; else the run's nominal rate), its
missed firings are shown, its tx/s is over the last 10 s, the progress line says "no new
block for N s" when the chain has stalled with transactions waiting
(:class:`~utils.observe.head_watch.HeadWatch`), and a :attr:`LiveDisplay.notice`
("draining (Ctrl-C received, up to 30 s)") is the last line.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TextIO

from utils.aio import wait_event
from utils.observe.aggregate import RunAggregate, WorkloadStats
from utils.observe.head_watch import HeadWatch

_HEADER = (f"{'workload':<18}{'tx/s':>8}{'target':>8}{'p95 s':>9}{'errors':>8}{'missed':>8}"
           f"{'flight':>8}")
RATE_WINDOW = 10.0  # seconds the live rates are over
_UP_AND_CLEAR = "\x1b[{n}F\x1b[J"  # cursor to the start of n lines up, clear to the end


def _clock_text(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


class LiveDisplay:
    """``await run()`` in a task; ``stop()`` ends it after one last refresh."""

    def __init__(
        self,
        aggregate: RunAggregate,
        stream: TextIO,
        *,
        interval: float | None = None,
        duration: float = 0.0,
        tty: bool | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.aggregate = aggregate
        self.stream = stream
        self.tty = stream.isatty() if tty is None else tty
        self.interval = interval if interval is not None else (2.0 if self.tty else 10.0)
        self.duration = duration
        self._clock = clock
        self._stopped = asyncio.Event()
        self._drawn_lines = 0
        #: (time, successes per workload) of the refreshes of the last RATE_WINDOW seconds
        self._history: list[tuple[float, dict[str, int]]] = []
        self._rpc_last: tuple[int, float] = (0, 0.0)  # throttled, held s at the last refresh
        #: an extra last line (the capacity search's current step and its verdict)
        self.status_line: Callable[[], str] | None = None
        self.where: list[str] = []  # lines under the first: the console's URL, the run folder
        #: each workload's current target (its profile's rate now), when the load is steered
        self.targets: Callable[[], dict[str, float]] | None = None
        self.heads: HeadWatch | None = None
        self.notice: str | None = None  # the last line (a stop asked for: draining ...)

    def _recent_rates(self, now: float) -> dict[str, float]:
        """Successful tx/s per workload over the last RATE_WINDOW seconds (or the refresh
        interval, if longer; the whole run at first): a 2 s refresh of a 0.2/s workload read
        0.00 or 0.50. The last refresh, after stop(), shows the final table's figure:
        successes over the load window."""
        if self._stopped.is_set():
            load = self.aggregate.load_elapsed(now)
            return {n: wl.achieved_rate(load) for n, wl in self.aggregate.workloads.items()}
        counts = {name: wl.successes for name, wl in self.aggregate.workloads.items()}
        history = self._history or [(self.aggregate.started_at, {})]
        history.append((now, counts))
        window = max(RATE_WINDOW, self.interval)
        while len(history) > 2 and history[1][0] <= now - window:
            history.pop(0)
        self._history = history
        since, before = history[0]
        span = now - since
        return {n: (c - before.get(n, 0)) / span if span > 0 else 0.0 for n, c in counts.items()}

    def _progress(self, now: float) -> str:
        elapsed = _clock_text(self.aggregate.elapsed(now))
        total = _clock_text(self.duration) if self.duration else "until stopped"
        head = self.aggregate.head_block
        text = f"elapsed {elapsed} / {total}" + (f"  head #{head}" if head is not None else "")
        if self.heads is not None:
            waiting = any(wl.in_flight for wl in list(self.aggregate.workloads.values()))
            stalled = self.heads.stalled_for(now, waiting)
            if stalled is not None:
                text += f"  no new block for {stalled:.0f} s"
        return text

    def _iot(self) -> str:
        agg = self.aggregate
        ops, ok = agg.iot_count(), agg.iot_count(success=True)
        records = agg.commits.counts
        return (
            f"IoT ops {ops} ok {ok}  records pending {records['pending']}"
            f" submitted {records['submitted']} committed {records['committed']}"
            f" failed {records['failed']}"
        )

    def _throttled(self) -> str | None:
        """``provider-throttled (N throttled, H s held)`` for the interval since the previous
        refresh, or None when the provider held nothing back in it."""
        rpc = self.aggregate.rpc
        throttled, held = rpc.errors.get("throttled", 0), rpc.held_seconds
        before_n, before_held = self._rpc_last
        self._rpc_last = (throttled, held)
        count, seconds = throttled - before_n, held - before_held
        if count <= 0 and seconds <= 0:
            return None
        return f"provider-throttled ({count} throttled, {seconds:.1f} s held)"

    def _tail(self) -> list[str]:
        """The last parts: the provider's throttling, the capacity search's step."""
        parts = [self._iot()]
        if (throttled := self._throttled()) is not None:
            parts.append(throttled)
        if self.status_line is not None:
            parts.append(self.status_line())
        if self.notice is not None:
            parts.append(self.notice)
        return parts

    def _targets(self) -> dict[str, float]:
        """Each workload's target now: its profile's current rate, else its nominal one."""
        nominal = {n: wl.target_rate for n, wl in list(self.aggregate.workloads.items())}
        return nominal | (self.targets() if self.targets is not None else {})

    def _shown(self) -> list[tuple[str, WorkloadStats]]:
        """Workloads with a target or with something counted (rate 0 and idle: left out)."""
        return [(n, wl) for n, wl in list(self.aggregate.workloads.items())
                if wl.target_rate or wl.fired or wl.finished]

    def block(self, now: float) -> list[str]:
        """The status block: progress, one line per workload, IoT, then the provider's
        throttling and the search's step when there are any."""
        rates, targets = self._recent_rates(now), self._targets()
        lines = [f"kcstress  {self._progress(now)}", *self.where]
        lines.append(_HEADER)
        for name, wl in self._shown():
            lines.append(
                f"{name:<18}{rates.get(name, 0.0):>8.2f}{targets.get(name, 0.0):>8.2f}"
                f"{wl.latency.percentile(0.95):>9.3f}{wl.failures:>8d}{wl.missed:>8d}"
                f"{wl.in_flight:>8d}"
            )
        return lines + self._tail()

    def line(self, now: float) -> str:
        """The plain one-line form, for logs."""
        rates, targets = self._recent_rates(now), self._targets()
        parts = [self._progress(now)]
        for name, wl in self._shown():
            parts.append(
                f"{name} {rates.get(name, 0.0):.2f}/{targets.get(name, 0.0):.2f} tx/s"
                f" p95 {wl.latency.percentile(0.95):.3f}s err {wl.failures}"
                + (f" missed {wl.missed}" if wl.missed else "")
            )
        return " | ".join(parts + self._tail())

    def draw(self) -> None:
        now = self._clock()
        if not self.tty:
            self.stream.write(self.line(now) + "\n")
        else:
            lines = self.block(now)
            if self._drawn_lines:
                self.stream.write(_UP_AND_CLEAR.format(n=self._drawn_lines))
            self.stream.write("\n".join(lines) + "\n")
            self._drawn_lines = len(lines)
        self.stream.flush()

    async def run(self) -> None:
        while not self._stopped.is_set():
            await wait_event(self._stopped, self.interval)
            self.draw()

    def stop(self) -> None:
        self._stopped.set()
