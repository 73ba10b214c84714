"""Rate profiles: the offered rate of a workload as a function of time.

A profile is piecewise linear (constant, ramp, or k6-style stages) and holds its last
rate after its last segment (``--duration`` ends the run). The scheduler places the n-th
firing at the time the profile's expected firing count reaches n (``time_at``), or, for
Poisson arrivals, at the time it reaches a sum of unit exponential draws (time rescaling
of a non-homogeneous Poisson process): open-loop intended times that follow the profile.

Command-line / TOML string forms (``NAME=SPEC`` in ``--rate``)::

    50                          constant 50/s
    ramp:10-200:60              10/s rising linearly to 200/s over 60 s, then 200/s
    stages:30@100,60@100,30@0   k6 stages: from 0 ramp to 100 in 30 s, hold 60 s, down to 0
    ...:poisson                 any of them with Poisson arrivals (``:constant`` forces even)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from utils.errors import ConfigError
from utils.setting_sources import reason_of
from utils.settings import RATE_FIELDS, Settings, canonical_workload

ARRIVALS = ("constant", "poisson")


@dataclass(frozen=True, slots=True)
class Segment:
    """``duration`` seconds going linearly from ``start`` to ``end`` (steps/s)."""

    duration: float
    start: float
    end: float

    @property
    def firings(self) -> float:
        return (self.start + self.end) * self.duration / 2

    def firings_until(self, t: float) -> float:
        slope = (self.end - self.start) / self.duration
        return self.start * t + slope * t * t / 2

    def time_of(self, count: float) -> float:
        """Seconds into the segment where ``count`` expected firings are reached."""
        if count <= 0:
            return 0.0
        half_slope = (self.end - self.start) / (2 * self.duration)
        root = math.sqrt(max(0.0, self.start * self.start + 4 * half_slope * count))
        denominator = self.start + root
        return self.duration if denominator <= 0 else min(self.duration, 2 * count / denominator)


@dataclass(frozen=True, slots=True)
class RateProfile:
    """Segments from t=0, then ``hold`` steps/s for ever. ``arrival`` None = the run default."""

    segments: tuple[Segment, ...] = ()
    hold: float = 0.0
    arrival: str | None = None
    kind: str = "constant"

    @classmethod
    def constant(cls, rate: float, arrival: str | None = None) -> RateProfile:
        return cls((), float(rate), arrival, "constant")

    @classmethod
    def ramp(cls, start: float, end: float, over: float,
             arrival: str | None = None) -> RateProfile:
        if over <= 0:
            return cls.constant(end, arrival)
        return cls((Segment(over, start, end),), end, arrival, "ramp")

    @classmethod
    def stages(cls, stages: list[tuple[float, float]],
               arrival: str | None = None) -> RateProfile:
        """k6 stages: each (duration, target) ramps linearly from the previous target
        (0 at first); a 0 s stage jumps."""
        segments, previous = [], 0.0
        for duration, target in stages:
            if duration > 0:
                segments.append(Segment(duration, previous, target))
            previous = target
        return cls(tuple(segments), previous, arrival, "stages")

    @property
    def length(self) -> float:
        return sum(s.duration for s in self.segments)

    @property
    def peak(self) -> float:
        return max([self.hold, *(max(s.start, s.end) for s in self.segments)])

    @property
    def is_zero(self) -> bool:
        return self.peak <= 0

    def rate_at(self, t: float) -> float:
        for seg in self.segments:
            if t < seg.duration:
                return seg.start + (seg.end - seg.start) * max(0.0, t) / seg.duration
            t -= seg.duration
        return self.hold

    def firings_until(self, t: float) -> float:
        """Expected firings in [0, t] (the integral of the rate)."""
        total = 0.0
        for seg in self.segments:
            if t < seg.duration:
                return total + seg.firings_until(max(0.0, t))
            total += seg.firings
            t -= seg.duration
        return total + self.hold * t

    def time_at(self, count: float) -> float:
        """The earliest t with ``firings_until(t) >= count``; ``inf`` if never reached."""
        elapsed = 0.0
        for seg in self.segments:
            if count <= seg.firings and seg.firings > 0:
                return elapsed + seg.time_of(count)
            count -= seg.firings
            elapsed += seg.duration
        if count <= 1e-12:
            return elapsed
        return elapsed + count / self.hold if self.hold > 0 else math.inf

    def mean_rate(self, t0: float, t1: float) -> float:
        if t1 <= t0:
            return self.rate_at(t0)
        return (self.firings_until(t1) - self.firings_until(t0)) / (t1 - t0)

    def scaled(self, factor: float) -> RateProfile:
        segs = tuple(Segment(s.duration, s.start * factor, s.end * factor) for s in self.segments)
        return RateProfile(segs, self.hold * factor, self.arrival, self.kind)

    def describe(self) -> str:
        suffix = f":{self.arrival}" if self.arrival else ""
        if self.kind == "constant":
            return f"{self.hold:g}{suffix}"
        if self.kind == "ramp":
            seg = self.segments[0]
            return f"ramp:{seg.start:g}-{seg.end:g}:{seg.duration:g}{suffix}"
        parts = [f"{s.duration:g}@{s.end:g}" for s in self.segments]
        if not self.segments or self.segments[-1].end != self.hold:
            parts.append(f"0@{self.hold:g}")
        return "stages:" + ",".join(parts) + suffix


def _number(text: str, what: str, spec: str) -> float:
    try:
        value = float(text.strip().removesuffix("s"))
    except ValueError:
        raise ConfigError("--rate", f"{spec!r}: {what} {text!r} is not a number") from None
    if not value >= 0 or math.isinf(value):
        raise ConfigError("--rate", f"{spec!r}: {what} must be a finite number >= 0")
    return value


def parse_profile(spec: str) -> RateProfile:
    """A profile from its string form (see the module docstring); ConfigError if malformed."""
    text, arrival = spec.strip(), None
    head, sep, tail = text.rpartition(":")
    if sep and tail.strip().lower() in ARRIVALS:
        text, arrival = head, tail.strip().lower()
    kind, sep, body = text.partition(":")
    kind = kind.strip().lower()
    if not sep:
        return RateProfile.constant(_number(text, "rate", spec), arrival)
    if kind == "ramp":
        parts = body.split(":")
        bounds = parts[0].split("-")
        if len(parts) != 2 or len(bounds) != 2:
            raise ConfigError("--rate", f"{spec!r}: expected ramp:FROM-TO:SECONDS")
        return RateProfile.ramp(_number(bounds[0], "from", spec), _number(bounds[1], "to", spec),
                                _number(parts[1], "seconds", spec), arrival)
    if kind == "stages":
        stages = []
        for item in filter(None, (p.strip() for p in body.split(","))):
            duration, at, rate = item.partition("@")
            if not at:
                raise ConfigError("--rate", f"{spec!r}: stage {item!r} is not SECONDS@RATE")
            stages.append((_number(duration, "stage seconds", spec),
                           _number(rate, "stage rate", spec)))
        if not stages:
            raise ConfigError("--rate", f"{spec!r}: stages need at least one SECONDS@RATE")
        return RateProfile.stages(stages, arrival)
    raise ConfigError("--rate", f"{spec!r}: unknown profile {kind!r} (constant, ramp, stages)")


def profile_from_toml(value: Any, name: str) -> RateProfile:
    """A ``[rates]`` value: a number, a string spec, or a table
    ``{rate = 5}`` / ``{ramp = [10, 200, 60]}`` / ``{stages = [[30, 100], [60, 200]]}``,
    each table with an optional ``arrival = "poisson"``."""
    if isinstance(value, bool):
        raise ConfigError("--scenario", f"[rates] {name}: not a rate: {value!r}")
    if isinstance(value, int | float | str):
        return parse_profile(str(value))
    if not isinstance(value, dict):
        raise ConfigError("--scenario", f"[rates] {name}: not a rate or profile table")
    arrival = value.get("arrival")
    if arrival is not None and arrival not in ARRIVALS:
        raise ConfigError("--scenario", f"[rates] {name}: arrival must be one of {ARRIVALS}")
    suffix = f":{arrival}" if arrival else ""
    try:
        if "rate" in value:
            return parse_profile(f"{float(value['rate'])}{suffix}")
        if "ramp" in value:
            start, end, over = (float(v) for v in value["ramp"])
            return parse_profile(f"ramp:{start}-{end}:{over}{suffix}")
        if "stages" in value:
            stages = ",".join(f"{float(d)}@{float(r)}" for d, r in value["stages"])
            return parse_profile(f"stages:{stages}{suffix}")
    except (TypeError, ValueError):
        raise ConfigError("--scenario", f"[rates] {name}: malformed profile {value!r}") from None
    raise ConfigError("--scenario", f"[rates] {name}: expected rate, ramp or stages")


def rate_profiles(rates: dict[str, float], specs: dict[str, Any]) -> dict[str, RateProfile]:
    """Each workload's profile: its spec (``Settings.rate_profiles``: a string or a TOML
    table) where one is given, else its constant rate (``Settings.rates()``)."""
    profiles = {name: RateProfile.constant(rate) for name, rate in rates.items()}
    for name, spec in specs.items():
        profiles[name] = profile_from_toml(spec, name)
    return profiles


def apply_profiles(settings: Settings, specs: dict[str, Any] | None = None) -> Settings:
    """``settings`` with ``specs`` (CLI ``--rate`` profiles) over its scenario profiles,
    each checked (ConfigError) and its workload's rate field set to the profile's peak."""
    merged = {**settings.rate_profiles, **(specs or {})}
    if not merged:
        return settings
    update: dict[str, Any] = {"rate_profiles": merged}
    for name, spec in merged.items():
        try:
            update[RATE_FIELDS[name]] = profile_from_toml(spec, name).peak
        except ConfigError as exc:
            if specs and name in specs:
                raise
            where = settings.given_as(RATE_FIELDS[name])  # "FILE: [rates] NAME"
            raise ConfigError(where, reason_of(exc, f"[rates] {name}")) from None
    return settings.model_copy(update=update)


def cli_profiles(specs: list[str]) -> dict[str, str]:
    """``--rate NAME=SPEC`` values (numbers and profiles) by canonical workload name."""
    found: dict[str, str] = {}
    for spec in specs:
        name, sep, value = spec.partition("=")
        if not sep:
            raise ConfigError("--rate", f"expected WORKLOAD=RATE_OR_PROFILE, got {spec!r}")
        parse_profile(value)
        found[canonical_workload(name)] = value.strip()
    return found
