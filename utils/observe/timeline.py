"""A run's timeline: every change made to it while it ran (a rate set, a workload paused or
resumed, a stop asked for, a phase reached), in order, with when and who.

Each entry (a *marker*) is logged once, kept for ``summary.json`` (``timeline``) and handed at
once to the listeners (the live console's stream draws it on its charts). Entries are added
from the event loop's thread or the HTTP server's; a lock keeps their order.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

#: markers kept at most (a steered run of days would otherwise grow without bound)
MAX_MARKERS = 1000

Marker = dict[str, Any]


class Timeline:
    """``add(who, what, detail)``; ``markers()`` a copy; ``listeners`` take each new one."""

    def __init__(self, clock: Callable[[], float],
                 started: Callable[[], float | None]) -> None:
        """``started()``: the load's start (a marker's ``elapsed`` counts from it; None
        before the load: ``elapsed`` 0)."""
        self._clock = clock
        self._started = started
        self._markers: list[Marker] = []
        self._lock = threading.Lock()
        self.dropped = 0
        self.listeners: list[Callable[[Marker], None]] = []

    def add(self, who: str, what: str, detail: str = "", workload: str | None = None) -> Marker:
        now, started = self._clock(), self._started()
        elapsed = max(0.0, now - started) if started is not None else 0.0
        marker = {"t": round(now, 3), "elapsed": round(elapsed, 3),
                  "who": who, "what": what, "workload": workload, "detail": detail}
        with self._lock:
            if len(self._markers) >= MAX_MARKERS:
                self._markers.pop(0)
                self.dropped += 1
            self._markers.append(marker)
        log.info("timeline: %s by %s%s%s", what, who,
                 f" {workload}" if workload else "", f": {detail}" if detail else "")
        for listener in list(self.listeners):
            try:
                listener(marker)
            except Exception:
                log.exception("timeline listener failed")
        return marker

    def markers(self) -> list[Marker]:
        with self._lock:
            return list(self._markers)
