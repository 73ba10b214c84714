"""What one capacity step measured: a stats-hub tap for the step's measured window.

An operation belongs to the window when its *intended* time falls in it, wherever its
outcome lands (a transaction intended in the window and included during the settle after
it counts, with its latency from the intended time). ``achieved`` is the throughput: the
successes that *finished* inside the window, per second (it flattens when the chain is the
limit, while offered keeps rising). Operations are transactions, and for
``iot_registration`` (no transaction of its own) whole registrations. In-flight count and
base fee are sampled by the driver (:meth:`sample`); their least-squares slope over the
window says whether a backlog grew.

JSON-RPC round trips (:class:`RpcEvent`, which carry no time of their own) count by when
they are seen (the tap is called as each is emitted): requests, throttled answers, the
throttled calls that gave up, and the seconds they held every request back (cut at the
window's end). :meth:`StepProbe.throttled` judges the window by the rule the whole run is
judged by (:func:`utils.chain.rpc_retry.throttled_reason`). A tap sees this process's
events only, which is the whole search (it runs in one process).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from utils.chain.rpc_retry import throttled_reason
from utils.observe.aggregate import IOT_TOTAL_STAGE
from utils.observe.events import Event, FiringEvent, IotEvent, Outcome, RpcEvent, TxEvent
from utils.observe.histogram import Histogram


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (t, y) points; 0 for fewer than 3."""
    if len(points) < 3:
        return 0.0
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    var = sum((t - mean_t) ** 2 for t, _ in points)
    if var <= 0:
        return 0.0
    return sum((t - mean_t) * (y - mean_y) for t, y in points) / var


def _edge_mean(values: list[float], first: bool, share: float = 0.2) -> float:
    count = max(1, int(len(values) * share))
    part = values[:count] if first else values[-count:]
    return sum(part) / len(part)


@dataclass(slots=True)
class RpcWindow:
    """The JSON-RPC round trips seen inside a window."""

    requests: int = 0
    throttled: int = 0  # answers throttled (HTTP 429, -32005, a rate-limit text)
    gave_up: int = 0  # calls that failed for good while throttled
    held: float = 0.0  # seconds the answers held every request back (inside the window)

    def see(self, event: RpcEvent, now: float, end: float) -> None:
        self.requests += 1
        if event.kind == "throttled":
            self.throttled += 1
            self.gave_up += not event.retried
        if event.held:
            self.held += min(event.held, max(0.0, end - now))

    def summary(self, seconds: float) -> dict[str, Any]:
        """The keys :func:`utils.chain.rpc_retry.throttled_reason` reads."""
        return {"elapsed_seconds": seconds, "requests": self.requests,
                "throttled": self.throttled, "held_seconds": self.held,
                "gave_up": {"throttled": self.gave_up}}


@dataclass(slots=True)
class StepProbe:
    """Tap the hub with :meth:`see` (each event, by its own timestamps: a tally would lose
    them); ``start``/``end`` bound the measured window (run clock, ``now`` reads it)."""

    start: float
    end: float
    offered: float
    workloads: frozenset[str]
    registration: str = "iot_registration"
    fired: int = 0
    missed: int = 0
    successes: int = 0
    finished: int = 0
    done_in_window: int = 0  # successes whose outcome came inside the window
    outcomes: dict[str, int] = field(default_factory=dict)
    latency: Histogram = field(default_factory=Histogram)
    firing_lag: Histogram = field(default_factory=Histogram)
    in_flight: list[tuple[float, float]] = field(default_factory=list)
    base_fees: list[float] = field(default_factory=list)
    rpc: RpcWindow = field(default_factory=RpcWindow)
    now: Callable[[], float] = time.time

    def _inside(self, t: float) -> bool:
        return self.start <= t < self.end

    def see(self, event: Event) -> None:
        if isinstance(event, RpcEvent):
            now = self.now()
            if self._inside(now):
                self.rpc.see(event, now, self.end)
        elif isinstance(event, TxEvent):
            if event.workload not in self.workloads:
                return
            ok = event.outcome is Outcome.SUCCESS
            self.done_in_window += ok and self._inside(event.finished_at)
            if self._inside(event.intended_at):
                self._outcome(event.outcome.value, ok, event.latency)
        elif isinstance(event, FiringEvent):
            if event.workload in self.workloads and self._inside(event.intended_at):
                self.missed += event.missed
                if event.fired:
                    self.fired += 1
                    self.firing_lag.observe(event.lag)
        elif (isinstance(event, IotEvent) and event.stage == IOT_TOTAL_STAGE
              and event.operation == "register" and self.registration in self.workloads
              and self._inside(event.timestamp - event.latency)):
            self.done_in_window += event.success
            self._outcome("success" if event.success else "failed", event.success,
                          event.latency)

    def _outcome(self, name: str, ok: bool, latency: float) -> None:
        self.finished += 1
        self.successes += ok
        self.outcomes[name] = self.outcomes.get(name, 0) + 1
        self.latency.observe(latency)

    def sample(self, now: float, in_flight: int, base_fee: int | None) -> None:
        """Called a few times a second during the window."""
        if self._inside(now):
            self.in_flight.append((now, float(in_flight)))
            if base_fee:
                self.base_fees.append(float(base_fee))

    def figures(self) -> dict[str, Any]:
        """The step's measured values (SLO metrics among them), rounded for the CSV."""
        hold = max(1e-9, self.end - self.start)
        intended = self.fired + self.missed
        operations = max(self.fired, self.finished)
        growth = slope(self.in_flight)
        base_growth = None
        if len(self.base_fees) >= 2:
            first = _edge_mean(self.base_fees, True)
            base_growth = _edge_mean(self.base_fees, False) / first - 1 if first else None
        return {
            "fired": self.fired, "missed": self.missed, "finished": self.finished,
            "successes": self.successes,
            "offered_actual": round(self.fired / hold, 3),
            "achieved": round(self.done_in_window / hold, 3),
            "p50": round(self.latency.percentile(0.50), 6),
            "p95": round(self.latency.percentile(0.95), 6),
            "p99": round(self.latency.percentile(0.99), 6),
            "success": round(self.successes / operations, 6) if operations else 0.0,
            "missed_share": round(self.missed / intended, 6) if intended else 0.0,
            "backlog_slope": round(growth, 3),
            "backlog": round(growth / self.offered, 6) if self.offered > 0 else 0.0,
            "basefee": None if base_growth is None else round(base_growth, 6),
            "firing_lag_p99": round(self.firing_lag.percentile(0.99), 6),
            "rpc_requests": self.rpc.requests, "rpc_throttled": self.rpc.throttled,
            "rpc_gave_up": self.rpc.gave_up, "rpc_held": round(self.rpc.held, 3),
            "outcomes": dict(self.outcomes),
        }

    def throttled(self) -> str | None:
        """Why the provider held the window back (``throttled_reason`` without its
        ``provider-throttled:`` prefix), or None when it did not."""
        reason = throttled_reason(self.rpc.summary(max(1e-9, self.end - self.start)))
        return None if reason is None else reason.removeprefix("provider-throttled: ")

    def slo_values(self, figures: dict[str, Any]) -> dict[str, float | None]:
        """The SLO metrics (utils.load.slo.METRICS) out of :meth:`figures`."""
        return {"p50": figures["p50"], "p95": figures["p95"], "p99": figures["p99"],
                "success": figures["success"] if self.fired or self.finished else 0.0,
                "missed": figures["missed_share"], "backlog": figures["backlog"],
                "basefee": figures["basefee"]}
