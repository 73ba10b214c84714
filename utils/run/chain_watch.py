"""A lost chain ends the run: when the chain stays silent longer than the grace, stop firing.

The block follower records its last successful poll; this watch compares it with the run
clock. A run whose chain is lost stops its load, drains briefly (what is in flight counts as
timeout, IoT records stay pending in the database for a later run or ``serve``), writes its
outputs with the reason "chain unavailable" and exits 1.
"""

from __future__ import annotations

import asyncio
import logging

from utils.aio import wait_event
from utils.clock import Clock
from utils.observe.health import ChainWatch

log = logging.getLogger(__name__)

REASON = "chain unavailable"


class ChainLossWatch:
    """``run()`` until ``stop`` is set; sets ``lost`` and ``stop`` when the grace runs out."""

    def __init__(self, follower: ChainWatch, clock: Clock, grace: float) -> None:
        self._follower = follower
        self._clock = clock
        self.grace = grace
        self.lost = False
        self.detail = ""

    def silent_for(self, since: float) -> float:
        return self._clock.now() - (self._follower.last_ok_at or since)

    async def run(self, stop: asyncio.Event) -> None:
        since = self._clock.now()
        tick = min(1.0, self.grace / 4)
        while not stop.is_set():
            await wait_event(stop, tick)
            silent = self.silent_for(since)
            if silent > self.grace and not stop.is_set():
                self.lost = True
                last = self._follower.last_error
                self.detail = f"no answer for {silent:.0f} s" + (f" ({last})" if last else "")
                log.error("%s: %s, over the %g s grace; stopping the load", REASON,
                          self.detail, self.grace)
                stop.set()
