"""The stats hub: one place events are emitted to, many sinks subscribed.

Two ways in: :meth:`StatsHub.emit` (one event) and :meth:`StatsHub.emit_tally` (a
:class:`~utils.observe.tally.Tally`: the frequent events of a stretch, pre-aggregated, as
a worker process sends them). A listener subscribes with a tally handler beside its event
handler (by default its object's ``on_tally`` method); one without a tally handler sees only single
events, and the hub warns when a tally passes it by. With :meth:`StatsHub.batch_events`
the hub tallies its own frequent events too, so a run of one process feeds its sinks the
same way a parent of workers does, at a fraction of the cost per event.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Protocol

from utils.observe.events import Event
from utils.observe.tally import TALLIED, Tally

log = logging.getLogger(__name__)

Listener = Callable[[Event], None]
TallyListener = Callable[[Tally], None]
#: a batching hub hands its tally on at this many events, and at least this often (s)
BATCH_EVENTS = 2048
BATCH_SECONDS = 0.1


class Sink(Protocol):
    """A subscriber with a lifecycle (CSV writers, Prometheus, the report)."""

    def on_event(self, event: Event) -> None: ...

    def flush(self) -> None: ...

    def close(self) -> None: ...


class StatsHub:
    """Fan-out of measured events to subscribed listeners.

    Emission is synchronous and cheap; a listener that raises is logged and
    kept, so one broken sink cannot silence the others.
    """

    def __init__(self) -> None:
        self._listeners: list[Listener] = []
        self._tally_listeners: list[TallyListener] = []
        self._blind: list[Listener] = []  # listeners without a tally handler
        self._sinks: list[Sink] = []
        self._tally: Tally | None = None  # batching: the open tally
        self._timer: asyncio.TimerHandle | None = None
        self._warned_blind = False

    def subscribe(self, listener: Listener, on_tally: TallyListener | None = None) -> None:
        """``on_tally`` defaults to the ``on_tally`` of the object whose bound method
        ``listener`` is (``hub.subscribe(aggregate.on_event)`` takes its tallies too)."""
        if on_tally is None:
            on_tally = getattr(getattr(listener, "__self__", None), "on_tally", None)
        self._listeners.append(listener)
        if on_tally is not None:
            self._tally_listeners.append(on_tally)
        else:
            self._blind.append(listener)

    def add_sink(self, sink: Sink) -> None:
        self._sinks.append(sink)
        self.subscribe(sink.on_event)

    def batch_events(self) -> None:
        """From now on tally the frequent events (:data:`~utils.observe.tally.TALLIED`) and
        hand them on every :data:`BATCH_SECONDS` (call in the event loop), at
        :data:`BATCH_EVENTS`, and at :meth:`flush` and :meth:`close`. Listeners without a
        tally handler still see each event at once."""
        if self._tally is None:
            self._tally = Tally()
            self._timer = asyncio.get_running_loop().call_later(BATCH_SECONDS, self._tick)

    def _tick(self) -> None:
        self.flush_tally()
        if self._tally is not None:
            self._timer = asyncio.get_running_loop().call_later(BATCH_SECONDS, self._tick)

    def emit(self, event: Event) -> None:
        tally = self._tally
        if tally is not None and type(event) in TALLIED:
            tally.add(event)
            listeners = self._blind
            if tally.events >= BATCH_EVENTS:
                self.flush_tally()
        else:
            listeners = self._listeners
        for listener in listeners:
            try:
                listener(event)
            except Exception:
                log.exception("stats listener %r failed on %s", listener, type(event).__name__)

    def emit_tally(self, tally: Tally) -> None:
        """A tally made elsewhere (a worker's): listeners without a tally handler miss it."""
        if self._blind and not self._warned_blind:
            self._warned_blind = True
            log.warning("stats listeners without a tally handler miss pre-aggregated events: "
                        "%s", self._blind)
        self._hand_on(tally)

    def _hand_on(self, tally: Tally) -> None:
        for listener in self._tally_listeners:
            try:
                listener(tally)
            except Exception:
                log.exception("stats listener %r failed on a tally", listener)

    def flush_tally(self) -> None:
        """Hand the open tally (if any events) to the listeners; start a new one."""
        if self._tally:
            tally, self._tally = self._tally, Tally()
            self._hand_on(tally)

    def flush(self) -> None:
        self.flush_tally()
        for sink in self._sinks:
            sink.flush()

    def close(self) -> None:
        self.flush_tally()
        self._tally = None  # events after close go straight to the listeners
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for sink in self._sinks:
            try:
                sink.close()
            except Exception:
                log.exception("closing sink %r failed", sink)
