"""The stats hub: one place events are emitted to, many sinks subscribed."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from utils.observe.events import Event

log = logging.getLogger(__name__)

Listener = Callable[[Event], None]


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
        self._sinks: list[Sink] = []

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def add_sink(self, sink: Sink) -> None:
        self._sinks.append(sink)
        self._listeners.append(sink.on_event)

    def emit(self, event: Event) -> None:
        for listener in self._listeners:
            try:
                listener(event)
            except Exception:
                log.exception("stats listener %r failed on %s", listener, type(event).__name__)

    def flush(self) -> None:
        for sink in self._sinks:
            sink.flush()

    def close(self) -> None:
        for sink in self._sinks:
            try:
                sink.close()
            except Exception:
                log.exception("closing sink %r failed", sink)
