"""Tallies: every event of a stretch of a run, the frequent ones pre-aggregated exactly.

A transaction costs about three events (its firing, its send, its outcome), a JSON-RPC
call one more. Fanned out one by one to every sink of a run that was most of what a run
spent its CPU on. The stats hub (:mod:`utils.observe.stats`) instead adds every event to
its open :class:`Tally` and hands every sink the whole stretch at once (``on_tally``, the
sinks' only way in); a worker process does the same and sends its tallies to the parent.
The frequent events (:data:`TALLIED`) are counted where they happen: per workload the
outcomes, the gas, L1 gas and fee sums, the latency and firing-lag histograms (the run's
log-linear buckets; the Prometheus buckets are read off them), per JSON-RPC method its
round trips (Prometheus buckets) and errors (by kind, retried or not), and the tx_metrics.csv
rows already formatted.
Nothing is averaged: counts and sums add, histograms merge bucket by bucket. Every other
event (IoT, commit statuses, target rates, heads) is kept as itself in :attr:`Tally.others`,
in emission order.

Over a pipe a tally's counts travel as :meth:`to_wire` (plain tuples, dicts and numbers for
:mod:`marshal`) and come back with :meth:`from_wire`; its other events travel beside them
(:mod:`utils.load.event_stream`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from utils.observe.aggregate import LATE_AFTER_SECONDS
from utils.observe.buckets import RPC_BUCKETS, bucket_of
from utils.observe.events import Event, FiringEvent, Outcome, RpcEvent, TxEvent, TxSentEvent
from utils.observe.histogram import Histogram
from utils.observe.tx_rows import tx_line

#: the event types a tally counts; every other event is kept in the tally as itself
TALLIED: frozenset[type[Any]] = frozenset({TxEvent, TxSentEvent, FiringEvent, RpcEvent})
#: refusals are kept per tenth of a second of their finishing time (health's window)
REFUSAL_TICK = 0.1


@dataclass(slots=True)
class TxCell:
    """One workload's finished transactions."""

    outcomes: dict[str, int] = field(default_factory=dict)  # Outcome value -> count
    finished_sent: int = 0  # of them, transactions that had been sent (in-flight bookkeeping)
    latency: Histogram = field(default_factory=Histogram)
    gas_used: int = 0
    l1_gas_used: int = 0
    l2_gas_used: int = 0  # sum of each transaction's max(0, gas - l1)
    fee_wei: int = 0
    #: successful transactions per operation: [count, gas, l1 gas] (gas per operation)
    operations: dict[str, list[int]] = field(default_factory=dict)


@dataclass(slots=True)
class FiringCell:
    """One workload's scheduler firings."""

    fired: int = 0
    late: int = 0
    missed: int = 0
    lag: Histogram = field(default_factory=Histogram)


@dataclass(slots=True)
class RpcCell:
    """One JSON-RPC method's round trips (Prometheus buckets) and failures."""

    buckets: list[int] = field(default_factory=lambda: [0] * (len(RPC_BUCKETS) + 1))
    total: float = 0.0
    errors: int = 0
    kinds: dict[str, int] = field(default_factory=dict)  # failures by kind
    retries: dict[str, int] = field(default_factory=dict)  # failures retried, by kind
    held: float = 0.0  # seconds the failures added to the provider's hold window
    #: those seconds as wall-clock windows (start, end) where the events placed them
    windows: list[tuple[float, float]] = field(default_factory=list)


class Tally:
    """``add(event)`` for every event; sinks read the fields (and :attr:`others`)."""

    def __init__(self) -> None:
        self.events = 0
        self.tx: dict[str, TxCell] = {}
        self.sent: dict[str, int] = {}
        self.firing: dict[str, FiringCell] = {}
        self.rpc: dict[str, RpcCell] = {}
        #: tick (finishing time // REFUSAL_TICK) -> [transactions, rejected]
        self.refusals: dict[int, list[int]] = {}
        self.last_refusal = ""  # the error of the last rejected transaction
        self.csv_rows = 0
        #: the events not of :data:`TALLIED`, in emission order
        self.others: list[Event] = []
        self._lines: list[str] = []
        self._csv_text = ""
        self._add: dict[type[Any], Callable[[Any], None]] = {
            TxEvent: self._tx, TxSentEvent: self._sent, FiringEvent: self._firing,
            RpcEvent: self._rpc,
        }  # fmt: skip

    def __bool__(self) -> bool:
        return self.events > 0

    def add(self, event: Event) -> None:
        """Count ``event`` (one of :data:`TALLIED`), or keep it in :attr:`others`."""
        add = self._add.get(type(event))
        if add is None:
            self.others.append(event)
        else:
            add(event)
        self.events += 1

    @property
    def csv_text(self) -> str:
        """tx_metrics.csv rows of the tallied transactions, formatted (``csv`` dialect)."""
        if self._lines:
            self._csv_text += "".join(self._lines)
            self._lines = []
        return self._csv_text

    def _tx(self, e: TxEvent) -> None:
        cell = self.tx.get(e.workload)
        if cell is None:
            cell = self.tx[e.workload] = TxCell()
        outcome = e.outcome.value
        cell.outcomes[outcome] = cell.outcomes.get(outcome, 0) + 1
        if e.sent_at is not None:
            cell.finished_sent += 1
        cell.latency.observe(e.latency)
        gas, l1 = e.gas_used, e.l1_gas_used
        if gas or l1:
            cell.gas_used += gas
            cell.l1_gas_used += l1
            cell.l2_gas_used += max(0, gas - l1)
            cell.fee_wei += gas * e.effective_gas_price
        if e.outcome is Outcome.SUCCESS:
            sums = cell.operations.get(e.operation)
            if sums is None:
                sums = cell.operations[e.operation] = [0, 0, 0]
            sums[0] += 1
            sums[1] += gas
            sums[2] += l1
        tick = int(e.finished_at // REFUSAL_TICK)
        counts = self.refusals.get(tick)
        if counts is None:
            counts = self.refusals[tick] = [0, 0]
        counts[0] += 1
        if e.outcome is Outcome.REJECTED:
            counts[1] += 1
            self.last_refusal = e.error
        self._lines.append(tx_line(e))
        self.csv_rows += 1

    def _sent(self, e: TxSentEvent) -> None:
        self.sent[e.workload] = self.sent.get(e.workload, 0) + 1

    def _firing(self, e: FiringEvent) -> None:
        cell = self.firing.get(e.workload)
        if cell is None:
            cell = self.firing[e.workload] = FiringCell()
        cell.missed += e.missed
        if e.fired:
            lag = e.lag
            cell.fired += 1
            cell.lag.observe(lag)
            if lag > LATE_AFTER_SECONDS:
                cell.late += 1

    def _rpc(self, e: RpcEvent) -> None:
        cell = self.rpc.get(e.method)
        if cell is None:
            cell = self.rpc[e.method] = RpcCell()
        cell.buckets[bucket_of(RPC_BUCKETS, e.duration)] += 1
        cell.total += e.duration
        if not e.ok:
            cell.errors += 1
            kind = e.kind or "final"
            cell.kinds[kind] = cell.kinds.get(kind, 0) + 1
            if e.retried:
                cell.retries[kind] = cell.retries.get(kind, 0) + 1
            cell.held += e.held
            if e.held > 0 and e.held_until > 0:
                cell.windows.append((e.held_until - e.held, e.held_until))

    # -- over a pipe -------------------------------------------------------------------------
    def to_wire(self) -> tuple[Any, ...]:
        """The counts (not :attr:`others`: events need their own codec) as marshal-able data."""
        return (
            self.events,
            {name: (c.outcomes, c.finished_sent, _hist_wire(c.latency), c.gas_used,
                    c.l1_gas_used, c.l2_gas_used, c.fee_wei, c.operations)
             for name, c in self.tx.items()},
            self.sent,
            {name: (c.fired, c.late, c.missed, _hist_wire(c.lag))
             for name, c in self.firing.items()},
            {name: (c.buckets, c.total, c.errors, c.kinds, c.retries, c.held, c.windows)
             for name, c in self.rpc.items()},
            self.refusals, self.last_refusal, self.csv_rows, self.csv_text,
        )  # fmt: skip

    @classmethod
    def from_wire(cls, wire: tuple[Any, ...], others: list[Event] | None = None) -> Tally:
        """The tally :meth:`to_wire` gave, with ``others`` (its other events) put back."""
        tally = cls()
        tally.others = others or []
        (tally.events, tx, tally.sent, firing, rpc, tally.refusals, tally.last_refusal,
         tally.csv_rows, tally._csv_text) = wire  # fmt: skip
        tally.tx = {name: TxCell(o, fs, _hist(h), g, l1, l2, fee, ops)
                    for name, (o, fs, h, g, l1, l2, fee, ops) in tx.items()}
        tally.firing = {name: FiringCell(f, late, m, _hist(h))
                        for name, (f, late, m, h) in firing.items()}
        tally.rpc = {name: RpcCell(list(b), t, err, dict(k), dict(r), h,
                                   [(float(a), float(z)) for a, z in w])
                     for name, (b, t, err, k, r, h, w) in rpc.items()}
        return tally


def _hist_wire(h: Histogram) -> tuple[Any, ...]:
    return h.counts, h.count, h.total, h.min, h.max


def _hist(wire: tuple[Any, ...]) -> Histogram:
    counts, count, total, low, high = wire
    return Histogram(dict(counts), count, total, low, high)
