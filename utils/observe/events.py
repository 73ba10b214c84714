"""Measured events: every number the run reports is derived from these.

Workloads, the transaction engine and the lcore node emit events to a
:class:`utils.observe.stats.StatsHub`; sinks (CSV writers, Prometheus, the live line,
the final report) listen to it, a tally at a time. An event is emitted exactly once per
operation, success or failure. Events are values: nobody changes one once made. Most are
frozen; the three made for every transaction (:class:`TxEvent`, :class:`TxSentEvent`,
:class:`FiringEvent`) and the one per JSON-RPC request (:class:`RpcEvent`) are not, because
a frozen dataclass sets each field through ``object.__setattr__``: a TxEvent took 2.9 us to
make frozen and 0.6 us plain (an RpcEvent 2.5 and 0.5).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Outcome(enum.StrEnum):
    """What became of one transaction."""

    SUCCESS = "success"
    REVERTED = "reverted"  # included, status 0
    REJECTED = "rejected"  # the node refused eth_sendRawTransaction
    DROPPED = "dropped"  # accepted, then gone (nonce reused by another tx / evicted)
    TIMEOUT = "timeout"  # no receipt before the deadline
    REORGED = "reorged"  # included, then its block was replaced and it is no longer on chain

    @property
    def ok(self) -> bool:
        return self is Outcome.SUCCESS


@dataclass(slots=True)
class TxEvent:
    """The final outcome of one transaction (one row of tx_metrics.csv)."""

    workload: str
    module: str  # CSV "module": the workload's name, as in the original system
    outcome: Outcome
    tx_hash: str  # "" when the node rejected the transaction before hashing mattered
    intended_at: float  # unix seconds: when the scheduler meant to send it
    sent_at: float | None  # when eth_sendRawTransaction returned
    finished_at: float  # when the outcome became known (receipt seen, error, deadline)
    block_number: int | None
    gas_used: int
    sender: str
    nonce: int | None
    error: str = ""
    operation: str = ""  # what the tx does: payment, settlement, origination, repayment, ...
    l1_gas_used: int = 0  # receipt's gasUsedForL1 (Nitro: the L1 data part of gas_used), else 0
    effective_gas_price: int = 0  # receipt's effectiveGasPrice in wei (0 when not included)

    @property
    def l2_gas_used(self) -> int:
        """Execution gas: what the chain charged beyond the L1 data component."""
        return max(0, self.gas_used - self.l1_gas_used)

    @property
    def fee_wei(self) -> int:
        """What the sender paid: gasUsed x effectiveGasPrice (L1 and L2 together)."""
        return self.gas_used * self.effective_gas_price

    @property
    def latency(self) -> float:
        """Seconds from the intended send time to the moment the outcome was known."""
        return max(0.0, self.finished_at - self.intended_at)

    @property
    def included_at(self) -> float | None:
        return self.finished_at if self.block_number is not None else None


@dataclass(slots=True)
class TxSentEvent:
    """A transaction was accepted by the node (it is now in flight)."""

    workload: str
    timestamp: float


@dataclass(slots=True)
class FiringEvent:
    """One scheduler firing: how late it was, and how many firings it gave up."""

    workload: str
    intended_at: float
    fired_at: float
    missed: int = 0  # firings skipped (fell too far behind, or too many steps running)
    fired: bool = True  # False: only reports ``missed`` firings (at stop); no step started

    @property
    def lag(self) -> float:
        return max(0.0, self.fired_at - self.intended_at)


@dataclass(frozen=True, slots=True)
class TargetRateEvent:
    """The rate a workload's profile offers from ``timestamp`` on (0: firing stopped)."""

    workload: str
    timestamp: float
    rate: float


@dataclass(frozen=True, slots=True)
class IotEvent:
    """One IoT pipeline operation (stage ``total``) or one of its stages.

    iot_metrics.csv has one row per operation: its total, with the stage timings, and for a
    submission its record's ``commit`` (matched by ``record_id``)."""

    timestamp: float
    device_id: str
    device_type: str
    operation: str  # "register" | "submit"
    stage: str  # "validate" | "encrypt" | "store" | "commit" | "total"
    success: bool
    latency: float
    tx_hash: str = ""
    error: str = ""
    data_size: int = 0
    # a "submit" total of a node whose outbox will commit the record, and that commit
    record_id: int | None = None
    stages: tuple[tuple[str, float], ...] = ()  # on a "total": (stage, seconds) reached


@dataclass(frozen=True, slots=True)
class CommitStatusEvent:
    """An lcore record moved to another commit status (pending/submitted/committed/failed)."""

    timestamp: float
    record_id: int
    status: str


@dataclass(slots=True)
class RpcEvent:
    """One JSON-RPC round trip (a retry is another)."""

    method: str
    duration: float
    ok: bool
    #: "" when ok, else the failure's kind (utils/chain/rpc_faults.py): throttled, transient,
    #: connection, timeout, unsupported, reply, final
    kind: str = ""
    retried: bool = False  # the transport tries again after this failure
    held: float = 0.0  # seconds this answer added to the window no request may leave in
    #: wall-clock time (time.time()) that window ends at now: the added part is
    #: [held_until - held, held_until], so several clients' windows unite (0: not placed)
    held_until: float = 0.0


@dataclass(frozen=True, slots=True)
class HeadEvent:
    """The chain head the engine has seen."""

    block_number: int
    timestamp: float


@dataclass(frozen=True, slots=True)
class TxCorrectionEvent:
    """A transaction's recorded outcome was not what the chain shows: a receipt turned up
    after a timeout or a drop, a reorg moved it to another block or removed it. It replaces
    the values of the transaction's earlier event (its :class:`TxEvent`, or an earlier
    correction): sinks take the ``old_*`` values away and add the ``new_*`` ones. Outcomes
    travel as :class:`Outcome` values (plain strings, for the worker pipe)."""

    timestamp: float
    workload: str
    operation: str
    tx_hash: str
    sender: str
    nonce: int | None
    old_outcome: str
    new_outcome: str
    old_block: int | None
    new_block: int | None
    old_gas_used: int
    new_gas_used: int
    old_l1_gas_used: int = 0
    new_l1_gas_used: int = 0
    old_fee_wei: int = 0
    new_fee_wei: int = 0
    reason: str = ""  # "late receipt", "reorg", ...


@dataclass(frozen=True, slots=True)
class InputEvent:
    """The Cartesi application processed one InputBox input (``--iot-commit inputbox``):
    ``input_lag`` is seconds from the first sighting of the block holding its ``addInput``
    (by the block follower or the input reader: block timestamps are whole seconds, and the
    embedded chain's run ahead of wall time) to its processing; ``latencies`` one per record
    it kept, seconds from the device's submission (the node's acceptance) to its processing
    (end to end)."""

    timestamp: float
    input_index: int
    block_number: int
    records: int
    rejected: int
    input_lag: float
    latencies: tuple[float, ...] = ()


@dataclass(frozen=True, slots=True)
class ReorgEvent:
    """The block follower found blocks it had read replaced: ``depth`` blocks from
    ``fork_block`` on (the first block number whose contents changed) up to the head it had
    read; ``removed_head`` is the hash of that replaced head (the same reorg seen by several
    worker processes has the same one)."""

    timestamp: float
    depth: int
    fork_block: int
    removed_head: str


#: the finality stages of a sampled transaction, in order (utils/chain/finality.py)
FINALITY_STAGES = ("receipt", "batch_posted", "l1_confirmed")


@dataclass(frozen=True, slots=True)
class FinalityEvent:
    """A sampled transaction reached a finality stage (:data:`FINALITY_STAGES`): its receipt
    (the sequencer's soft confirmation), its block in a posted batch (NodeInterface
    ``findBatchContainingBlock`` answers), or that batch's N parent-chain confirmations
    (``getL1Confirmations`` >= N). ``latency``: seconds from the transaction's intended send
    time, as the run's transaction latency."""

    timestamp: float
    tx_hash: str
    workload: str
    stage: str
    latency: float
    block_number: int
    batch: int | None = None  # the batch holding its block (stages after the receipt)
    l1_block: int | None = None  # NodeInterface blockL1Num of its block (idem)


Event = (TxEvent | TxSentEvent | FiringEvent | TargetRateEvent | IotEvent | CommitStatusEvent
         | RpcEvent | HeadEvent | TxCorrectionEvent | ReorgEvent | InputEvent | FinalityEvent)
