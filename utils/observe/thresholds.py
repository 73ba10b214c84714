"""Thresholds on any figure, k6 style: ``payment_app.p95<1.5s``, ``totals.success>=99.5%``,
``missed<=0.5%``, ``capacity.knee>=200``, and relative to a baseline run: ``p95<=+10%``
(at most 10 % above the baseline's p95), ``goodput>=-5%`` (at most 5 % below).

Grammar: ``NAME OP VALUE`` with OP one of ``<``, ``<=``, ``>``, ``>=``. NAME is a figure of
:mod:`utils.observe.run_figures`. VALUE is a number, with ``%`` on a share (``99.5%`` is
0.995; a bare share is a ratio, k6's ``rate<0.01``, so above 1 it is refused), ``s`` or ``ms``
on a latency (bare: seconds); a signed percentage (``+10%``, ``-5%``) makes the
threshold relative: the baseline's value times (1 + it). Thresholds are parsed before a run
starts (:func:`parse_all`: a bad one is a ConfigError naming it and the known figures) and
judged at its end into :class:`~utils.observe.verdict.Check` of kind ``threshold``, which
join the run's one verdict.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from utils.errors import ConfigError
from utils.observe.run_figures import SHARE, Figure, canonical_name, known_names, metric_of
from utils.observe.verdict import THRESHOLD, Check, check

__all__ = ["Threshold", "judge", "parse", "parse_all"]

_PATTERN = re.compile(
    r"^\s*(?P<name>[A-Za-z_][\w.]*)\s*(?P<op><=|>=|<|>)\s*(?P<sign>[+-]?)\s*"
    r"(?P<number>\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+)\s*(?P<unit>%|ms|s)?\s*$")


@dataclass(frozen=True, slots=True)
class Threshold:
    text: str  # as the user wrote it
    name: str  # canonical figure name
    op: str
    value: float  # absolute, in the figure's unit; or the relative change (0.10 = +10 %)
    relative: bool

    def limit(self, baseline: float | None) -> float | None:
        """The value the figure is compared with (None: relative without a baseline value)."""
        if not self.relative:
            return self.value
        return None if baseline is None else baseline * (1.0 + self.value)


def parse(text: str, where: str = "--threshold") -> Threshold:
    """One threshold; ConfigError naming ``where`` and ``text`` when it cannot be read."""
    found = _PATTERN.match(text)
    if found is None:
        raise ConfigError(where, f"cannot read threshold {text!r}: write NAME OP VALUE, e.g. "
                          "'payment_app.p95<1.5s', 'totals.success>=99.5%' or 'p95<=+10%'")
    name = canonical_name(found["name"])
    metric = metric_of(name)
    if metric is None:
        raise ConfigError(where, f"threshold {text!r}: unknown figure {found['name']!r} "
                          f"(known: {known_names()})")
    number, unit, sign = float(found["number"]), found["unit"], found["sign"]
    if sign:
        if unit != "%":
            raise ConfigError(where, f"threshold {text!r}: a signed value is a change relative "
                              "to the baseline and is written in %, e.g. '+10%'")
        return Threshold(text, name, found["op"], (-number if sign == "-" else number) / 100,
                         True)
    if unit == "%":
        if metric.unit != SHARE:
            raise ConfigError(where, f"threshold {text!r}: {name} is in {metric.unit}, not a "
                              "share; an absolute % is for shares (success, missed), a "
                              "signed one ('+10%') for a change relative to the baseline")
        number /= 100
    elif unit in ("s", "ms"):
        if metric.unit != "s":
            raise ConfigError(where, f"threshold {text!r}: {name} is in {metric.unit}, "
                              "not seconds")
        number /= 1000 if unit == "ms" else 1
    elif metric.unit == SHARE and number > 1:
        raise ConfigError(where, f"threshold {text!r}: {name} is a share, a ratio from 0 to 1 "
                          f"(k6's rate); write it in % ('{number:g}%') or as a ratio")
    return Threshold(text, name, found["op"], number, False)


def parse_all(items: Iterable[tuple[str, str]]) -> list[Threshold]:
    """Every ``(text, where)`` parsed (the first bad one raises)."""
    return [parse(text, where) for text, where in items]


def judge(thresholds: Iterable[Threshold], figures: Mapping[str, Figure],
          baseline: Mapping[str, Figure] | None) -> list[Check]:
    """A check of kind ``threshold`` per threshold: met, missed (crossed) or not evaluated
    (the run did not measure the figure; a relative one without the baseline's value)."""
    checks = []
    for t in thresholds:
        figure = figures.get(t.name)
        measured = figure.value if figure is not None else None
        metric = metric_of(t.name)
        unit = metric.unit if metric is not None else ""
        base = baseline.get(t.name) if baseline is not None else None
        limit = t.limit(base.value if base is not None else None)
        why = "" if measured is not None else "not measured in this run"
        if limit is None:
            why = "the baseline has no value" if baseline is not None else "no --baseline"
        checks.append(check(f"thresholds.{t.text}", f"threshold {t.text}", measured, t.op,
                            0.0 if limit is None else limit, unit, not_evaluated=why,
                            kind=THRESHOLD))
    return checks

