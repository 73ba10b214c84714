"""The run's verdict: every target checked once, every reason a run is not clean, one object.

A target is compared with its threshold by :func:`check` and nowhere else (a run's targets:
:mod:`utils.observe.target_checks`; a user's thresholds: :mod:`utils.observe.thresholds`). A
:class:`Verdict` holds every :class:`Check` (met, missed or not evaluated, with the measured
value and the threshold) and every :class:`Condition` that makes a run not clean
(interrupted, chain lost, books unbalanced, generator-bound, ...). The exit code, the final
line, summary.json's ``verdict`` (and the ``targets_met`` / ``meets_*`` keys derived from it),
the report and ``/health`` all read that one object, so they cannot disagree.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

EXIT_CLEAN, EXIT_NOT_CLEAN = 0, 1


class Status(enum.StrEnum):
    MET = "met"
    MISSED = "missed"
    NOT_EVALUATED = "not evaluated"


@dataclass(frozen=True, slots=True)
class Targets:
    """Thresholds (TARGET_SUCCESS_RATE, TARGET_MAX_LATENCY_SEC, TARGET_DAILY_ENTRIES,
    TARGET_MAX_MISSED_SHARE)."""

    success_rate: float = 0.95
    max_latency_sec: float = 5.0  # applied to p95
    daily_entries: int = 10_000
    max_missed_share: float = 0.01  # of the firings a workload's profile asked for

    def as_dict(self) -> dict[str, float]:
        return {k: float(v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Targets:
        base = cls()
        return cls(float(d.get("success_rate", base.success_rate)),
                   float(d.get("max_latency_sec", base.max_latency_sec)),
                   int(d.get("daily_entries", base.daily_entries)),
                   float(d.get("max_missed_share", base.max_missed_share)))


_UNITS = {"ratio": lambda v: f"{v:.2%}", "s": lambda v: f"{v:.3f} s",
          "per_day": lambda v: f"{v:,.1f}/day", "tx/s": lambda v: f"{v:,.2f} tx/s",
          "ops/s": lambda v: f"{v:,.3f} ops/s", "records/s": lambda v: f"{v:,.3f} records/s",
          "gas": lambda v: f"{v:,.0f} gas", "wei": lambda v: f"{v:,.0f} wei"}


def format_value(unit: str, value: float | None) -> str:
    """``value`` in ``unit`` as the verdict and the compare table show it."""
    return "n/a" if value is None else _UNITS.get(unit, lambda v: f"{v:g}")(value)


#: the op a check that did not hold shows (``6.1 s > target 5 s``)
_CROSSED = {">=": "<", "<=": ">", "<": ">=", ">": "<="}
TARGET, THRESHOLD = "target", "threshold"  # a Check's kind: a run's target, a user's threshold


@dataclass(frozen=True, slots=True)
class Check:
    """One target: ``measured op threshold`` (op ``>=`` or ``<=``)."""

    key: str  # e.g. "transactions.p95", "workloads.payment_app.success_rate", "iot.volume"
    label: str  # e.g. "transaction p95 latency"
    status: Status
    measured: float | None
    op: str
    threshold: float
    unit: str  # "ratio" | "s" | "per_day"
    note: str = ""  # why it was not evaluated
    kind: str = TARGET  # TARGET, or THRESHOLD (utils.observe.thresholds)

    def fmt(self, value: float | None) -> str:
        return format_value(self.unit, value)

    def line(self) -> str:
        """``transaction p95 latency 6.100 s > target 5.000 s`` (a missed check)."""
        if self.status is Status.NOT_EVALUATED:
            return f"{self.label}: not evaluated ({self.note})"
        sign = self.op if self.status is Status.MET else _CROSSED[self.op]
        if self.kind == THRESHOLD:
            crossed = "" if self.status is Status.MET else " (crossed)"
            return f"{self.label}{crossed}: {self.fmt(self.measured)} {sign} " \
                f"{self.fmt(self.threshold)}"
        return f"{self.label} {self.fmt(self.measured)} {sign} target {self.fmt(self.threshold)}"

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["status"] = self.status.value
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Check:
        return cls(str(d["key"]), str(d["label"]), Status(d["status"]), d.get("measured"),
                   str(d["op"]), float(d["threshold"]), str(d["unit"]), str(d.get("note", "")),
                   str(d.get("kind", TARGET)))


_HOLDS = {">=": lambda m, t: m >= t, "<=": lambda m, t: m <= t, ">": lambda m, t: m > t,
          "<": lambda m, t: m < t}


def check(key: str, label: str, measured: float | None, op: str, threshold: float, unit: str,
          *, not_evaluated: str = "", kind: str = TARGET) -> Check:
    """Judge ``measured op threshold``; ``not_evaluated`` (a reason) skips the judgement."""
    if not_evaluated or measured is None:
        return Check(key, label, Status.NOT_EVALUATED, measured, op, threshold, unit,
                     not_evaluated or "nothing measured", kind)
    ok = _HOLDS[op](measured, threshold)
    return Check(key, label, Status.MET if ok else Status.MISSED, measured, op, threshold, unit,
                 "", kind)


class Reason(enum.StrEnum):
    """Why a run is not clean although its targets may be met."""

    NOTHING_MEASURED = "nothing measured"
    INTERRUPTED = "interrupted"
    CHAIN_LOST = "chain unavailable"  # the chain stopped answering for longer than its grace
    WORKER_FAILED = "worker failed"
    BOOKS_UNBALANCED = "books do not balance"
    NOT_VERIFIED = "records not verified"
    NOT_CHECKED = "not checked on chain"  # the books or records: the chain did not answer
    GENERATOR_BOUND = "generator-bound"
    PROVIDER_THROTTLED = "provider-throttled"  # the provider held the run back (429, -32005)
    REORGED = "chain reorganised"  # reorgs removed transactions for good (reorg_condition)


@dataclass(frozen=True, slots=True)
class Condition:
    reason: Reason
    detail: str = ""

    def line(self) -> str:
        return f"{self.reason.value} ({self.detail})" if self.detail else self.reason.value

    def as_dict(self) -> dict[str, str]:
        return {"reason": self.reason.value, "detail": self.detail}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Condition:
        return cls(Reason(d["reason"]), str(d.get("detail", "")))


def reorg_condition(depths: Iterable[int], reorged: int) -> Condition | None:
    """Reorgs that removed transactions for good (``reorged``: outcomes ``reorged`` at the
    end) make a run not clean, and say so beside the targets: the success rate counts those
    transactions (and any sent again that reverted in the new state) as not successful,
    because that is what the chain did, and this condition says the chain's reorgs did it.
    Reorgs whose every removed transaction was included again leave the run clean (they are
    counted in summary.json's ``chain_events``)."""
    depths = list(depths)
    if not depths or reorged <= 0:
        return None
    return Condition(Reason.REORGED, f"{len(depths)} reorg(s), depth "
                     f"{', '.join(str(d) for d in depths)}: {reorged} transaction(s) removed "
                     "and not included again")


@dataclass(frozen=True, slots=True)
class Verdict:
    """``exit_code`` 0 only when no check is missed and no condition holds; a capacity search
    keeps its own code and headline (:func:`utils.report.summary.build_summary`)."""

    checks: tuple[Check, ...]
    conditions: tuple[Condition, ...] = ()
    exit_code: int | None = None  # None: derived (0 clean, 1 not)
    headline_text: str = ""  # a capacity search's result line; "" for a run

    @property
    def missed(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if c.status is Status.MISSED)

    @property
    def clean(self) -> bool:
        return not self.missed and not self.conditions

    @property
    def code(self) -> int:
        if self.exit_code is not None:
            return self.exit_code
        return EXIT_CLEAN if self.clean else EXIT_NOT_CLEAN

    def reasons(self) -> list[str]:
        """Conditions first (they say what the figures are worth), then missed targets."""
        return [c.line() for c in self.conditions] + [c.line() for c in self.missed]

    def headline(self) -> str:
        """The final line's verdict: ``targets met``, ``targets NOT met: ...`` or, when only
        thresholds were crossed, ``targets met, thresholds crossed: ...``."""
        if self.headline_text:
            return self.headline_text
        if self.clean:
            return "targets met"
        gate = not self.conditions and all(c.kind == THRESHOLD for c in self.missed)
        return ("targets met, thresholds crossed: " if gate else "targets NOT met: ") \
            + "; ".join(self.reasons())

    def status_of(self, key: str) -> bool | None:
        """A check's result as the ``meets_*`` keys have it (None: not evaluated / absent)."""
        for c in self.checks:
            if c.key == key:
                return None if c.status is Status.NOT_EVALUATED else c.status is Status.MET
        return None

    def as_dict(self) -> dict[str, Any]:
        return {"clean": self.clean, "exit_code": self.code, "headline": self.headline(),
                "checks": [c.as_dict() for c in self.checks],
                "conditions": [c.as_dict() for c in self.conditions]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Verdict:
        return cls(tuple(Check.from_dict(c) for c in d.get("checks", ())),
                   tuple(Condition.from_dict(c) for c in d.get("conditions", ())),
                   d.get("exit_code"), str(d.get("headline", "")))

    def with_conditions(self, extra: Iterable[Condition]) -> Verdict:
        return Verdict(self.checks, (*self.conditions, *extra), self.exit_code,
                       self.headline_text)

    def with_checks(self, extra: Iterable[Check]) -> Verdict:
        """``extra`` checks (thresholds) join this verdict. A capacity search keeps its own
        exit code unless it was 0 and one of them is missed (then 1); its headline names
        the missed ones."""
        added = tuple(extra)
        missed = [c.line() for c in added if c.status is Status.MISSED]
        code, headline = self.exit_code, self.headline_text
        if missed and code is not None:
            code = code or EXIT_NOT_CLEAN
            headline = f"{headline}; " + "; ".join(missed) if headline else headline
        return Verdict((*self.checks, *added), self.conditions, code, headline)
