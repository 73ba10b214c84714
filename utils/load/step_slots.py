"""A workload's step slots: the bound on steps whose load has not reached the node yet
(``max_in_flight``) and on running steps (``max_steps``), and each running step's hold on them.

A step holds a send slot until the engine has its send answered (:mod:`utils.chain.send_slot`,
or the ``on_sent`` of :meth:`Workload.fire <utils.load.workload.Workload.fire>`) and a step
slot until it ends: a task running ``step()``, or the future ``fire()`` returned.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

log = logging.getLogger(__name__)


class Slots:
    """One workload's running steps: those not sent yet (``max_in_flight``) and all of them
    (``max_steps``), and an event for a firing loop that waits for a free slot."""

    __slots__ = ("_freed", "_max_in_flight", "_max_steps", "running", "unsent")

    def __init__(self, max_in_flight: int, max_steps: int) -> None:
        self._max_in_flight = max_in_flight
        self._max_steps = max_steps
        self.unsent = 0
        self.running: set[asyncio.Future[Any]] = set()
        self._freed = asyncio.Event()

    @property
    def full(self) -> bool:
        return self.unsent >= self._max_in_flight or len(self.running) >= self._max_steps

    def sent(self) -> None:
        self.unsent -= 1
        self._freed.set()

    def ended(self, step: asyncio.Future[Any]) -> None:
        self.running.discard(step)
        self._freed.set()

    async def wake_on(self, stop: asyncio.Event) -> None:
        """Wake a waiting firing loop when ``stop`` is set (run as a task)."""
        await stop.wait()
        self._freed.set()

    async def wait_free(self, stop: asyncio.Event) -> bool:
        """Until a slot is free; True when ``stop`` is set first (``wake_on`` runs)."""
        while self.full and not stop.is_set():
            self._freed.clear()
            await self._freed.wait()
        return stop.is_set()


class StepHold:
    """One running step's hold on its workload's slots: its send slot until ``sent()``, its
    step slot until ``ended()`` (a task running ``step()``, or a future from ``fire()``)."""

    __slots__ = ("_held", "_name", "_slots", "_steps")

    def __init__(self, name: str, slots: Slots, steps: set[asyncio.Future[Any]]) -> None:
        self._name = name
        self._slots = slots
        self._steps = steps
        self._held = True

    def sent(self) -> None:
        if self._held:
            self._held = False
            self._slots.sent()

    def ended(self, future: asyncio.Future[Any]) -> None:
        self.sent()
        self._slots.ended(future)
        self._steps.discard(future)
        if not future.cancelled() and future.exception() is not None:
            log.error("%s: step failed", self._name, exc_info=future.exception())
