"""Steering a running load: a workload's rate profile switched from now, pause and resume.

A :class:`RateControl` is what the scheduler fires a workload by (:mod:`utils.load.scheduler`):
its profile, the clock time that profile's time 0 is (``start``), whether it is paused, and
a ``version`` that moves with every change. A change re-bases time: the new profile starts
at its own time 0 *now*, so firings follow it from this instant (open loop: nothing owed from
before, no burst to catch up). ``scale`` is the share of the rate this process fires (1, or
1/N of a shard's or worker's slice); the profile kept and shown is the whole one given.

:class:`LoadControl` holds the controls of a run by workload name, checks and applies changes
(in the event loop's thread), and tells its listeners (worker relays, the timeline's caller)
of each applied change.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from utils.errors import ConfigError
from utils.load.profiles import RateProfile, parse_profile
from utils.setting_sources import reason_of
from utils.settings import RATE_FIELDS, canonical_workload

log = logging.getLogger(__name__)

ZERO = RateProfile.constant(0.0)


@dataclass
class RateControl:
    """One workload's current profile; changed only through :class:`LoadControl` (or tests)."""

    name: str
    profile: RateProfile
    start: float | None = None  # clock time of the profile's time 0 (None: when firing starts)
    paused: bool = False
    scale: float = 1.0
    version: int = 0
    #: set (and replaced) at each change; the firing loop's one wake-up besides its timer
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    #: the whole profile's intended firings before the last change (paused spans: none)
    firings_before: float = 0.0

    @property
    def effective(self) -> RateProfile:
        """What this process fires: nothing while paused, else its share of the profile."""
        if self.paused:
            return ZERO
        return self.profile if self.scale == 1.0 else self.profile.scaled(self.scale)

    def target(self, now: float) -> float:
        """The rate the whole profile offers at ``now`` (0 while paused)."""
        if self.paused:
            return 0.0
        return self.profile.rate_at(now - (self.start if self.start is not None else now))

    def describe(self, now: float) -> dict[str, Any]:
        return {"target": round(self.target(now), 6), "profile": self.profile.describe(),
                "paused": self.paused}

    def firings_until(self, now: float) -> float:
        """The whole profile's intended firings from the first start to ``now``, across its
        changes: what the run's target rate is the mean of."""
        if self.start is None or self.paused:
            return self.firings_before
        return self.firings_before + self.profile.firings_until(max(0.0, now - self.start))

    def mean_target(self, t0: float, t1: float) -> float:
        """The mean target rate from ``t0`` (the load's start) to ``t1``."""
        return self.firings_until(t1) / (t1 - t0) if t1 > t0 else self.target(t1)

    def _close(self, now: float) -> None:
        self.firings_before = self.firings_until(now)

    def _changed(self, now: float) -> None:
        self.start = now
        self.version += 1
        woken, self.changed = self.changed, asyncio.Event()
        woken.set()

    def switch(self, profile: RateProfile, now: float) -> None:
        self._close(now)
        self.profile = profile
        self._changed(now)

    def set_paused(self, paused: bool, now: float) -> None:
        self._close(now)
        self.paused = paused
        self._changed(now)

    def wake(self) -> None:
        """Wake the firing loop without a change (the run stops)."""
        self.changed.set()


class SteeringError(ConfigError):
    """A change that cannot be made: names the field and why."""


class AlreadyInState(SteeringError):
    """A pause of a paused workload, a resume of a running one."""


Listener = Callable[[RateControl, str], None]


class LoadControl:
    """The run's controls, by workload name."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self.controls: dict[str, RateControl] = {}
        self.listeners: list[Listener] = []

    def add(self, name: str, profile: RateProfile, scale: float = 1.0) -> RateControl:
        control = self.controls[name] = RateControl(name, profile, scale=scale)
        return control

    def describe(self) -> dict[str, dict[str, Any]]:
        now = self._clock()
        return {name: c.describe(now) for name, c in list(self.controls.items())}

    def control(self, name: Any) -> RateControl:
        """The control of ``name`` (long or short workload name); SteeringError if none."""
        if not isinstance(name, str) or not name:
            raise SteeringError("workload", f"expected a workload name, got {name!r}")
        try:
            canonical = canonical_workload(name)
        except ConfigError:
            canonical = name
        control = self.controls.get(canonical)
        if control is None:
            known = ", ".join(self.controls) or "none"
            raise SteeringError("workload", f"unknown workload {name!r} (this run: {known}; "
                                f"workloads: {', '.join(RATE_FIELDS)})")
        return control

    @staticmethod
    def parse(name: str, value: Any) -> RateProfile:
        """A rate or profile string as given to ``--rate``; SteeringError naming ``name``."""
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise SteeringError(name, f"expected a rate (number) or a profile string, got "
                                f"{value!r}")
        try:
            return parse_profile(str(value))
        except ConfigError as exc:
            raise SteeringError(name, reason_of(exc, name)) from None

    def check_rates(self, body: dict[str, Any]) -> dict[str, RateProfile]:
        """Every (workload, profile) of ``body`` checked, nothing applied."""
        if not body:
            raise SteeringError("rates", "expected {\"WORKLOAD\": RATE_OR_PROFILE, ...}")
        return {self.control(name).name: self.parse(name, value) for name, value in body.items()}

    def set_rates(self, profiles: dict[str, RateProfile]) -> dict[str, str]:
        """Apply checked profiles now (event-loop thread); what each changed from -> to."""
        now, changes = self._clock(), {}
        for name, profile in profiles.items():
            control = self.controls[name]
            before = control.profile.describe()
            control.switch(profile, now)
            changes[name] = f"{before} -> {profile.describe()}"
            self._tell(control, "rate")
        return changes

    def set_paused(self, name: str, paused: bool) -> RateControl:
        control = self.control(name)
        if control.paused == paused:
            state = "paused" if paused else "not paused"
            raise AlreadyInState("workload", f"{control.name} is already {state}")
        control.set_paused(paused, self._clock())
        self._tell(control, "pause" if paused else "resume")
        return control

    def wake_all(self) -> None:
        for control in self.controls.values():
            control.wake()

    def _tell(self, control: RateControl, what: str) -> None:
        for listener in self.listeners:
            try:
                listener(control, what)
            except Exception:
                log.exception("load-control listener failed on %s %s", what, control.name)
