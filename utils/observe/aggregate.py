"""Running totals per workload, fed by the stats hub's tallies.

One aggregator serves the final table, summary.json, /kpis and the live
display, so they cannot disagree.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from utils.observe.events import (
    CommitStatusEvent,
    HeadEvent,
    InputEvent,
    IotEvent,
    Outcome,
    ReorgEvent,
    TxCorrectionEvent,
)
from utils.observe.histogram import Histogram
from utils.observe.input_stats import InputStats
from utils.observe.rpc_totals import RpcTotals

if TYPE_CHECKING:
    from utils.observe.tally import Tally

_OUTCOMES = {o.value: o for o in Outcome}


@dataclass(slots=True)
class WorkloadStats:
    """Everything counted for one workload."""

    name: str
    target_rate: float = 0.0
    fired: int = 0
    late: int = 0
    missed: int = 0
    sent: int = 0
    outcomes: Counter[Outcome] = field(default_factory=Counter)
    latency: Histogram = field(default_factory=Histogram)
    lag: Histogram = field(default_factory=Histogram)
    gas_used: int = 0
    finished_sent: int = 0  # outcomes of transactions that had been sent
    l1_gas_used: int = 0  # the L1 data part of gas_used (gasUsedForL1; 0 off Nitro)
    fee_wei: int = 0  # sum of gasUsed x effectiveGasPrice

    @property
    def l2_gas_used(self) -> int:
        return max(0, self.gas_used - self.l1_gas_used)

    @property
    def finished(self) -> int:
        return sum(self.outcomes.values())

    @property
    def successes(self) -> int:
        return self.outcomes[Outcome.SUCCESS]

    @property
    def failures(self) -> int:
        return self.finished - self.successes

    @property
    def in_flight(self) -> int:
        return max(0, self.sent - self.finished_sent)

    @property
    def success_rate(self) -> float:
        return self.successes / self.finished if self.finished else 0.0

    def achieved_rate(self, elapsed: float) -> float:
        """Successful (included, status 1) transactions per second over ``elapsed``."""
        return self.successes / elapsed if elapsed > 0 else 0.0


#: a firing later than this counts as late
LATE_AFTER_SECONDS = 0.1

#: the IoT stage that closes one whole operation (one per register/submit)
IOT_TOTAL_STAGE = "total"
#: the commit status a record leaves only through a reorg
COMMITTED = "committed"
#: the status move of a record whose commit was in a block a reorg replaced: from committed
#: back to pending (the outbox commits it again); counted, never a status of its own
REORGED = "reorged"


class CommitStatusTracker:
    """How many lcore records are in each commit status right now.

    Fed with :class:`CommitStatusEvent` transitions. Only records not yet
    committed are remembered (to move them out of their previous status), so
    memory is bounded by the records still on their way to the chain. A committed
    record goes back to pending only through a status ``reorged`` (:data:`REORGED`).
    """

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.retries = 0  # a record back to pending after a failed commit attempt
        self.reorged = 0  # a committed record back to pending: its block was replaced
        self._open: dict[int, str] = {}

    def on_status(self, event: CommitStatusEvent) -> None:
        if event.status == REORGED:  # committed in a replaced block: pending again
            self.counts[COMMITTED] -= 1
            self.counts["pending"] += 1
            self._open[event.record_id] = "pending"
            self.reorged += 1
            return
        previous = self._open.pop(event.record_id, None)
        if previous is not None:
            self.counts[previous] -= 1
            if event.status == "pending":
                self.retries += 1
        self.counts[event.status] += 1
        if event.status != COMMITTED:
            self._open[event.record_id] = event.status


class RunAggregate:
    """``hub.listen(aggregate)``; read totals at any time."""

    def __init__(
        self,
        targets: dict[str, float],
        clock: float | None = None,
        not_transactions: frozenset[str] = frozenset(),
    ) -> None:
        """``not_transactions``: workloads whose firings are not transactions (their
        operations are counted as IoT events), kept out of the transaction figures."""
        self._skip = not_transactions
        self.started_at = clock if clock is not None else time.time()
        #: when the run began (set-up included): started_at moves to the load's start
        self.opened_at = self.started_at
        self.ended_at: float | None = None
        #: when firing stopped (before the drain): achieved rates are over the load window
        self.load_ended_at: float | None = None
        self.workloads: dict[str, WorkloadStats] = {
            name: WorkloadStats(name, target_rate=rate) for name, rate in targets.items()
        }
        self.iot_ops: Counter[tuple[str, str, bool]] = Counter()  # (operation, stage, success)
        self.iot_latency: dict[str, Histogram] = {}
        self.iot_bytes = 0
        self.commits = CommitStatusTracker()
        self.inputs = InputStats()  # the Cartesi application's (--iot-commit inputbox)
        self.head_block: int | None = None
        self.rpc = RpcTotals()  # JSON-RPC round trips and their failures, by kind
        self.corrections = 0  # transactions whose recorded outcome was corrected
        #: reorgs seen, by the hash of the head they replaced (a reorg seen by several
        #: worker processes counts once): their depth
        self.reorgs: dict[str, int] = {}

    @property
    def reorg_depths(self) -> list[int]:
        return sorted(self.reorgs.values())

    def _wl(self, name: str) -> WorkloadStats:
        stats = self.workloads.get(name)
        if stats is None:
            stats = self.workloads[name] = WorkloadStats(name)
        return stats

    def on_tally(self, tally: Tally) -> None:
        """Add a tally's events (the stats hub hands one on every tenth of a second)."""
        for name, tx in tally.tx.items():
            wl = self._wl(name)
            for outcome, n in tx.outcomes.items():
                wl.outcomes[_OUTCOMES[outcome]] += n
            wl.finished_sent += tx.finished_sent
            wl.latency.merge(tx.latency)
            wl.gas_used += tx.gas_used
            wl.l1_gas_used += tx.l1_gas_used
            wl.fee_wei += tx.fee_wei
        for name, n in tally.sent.items():
            self._wl(name).sent += n
        for name, firing in tally.firing.items():
            if name in self._skip:
                continue
            wl = self._wl(name)
            wl.missed += firing.missed
            wl.fired += firing.fired
            wl.late += firing.late
            wl.lag.merge(firing.lag)
        if tally.rpc:
            self.rpc.add(tally)
        for event in tally.others:
            if isinstance(event, IotEvent):
                self.iot_ops[(event.operation, event.stage, event.success)] += 1
                self.iot_latency.setdefault(event.stage, Histogram()).observe(event.latency)
                if event.stage == IOT_TOTAL_STAGE:
                    self.iot_bytes += event.data_size
            elif isinstance(event, CommitStatusEvent):
                self.commits.on_status(event)
            elif isinstance(event, HeadEvent):
                self.head_block = max(self.head_block or 0, event.block_number)
            elif isinstance(event, TxCorrectionEvent):
                self._correct(event)
            elif isinstance(event, ReorgEvent):
                self.reorgs.setdefault(event.removed_head, event.depth)
            elif isinstance(event, InputEvent):
                self.inputs.on_input(event)

    def _correct(self, event: TxCorrectionEvent) -> None:
        """The transaction's outcome and costs are now ``event``'s new ones (its latency and
        its place among the finished stay as first recorded)."""
        wl = self._wl(event.workload)
        wl.outcomes[_OUTCOMES[event.old_outcome]] -= 1
        wl.outcomes[_OUTCOMES[event.new_outcome]] += 1
        wl.gas_used += event.new_gas_used - event.old_gas_used
        wl.l1_gas_used += event.new_l1_gas_used - event.old_l1_gas_used
        wl.fee_wei += event.new_fee_wei - event.old_fee_wei
        self.corrections += 1

    def iot_count(self, operation: str | None = None, success: bool | None = None) -> int:
        """Whole IoT operations (stage ``total``), optionally of one kind / result."""
        return sum(
            n
            for (op, stage, ok), n in list(self.iot_ops.items())
            if stage == IOT_TOTAL_STAGE
            and (operation is None or op == operation)
            and (success is None or ok == success)
        )

    def elapsed(self, now: float | None = None) -> float:
        end = self.ended_at if self.ended_at is not None else (now or time.time())
        return max(0.0, end - self.started_at)

    def load_elapsed(self, now: float | None = None) -> float:
        """Seconds of offered load: start to the moment firing stopped (the drain after it
        is left out: what it finishes was offered, and counted, in the load window)."""
        if self.load_ended_at is not None:
            return max(0.0, self.load_ended_at - self.started_at)
        return self.elapsed(now)

    def totals(self) -> WorkloadStats:
        """All workloads merged into one."""
        total = WorkloadStats("total")
        for wl in list(self.workloads.values()):  # a snapshot: /kpis reads from a thread
            total.target_rate += wl.target_rate
            total.fired += wl.fired
            total.late += wl.late
            total.missed += wl.missed
            total.sent += wl.sent
            total.finished_sent += wl.finished_sent
            total.outcomes.update(wl.outcomes)
            total.latency.merge(wl.latency)
            total.lag.merge(wl.lag)
            total.gas_used += wl.gas_used
            total.l1_gas_used += wl.l1_gas_used
            total.fee_wei += wl.fee_wei
        return total
