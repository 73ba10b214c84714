"""Open-loop scheduling of workload steps.

Each workload fires its step at intended times that follow its rate profile
(:mod:`utils.load.profiles`: constant, ramp or stages; even spacing or Poisson
arrivals). A firing never waits for an earlier step: a slow chain does not lower
the offered load. A firing that starts late is counted as late (its lag is
measured); when the workload falls more than ``max_lag`` behind, or has
``max_in_flight`` steps whose transaction is not sent yet (steps that send none count until
they end), or ``max_steps`` steps running at all, firings are skipped and counted as missed —
never hidden. A step stops counting against ``max_in_flight`` when the engine has its send
answered (:mod:`utils.chain.send_slot`): waiting for a receipt does not keep load out.
A workload at its bound waits for a slot to free (one wake-up, not one per firing: a saturated
scheduler used 9-16 % of a core at 9,000-50,000 firings/s offered, now none) and counts the
firings passed meanwhile as missed; when behind, it yields to the event loop every ``BURST``
firings so replies are read between them.
A step runs as a task of its own (``step()``), unless its workload can start it without one
(``fire()``: one transaction through the engine, whose future is the step): a task per step
and the engine waiting in a task per send cost the client on anvil 114-128 µs per
transaction against 95-100 without (bench/README.md, anvil_ratio.py).
The profile's current rate is emitted as a :class:`~utils.observe.events.TargetRateEvent`
when it changes (the offered-rate gauge, the target column of kpi_intervals.csv), and 0 when
firing stops.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
from typing import Any

from utils.aio import wait_event
from utils.chain.send_slot import hold_send_slot
from utils.clock import Clock
from utils.load.profiles import RateProfile
from utils.load.rate_control import RateControl
from utils.load.step_slots import Slots, StepHold
from utils.load.workload import Workload
from utils.observe.events import FiringEvent, TargetRateEvent
from utils.observe.stats import StatsHub

log = logging.getLogger(__name__)

#: how often a changing profile's rate is re-emitted, and the change that is worth it
TARGET_EVERY = 0.5
TARGET_CHANGE = 0.01
#: firings started in a row, when behind, before the loop lets I/O in
BURST = 64


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
        max_steps: int = 50_000,
        report_targets: bool = True,
    ) -> None:
        """``report_targets=False`` in a worker process: its rate is a slice of the whole,
        which the parent reports (TargetRateEvent is per workload, not per slice)."""
        self._hub = hub
        self._clock = clock
        self._poisson = arrival == "poisson"
        self._rng = random.Random(seed)
        self._max_lag = max_lag
        self._max_in_flight = max_in_flight
        self._max_steps = max(max_steps, max_in_flight)
        self._report_targets = report_targets
        self._steps: set[asyncio.Future[Any]] = set()
        self.missed_behind = 0  # firings given up because the generator fell behind
        self.missed_in_flight = 0  # ... because max_in_flight unsent (or max_steps) steps ran

    @property
    def running_steps(self) -> int:
        return len(self._steps)

    def _gap(self, poisson: bool) -> float:
        """The next firing's distance in expected firings (1, or an Exp(1) draw)."""
        return self._rng.expovariate(1.0) if poisson else 1.0

    async def run(self, workload: Workload, rate: float | RateProfile | RateControl,
                  stop: asyncio.Event) -> None:
        """Fire ``workload`` at ``rate`` (steps/s, a profile from now, or a control whose profile
        can change while it runs) until ``stop`` is set or the workload is exhausted."""
        if isinstance(rate, RateControl):
            control = rate
        else:
            profile = rate if isinstance(rate, RateProfile) else RateProfile.constant(rate)
            if profile.is_zero:
                return
            control = RateControl(workload.name, profile)
        if control.start is None:
            control.start = self._clock.now()
        reporter, reported = None, [False]  # a workload never offered any rate reports none
        if self._report_targets:
            reporter = asyncio.create_task(self._report_target(control, stop, reported))
        slots = Slots(self._max_in_flight, self._max_steps)
        wakers = [asyncio.create_task(slots.wake_on(stop)),
                  asyncio.create_task(_wake_on(control, stop))]
        try:
            await self._fire_until_stop(workload, control, stop, slots)
        finally:
            for task in wakers:
                task.cancel()
            if reporter is not None:
                reporter.cancel()
                if reported[0]:
                    self._hub.emit(TargetRateEvent(workload.name, self._clock.now(), 0.0))

    async def _fire_until_stop(self, workload: Workload, control: RateControl,
                               stop: asyncio.Event, slots: Slots) -> None:
        missed = 0
        version = -1
        burst = 0  # firings in a row without yielding to the event loop
        intended = start = self._clock.now()
        profile, poisson, count = control.effective, self._poisson, 0.0
        while not stop.is_set() and not workload.exhausted():
            if control.version != version:  # (re)start on the control's profile from its time 0
                version, profile, start = control.version, control.effective, control.start or 0.0
                poisson, count = self._first(profile)
            offset = profile.time_at(count)
            if math.isinf(offset):  # the profile offers nothing more (or paused): until a change
                await control.changed.wait()
                continue
            intended = start + offset
            delay = intended - self._clock.now()
            if delay > 0:
                burst = 0
                if await wait_event(control.changed, delay):  # stopped, or a change
                    continue
            elif burst >= BURST:  # behind: let replies in between runs of firings
                burst = 0
                await asyncio.sleep(0)
            now = self._clock.now()
            if now - intended > self._max_lag:  # give up the firings we cannot catch up with
                skipped = self._skip(profile, start, now, count)
                missed += skipped
                self.missed_behind += skipped
                count += skipped
                intended = start + profile.time_at(count)
            if slots.full:  # this firing cannot start, nor any until a slot frees
                count += self._gap(poisson)
                skipped, stopped = await self._wait_for_slot(slots, stop, profile, start, count)
                missed += 1 + skipped
                count += skipped
                if stopped:
                    break
                continue
            self._hub.emit(FiringEvent(workload.name, intended, now, missed))
            missed = 0
            burst += 1
            self._start_step(workload, intended, slots)
            count += self._gap(poisson)
        if missed:
            now = self._clock.now()
            self._hub.emit(FiringEvent(workload.name, intended, now, missed, fired=False))

    def _first(self, profile: RateProfile) -> tuple[bool, float]:
        """Poisson arrivals or not, and the expected-firing count of the first firing (at
        time 0 unless the profile starts at rate 0)."""
        poisson = self._poisson if profile.arrival is None else profile.arrival == "poisson"
        return poisson, 0.0 if profile.rate_at(0.0) > 0 else self._gap(poisson)

    async def _wait_for_slot(self, slots: Slots, stop: asyncio.Event, profile: RateProfile,
                             start: float, count: float) -> tuple[int, bool]:
        """Wait for a free slot (one wake-up, not one per firing); the firings from ``count`` on
        that passed meanwhile are missed. Returns (those firings, stopped)."""
        stopped = await slots.wait_free(stop)
        skipped = self._skip(profile, start, self._clock.now(), count)
        self.missed_in_flight += 1 + skipped
        return skipped, stopped

    @staticmethod
    def _skip(profile: RateProfile, start: float, now: float, count: float) -> int:
        """Firings from ``count`` on whose time has passed by ``now``."""
        return max(0, math.floor(profile.firings_until(now - start) - count))

    def _start_step(self, workload: Workload, intended: float, slots: Slots) -> None:
        step = StepHold(workload.name, slots, self._steps)
        slots.unsent += 1
        try:
            future = workload.fire(intended, step.sent)
        except Exception:
            log.exception("%s: step failed", workload.name)
            step.sent()
            return
        if future is None:
            future = asyncio.create_task(self._step(workload, intended, step))
        slots.running.add(future)
        self._steps.add(future)
        future.add_done_callback(step.ended)

    async def _report_target(self, control: RateControl, stop: asyncio.Event,
                             reported: list[bool]) -> None:
        """Emit the control's target now, at each change, and whenever a changing profile's
        rate has moved (checked every :data:`TARGET_EVERY` s; a constant one: only at changes)."""
        start = control.start if control.start is not None else self._clock.now()
        last = control.target(start)
        version = control.version
        if not control.effective.is_zero:  # a workload that offers nothing reports nothing
            self._hub.emit(TargetRateEvent(control.name, start, last))
            reported[0] = True
        while not stop.is_set():
            steady = control.paused or control.profile.kind == "constant"
            changed = control.changed
            if steady:
                await changed.wait()
            else:
                await wait_event(changed, TARGET_EVERY)
            if stop.is_set():
                return
            now = self._clock.now()
            rate = control.target(now)
            if control.version != version or \
                    abs(rate - last) > TARGET_CHANGE * max(last, rate, 1e-9):
                self._hub.emit(TargetRateEvent(control.name, now, rate))
                last, version, reported[0] = rate, control.version, True

    @staticmethod
    async def _step(workload: Workload, intended: float, step: StepHold) -> None:
        hold_send_slot(step.sent)
        await workload.step(intended)

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


async def _wake_on(control: RateControl, stop: asyncio.Event) -> None:
    """Wake the firing loop (it waits on the control's change event) when the run stops."""
    await stop.wait()
    control.wake()
