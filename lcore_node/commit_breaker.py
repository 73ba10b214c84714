"""The outbox's circuit breaker while the chain refuses commits (every commit mode).

A retryable failure opens it. While it is open the outbox sends one probe commit at a time
(its oldest pending unit, record or batch, backed off or not) every ``probe_interval`` seconds,
instead of every record retrying on its own exponential backoff: a refusing chain is not
hammered, and the first probe that commits closes the breaker and releases the whole
backlog at once, so a chain that accepts again gets it within about one probe interval
(issue 9: a 30 s refusal outage cleared in 3.3 s instead of 28.6 s).
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


class CommitBreaker:
    def __init__(self, probe_interval: float) -> None:
        self.probe_interval = probe_interval
        self.open = False
        self._next_probe = 0.0

    def trip(self, reason: str | None) -> None:
        """A retryable failure: probe before sending more."""
        if not self.open:
            log.info("commits fail (%s): probing the chain before sending more", reason)
        self.open = True

    def probe_wait(self, now: float, inflight: int) -> float | None:
        """None when a probe should go out now (and books the next), else how long to wait
        before looking again (a probe still in flight holds the next one back)."""
        if inflight:
            return self.probe_interval
        if now < self._next_probe:
            return self._next_probe - now
        self._next_probe = now + self.probe_interval
        return None

    def reset(self) -> bool:
        """A commit succeeded; True when that closed an open breaker (release the backlog)."""
        was_open, self.open = self.open, False
        return was_open
