"""Open-loop scheduling of workload steps.

Each workload fires its step at intended times (constant spacing or Poisson
arrivals at the target rate). A firing never waits for an earlier step: a
slow chain does not lower the offered load. A firing that starts late is
counted as late (its lag is measured); when the workload falls more than
``max_lag`` behind, or has ``max_in_flight`` steps running, firings are
skipped and counted as missed — never hidden.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random

from utils.aio import wait_event
from utils.clock import Clock
from utils.load.workload import Workload
from utils.observe.events import FiringEvent
from utils.observe.stats import StatsHub

log = logging.getLogger(__name__)


class Scheduler:
    """Runs workloads open-loop until ``stop`` is set, then waits for their steps."""

    def __init__(
        self,
        hub: StatsHub,
        clock: Clock,
        *,
        arrival: str = "constant",
        seed: int = 0,
        max_lag: float = 2.0,
        max_in_flight: int = 5_000,
    ) -> None:
        self._hub = hub
        self._clock = clock
        self._poisson = arrival == "poisson"
        self._rng = random.Random(seed)
        self._max_lag = max_lag
        self._max_in_flight = max_in_flight
        self._steps: set[asyncio.Task[None]] = set()

    @property
    def running_steps(self) -> int:
        return len(self._steps)

    def _gap(self, rate: float) -> float:
        return self._rng.expovariate(rate) if self._poisson else 1.0 / rate

    async def run(self, workload: Workload, rate: float, stop: asyncio.Event) -> None:
        """Fire ``workload`` at ``rate`` steps/s until ``stop`` is set or it is exhausted."""
        if rate <= 0:
            return
        running: set[asyncio.Task[None]] = set()
        intended = self._clock.now()
        missed = 0
        while not stop.is_set() and not workload.exhausted():
            delay = intended - self._clock.now()
            if delay > 0:
                await wait_event(stop, delay)
                if stop.is_set():
                    break
            now = self._clock.now()
            behind = now - intended
            if behind > self._max_lag:  # give up the firings we cannot catch up with
                skipped = math.floor(behind * rate)
                missed += skipped
                intended += skipped / rate
            if len(running) >= self._max_in_flight:
                missed += 1
            else:
                self._hub.emit(FiringEvent(workload.name, intended, now, missed))
                missed = 0
                task = asyncio.create_task(self._step(workload, intended))
                running.add(task)
                self._steps.add(task)
                task.add_done_callback(running.discard)
                task.add_done_callback(self._steps.discard)
            intended += self._gap(rate)
        if missed:
            now = self._clock.now()
            self._hub.emit(FiringEvent(workload.name, intended, now, missed, fired=False))

    async def _step(self, workload: Workload, intended: float) -> None:
        try:
            await workload.step(intended)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s: step failed", workload.name)

    async def wait_steps(self, timeout: float, grace: float = 2.0) -> int:
        """Wait for running steps; cancel those still running after ``timeout`` and give
        them ``grace`` seconds to unwind (never wait unbounded). Returns how many were
        cancelled."""
        if not self._steps:
            return 0
        _, left = await asyncio.wait(set(self._steps), timeout=timeout)
        for task in left:
            task.cancel()
        if left:
            _, stuck = await asyncio.wait(left, timeout=grace)
            if stuck:
                log.warning("%d cancelled steps still unwinding after %g s", len(stuck), grace)
        return len(left)
