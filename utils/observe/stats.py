"""The stats hub: one place events are emitted to, one way for them to reach every sink.

:meth:`StatsHub.emit` adds each event to the hub's open :class:`~utils.observe.tally.Tally`
(the frequent events counted, every other event kept as itself, in order), and the hub
hands that tally to every listener's ``on_tally``: every :data:`BATCH_SECONDS` while an
event loop runs (the timer starts with the first event emitted inside one), whenever
:data:`BATCH_EVENTS` events are open, and at :meth:`StatsHub.flush` and
:meth:`StatsHub.close`. A worker process's tallies come in through
:meth:`StatsHub.emit_tally` and take the same road. ``on_tally`` is the sinks' only way in:
each figure is computed once, from a tally, whether one process made it or many.

A *tap* (:meth:`StatsHub.tap`) sees each event as it is emitted. It exists for the few
listeners that judge events one by one by their own timestamps and are no output (the
capacity search's step probe counts a transaction by its intended time inside a window)
and for tests that capture events. A tap sees the events of this process only: a worker's
tally reaches the listeners, not the taps.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from types import ModuleType
from typing import Protocol

from utils.observe.events import Event
from utils.observe.tally import Tally

log = logging.getLogger(__name__)

Tap = Callable[[Event], None]
#: the hub hands its tally on at this many events, and at least this often (s)
BATCH_EVENTS = 2048
BATCH_SECONDS = 0.1


class Listener(Protocol):
    """Takes the run's events, a tally at a time (the run aggregate, health, gas per op)."""

    def on_tally(self, tally: Tally) -> None: ...


class Sink(Listener, Protocol):
    """A listener with a lifecycle (CSV writers, Prometheus, KPI intervals)."""

    def flush(self) -> None: ...

    def close(self) -> None: ...


class StatsHub:
    """Fan-out of measured events to listeners, a tally at a time.

    Emission is synchronous and cheap (an event is added to the open tally); a listener
    that raises is logged by its class name and kept, so one broken sink cannot silence
    the others."""

    def __init__(self, batch: int = BATCH_EVENTS) -> None:
        self._listeners: list[Listener] = []
        self._sinks: list[Sink] = []
        self._taps: list[Tap] = []
        self._tally = Tally()
        self._batch = batch
        self._timer: asyncio.TimerHandle | None = None

    def listen(self, listener: Listener) -> None:
        """Hand ``listener`` every tally from now on."""
        self._listeners.append(listener)

    def add_sink(self, sink: Sink) -> None:
        """:meth:`listen`, and flush and close ``sink`` with the hub."""
        self._sinks.append(sink)
        self.listen(sink)

    def tap(self, tap: Tap) -> None:
        """Call ``tap`` with each event as it is emitted (see the module's docstring)."""
        self._taps.append(tap)

    def emit(self, event: Event) -> None:
        if self._listeners:  # a hub with taps only (a bench, a funding engine) tallies nothing
            tally = self._tally
            tally.add(event)
            if tally.events >= self._batch:
                self.flush_tally()
            elif self._timer is None:
                self._start_timer()
        for tap in self._taps:
            try:
                tap(event)
            except Exception:
                log.exception("stats tap %s failed on %s", _name(tap), type(event).__name__)

    def emit_tally(self, tally: Tally) -> None:
        """A tally made elsewhere (a worker's): handed on as it is."""
        self._hand_on(tally)

    def _start_timer(self) -> None:
        loop = asyncio._get_running_loop()  # None outside a loop: no timer, flush by hand
        if loop is not None:
            self._timer = loop.call_later(BATCH_SECONDS, self._tick)

    def _tick(self) -> None:
        self._timer = None  # the next event starts it again: an idle hub does not tick
        self.flush_tally()

    def _hand_on(self, tally: Tally) -> None:
        for listener in self._listeners:
            try:
                listener.on_tally(tally)
            except Exception:
                log.exception("stats listener %s failed on a tally", _name(listener))

    def flush_tally(self) -> None:
        """Hand the open tally (if any events) to the listeners; start a new one."""
        if self._tally:
            tally, self._tally = self._tally, Tally()
            self._hand_on(tally)

    def flush(self) -> None:
        self.flush_tally()
        for sink in self._sinks:
            try:
                sink.flush()
            except Exception:
                log.exception("flushing sink %s failed", _name(sink))

    def close(self) -> None:
        """Hand on the open tally and close the sinks; an event emitted later is handed on
        at once, alone."""
        self.flush_tally()
        self._batch = 1
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for sink in self._sinks:
            try:
                sink.close()
            except Exception:
                log.exception("closing sink %s failed", _name(sink))


def _name(listener: object) -> str:
    """A listener's class name (a bound method's owner's), for log lines: never its repr."""
    owner = getattr(listener, "__self__", None)
    if owner is not None and not isinstance(owner, ModuleType):
        return type(owner).__qualname__
    return str(getattr(listener, "__qualname__", type(listener).__qualname__))
