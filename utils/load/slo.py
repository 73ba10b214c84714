"""Service-level objectives a capacity step must hold, and their text form.

``--slo p95<2s --slo success>=99%`` (or ``slo = [...]`` in a scenario's ``[capacity]``
table). Metrics, each measured over a step's measured window:

- ``p50`` / ``p95`` / ``p99``: latency from the intended send time (seconds; ``ms`` allowed)
- ``success``: share of the window's offered operations that succeeded
- ``missed``: share of the window's firings the scheduler gave up (missed / intended)
- ``backlog``: growth of the in-flight count per second, as a share of the offered rate
  (0 = flat; 0.05 = in flight rising by 5 % of the rate every second)
- ``basefee``: base fee growth over the window (0.10 = ended 10 % above where it started;
  only on a chain with a base fee)

An SLO given for a metric replaces that metric's default; the others keep theirs.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from utils.errors import ConfigError

METRICS = ("p50", "p95", "p99", "success", "missed", "backlog", "basefee")
_LATENCY = {"p50", "p95", "p99"}
_OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le, ">=": operator.ge, "<": operator.lt, ">": operator.gt,
}
_PATTERN = re.compile(r"^\s*([a-z0-9_]+)\s*(<=|>=|<|>)\s*([0-9.eE+-]+)\s*(%|ms|s|x)?\s*$")


@dataclass(frozen=True, slots=True)
class Slo:
    metric: str
    op: str
    threshold: float

    def holds(self, value: float | None) -> bool:
        """Not measured (None, e.g. no base fee on this chain) holds."""
        return value is None or _OPS[self.op](value, self.threshold)

    def text(self) -> str:
        if self.metric in _LATENCY:
            return f"{self.metric}{self.op}{self.threshold:g}s"
        return f"{self.metric}{self.op}{self.threshold * 100:g}%"

    def failure(self, value: float | None) -> str | None:
        """Why the SLO failed at ``value``, or None when it holds."""
        if self.holds(value):
            return None
        assert value is not None
        shown = f"{value:.3f}s" if self.metric in _LATENCY else f"{value * 100:.2f}%"
        return f"{self.metric} {shown} (SLO {self.text()})"


DEFAULT_SLOS: tuple[Slo, ...] = (
    Slo("p95", "<=", 2.0),
    Slo("p99", "<=", 5.0),
    Slo("success", ">=", 0.99),
    Slo("missed", "<=", 0.01),
    Slo("backlog", "<=", 0.05),
    Slo("basefee", "<=", 0.10),
)


def parse_slo(text: str) -> Slo:
    """``p95<2s``, ``p99<=800ms``, ``success>=99%``, ``missed<=0.5%``, ``backlog<=5%``."""
    match = _PATTERN.match(text.lower())
    if match is None:
        raise ConfigError("--slo", f"expected METRIC<OP>VALUE like p95<2s, got {text!r}")
    metric, op, number, unit = match.groups()
    if metric not in METRICS:
        raise ConfigError("--slo", f"{text!r}: unknown metric {metric!r} (known: "
                          + ", ".join(METRICS) + ")")
    try:
        value = float(number)
    except ValueError:
        raise ConfigError("--slo", f"{text!r}: {number!r} is not a number") from None
    if metric in _LATENCY:
        if unit not in (None, "s", "ms"):
            raise ConfigError("--slo", f"{text!r}: a latency is in s or ms")
        value = value / 1000 if unit == "ms" else value
    elif unit == "%":
        value /= 100
    elif unit not in (None, "x"):
        raise ConfigError("--slo", f"{text!r}: a share is a fraction or a percentage")
    if value < 0:
        raise ConfigError("--slo", f"{text!r}: threshold must be >= 0")
    return Slo(metric, op, value)


def slo_set(texts: Iterable[str]) -> tuple[Slo, ...]:
    """The defaults, each replaced by a given SLO of the same metric."""
    given = [parse_slo(t) for t in texts]
    named = {s.metric for s in given}
    return tuple([s for s in DEFAULT_SLOS if s.metric not in named] + given)


def failures(slos: Iterable[Slo], values: Mapping[str, float | None]) -> list[str]:
    """Every SLO that does not hold at ``values`` (metric -> measured value), as text."""
    reasons = []
    for slo in slos:
        reason = slo.failure(values.get(slo.metric))
        if reason is not None:
            reasons.append(reason)
    return reasons
