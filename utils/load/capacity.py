"""The capacity search: the highest offered rate at which every SLO holds.

Step the offered rate up geometrically (``start``, ``start * factor``, ...) until a step
does not pass, then bisect between the highest passing and the lowest non-passing rate
until they are within ``precision`` of each other. Each step holds its rate for
``warmup + hold`` seconds; only the ``hold`` part is measured. A step's verdict is
``pass``, ``fail`` (an SLO did not hold: the chain's limit), ``provider-throttled`` (an SLO
did not hold and the JSON-RPC provider held the window back: HTTP 429 / -32005 /
Retry-After, by the rule of :func:`utils.chain.rpc_retry.throttled_reason`) or
``generator-bound`` (an SLO did not hold and the orchestrator itself was saturated). The
last two teach nothing about the chain; a step that is both is provider-throttled (more
generator processes would only be throttled more). The result is a knee (the bracket's top
is a chain failure), "capacity >= X (provider-throttled)" or "capacity >= X
(generator-bound)" when the bracket's top is such a step, or no knee within the bounds.

Exit codes: 0 knee, 1 generator-bound, 3 no knee, 4 provider-throttled (its own code: the
remedy differs, a faster or unthrottled endpoint rather than more generator processes; 2 is
the CLI's bad configuration).

This module decides; :mod:`utils.run.capacity_run` drives the steps on a chain.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from utils.load.slo import DEFAULT_SLOS, Slo

PASS, FAIL, GENERATOR_BOUND = "pass", "fail", "generator-bound"
PROVIDER_THROTTLED = "provider-throttled"
KNEE, NO_KNEE = "knee", "no-knee"
EXIT_KNEE, EXIT_GENERATOR_BOUND, EXIT_NO_KNEE, EXIT_PROVIDER_THROTTLED = 0, 1, 3, 4
#: verdicts that say nothing about the chain: never the knee
NOT_THE_CHAIN = frozenset({GENERATOR_BOUND, PROVIDER_THROTTLED})
GENERATOR_ADVICE = ("the generator was the limit: run more generator processes "
                    "(--workers N on this machine, --shard I/N across machines) or give "
                    "this one a faster core; the chain's capacity is at least this")
PROVIDER_ADVICE = ("the JSON-RPC provider held the search back (HTTP 429 / -32005, "
                   "Retry-After): point --rpc-url at an endpoint with a higher rate limit "
                   "or your own node; the chain's capacity is at least this")


@dataclass(frozen=True, slots=True)
class CapacityConfig:
    """How the search steps; rates are the whole mix's operations per second."""

    mix: dict[str, float] = field(default_factory=lambda: {"payment_app": 1.0})
    start_rate: float = 10.0
    factor: float = 2.0
    precision: float = 0.05
    hold: float = 20.0
    warmup: float = 5.0
    settle: float = 10.0
    max_rate: float = 100_000.0
    min_rate: float = 0.5
    max_duration: float = 1800.0
    slos: tuple[Slo, ...] = DEFAULT_SLOS

    def rates_for(self, total: float) -> dict[str, float]:
        """Each workload's share of ``total`` by the mix's weights."""
        weight = sum(self.mix.values())
        return {name: total * w / weight for name, w in self.mix.items()}

    @property
    def step_seconds(self) -> float:
        return self.warmup + self.hold

    def as_dict(self) -> dict[str, Any]:
        return {
            "mix": dict(self.mix), "start_rate": self.start_rate, "factor": self.factor,
            "precision": self.precision, "hold_sec": self.hold, "warmup_sec": self.warmup,
            "settle_sec": self.settle, "max_rate": self.max_rate,
            "max_duration_sec": self.max_duration, "slo": [s.text() for s in self.slos],
        }


@dataclass(slots=True)
class StepResult:
    """One measured step."""

    index: int
    phase: str  # "step-up" | "bisect"
    offered: float
    figures: dict[str, Any]
    failures: list[str]
    generator: list[str]  # why the generator was saturated (empty: it was not)
    provider: list[str] = field(default_factory=list)  # why the provider held it back

    @property
    def verdict(self) -> str:
        if self.provider:
            return PROVIDER_THROTTLED
        if self.generator:
            return GENERATOR_BOUND
        return FAIL if self.failures else PASS

    def reasons(self) -> list[str]:
        """Why the step did not pass: the SLOs missed, then what held it back."""
        return self.failures + self.provider + self.generator

    def as_dict(self) -> dict[str, Any]:
        return {"step": self.index, "phase": self.phase, "offered": round(self.offered, 3),
                "verdict": self.verdict, "failures": self.failures,
                "provider_throttled_reasons": self.provider,
                "generator_bound_reasons": self.generator, **self.figures}


@dataclass(slots=True)
class Outcome:
    status: str  # KNEE | PROVIDER_THROTTLED | GENERATOR_BOUND | NO_KNEE
    capacity: float  # the knee, or the lower bound
    stopped_by: str
    upper: StepResult | None  # the lowest rate that did not pass
    best: StepResult | None  # the highest rate that passed

    @property
    def exit_code(self) -> int:
        return {KNEE: EXIT_KNEE, GENERATOR_BOUND: EXIT_GENERATOR_BOUND,
                PROVIDER_THROTTLED: EXIT_PROVIDER_THROTTLED}.get(self.status, EXIT_NO_KNEE)

    def headline(self) -> str:
        if self.status == KNEE:
            return f"capacity {self.capacity:.1f} tx/s (knee; next step failed: {self.why()})"
        if self.status == GENERATOR_BOUND:
            return f"capacity >= {self.capacity:.1f} tx/s (generator-bound): {GENERATOR_ADVICE}"
        if self.status == PROVIDER_THROTTLED:
            return (f"capacity >= {self.capacity:.1f} tx/s (provider-throttled: {self.why()})"
                    f": {PROVIDER_ADVICE}")
        return f"capacity >= {self.capacity:.1f} tx/s (no knee found: {self.stopped_by})"

    def why(self) -> str:
        if self.upper is None:
            return ""
        if self.upper.provider:
            return "; ".join(self.upper.provider)
        return "; ".join(self.upper.failures or self.upper.generator)

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "capacity_tx_per_sec": round(self.capacity, 3),
            "knee_tx_per_sec": round(self.capacity, 3) if self.status == KNEE else None,
            "generator_bound": self.status == GENERATOR_BOUND,
            "provider_throttled": self.status == PROVIDER_THROTTLED,
            "stopped_by": self.stopped_by,
            "next_step": None if self.upper is None else {
                "offered": round(self.upper.offered, 3), "verdict": self.upper.verdict,
                "why": self.why()},
            "headline": self.headline(),
        }


class CapacitySearch:
    """``while (rate := search.next_rate()) is not None: search.record(measure(rate))``."""

    def __init__(self, config: CapacityConfig) -> None:
        self.config = config
        self.steps: list[StepResult] = []
        self.best: StepResult | None = None  # highest passing
        self.upper: StepResult | None = None  # lowest not passing
        self.stopped_by = ""

    @property
    def phase(self) -> str:
        return "step-up" if self.upper is None else "bisect"

    def next_rate(self) -> float | None:
        cfg = self.config
        lo = self.best.offered if self.best else None
        if self.upper is None:
            if lo is None:
                return cfg.start_rate
            if lo >= cfg.max_rate:
                self.stopped_by = "max-rate"
                return None
            return min(cfg.max_rate, lo * cfg.factor)
        hi = self.upper.offered
        if lo is None:
            below = hi / cfg.factor
            if below >= cfg.min_rate:
                return below
            self.stopped_by = "min-rate"
            return None
        if (hi - lo) / lo <= cfg.precision:
            self.stopped_by = "converged"
            return None
        return (lo + hi) / 2

    def record(self, step: StepResult) -> None:
        self.steps.append(step)
        if step.verdict == PASS:
            if self.best is None or step.offered > self.best.offered:
                self.best = step
        elif self.upper is None or step.offered <= self.upper.offered:
            self.upper = step

    def outcome(self, stopped_by: str | None = None) -> Outcome:
        stopped = stopped_by or self.stopped_by or "stopped"
        best_rate = self.best.offered if self.best else 0.0
        if self.upper is None:
            return Outcome(NO_KNEE, best_rate, stopped, None, self.best)
        if self.upper.verdict in NOT_THE_CHAIN:  # the chain did at least what it achieved
            achieved = max((s.figures.get("achieved", 0.0) for s in self.steps
                            if s.verdict != FAIL), default=0.0)
            return Outcome(self.upper.verdict, max(best_rate, achieved), stopped, self.upper,
                           self.best)
        return Outcome(KNEE, best_rate, stopped, self.upper, self.best)


def capacity_block(config: CapacityConfig, steps: list[StepResult],
                   outcome: Outcome | None) -> dict[str, Any]:
    """summary.json's ``capacity``: the result, the knee and why the next step failed,
    the search's settings and every step."""
    block: dict[str, Any] = outcome.as_dict() if outcome else {"status": "not run"}
    block["config"] = config.as_dict()
    block["steps"] = [s.as_dict() for s in steps]
    return block
