"""A sent transaction the block follower is waiting for, and the events that end it.

A transaction ends in one :class:`TxEvent`. When the chain later shows something else (a
receipt after a timeout or a drop, a reorg that moved or removed it), the follower follows it
again as a :class:`Pending` whose ``corrects`` is the record it replaces, and its end is a
:class:`TxCorrectionEvent` instead (:func:`correction_event`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from utils.observe.events import Outcome, TxCorrectionEvent, TxEvent

#: outcomes that say the transaction is not on chain (a later inclusion corrects them)
GONE = frozenset({Outcome.REJECTED, Outcome.DROPPED, Outcome.TIMEOUT, Outcome.REORGED})


@dataclass(slots=True, eq=False)
class Pending:
    workload: str
    module: str
    operation: str
    tx_hash: str
    sender: str
    nonce: int
    intended_at: float
    sent_at: float
    future: asyncio.Future[TxEvent]
    #: what the engine signed, for outcomes read from traces (utils/chain/trace_outcomes.py)
    gas_limit: int = 0
    plain: bool = False  # a value transfer: a recipient and no calldata
    max_fee: int = 0  # per gas; legacy: the gas price (as priority_fee)
    priority_fee: int = 0
    #: the record this transaction already has (followed again to correct it), else None
    corrects: TxEvent | None = None
    raw: str = ""  # the signed bytes as sent (0x-hex): sent again after a reorg removed them


def tx_event(
    p: Pending, outcome: Outcome, finished_at: float, *, block: int | None = None,
    gas_used: int = 0, error: str = "", l1_gas_used: int = 0, effective_gas_price: int = 0,
) -> TxEvent:
    return TxEvent(
        workload=p.workload, module=p.module, outcome=outcome, tx_hash=p.tx_hash,
        intended_at=p.intended_at, sent_at=p.sent_at, finished_at=finished_at,
        block_number=block, gas_used=gas_used, sender=p.sender, nonce=p.nonce, error=error,
        operation=p.operation, l1_gas_used=l1_gas_used, effective_gas_price=effective_gas_price,
    )


def follow_again(record: TxEvent, raw: str = "") -> Pending:
    """A transaction with a record, followed again to correct it (outcomes from receipts:
    nothing of what was signed is kept)."""
    future: asyncio.Future[TxEvent] = asyncio.get_running_loop().create_future()
    future.set_result(record)  # nobody waits: the first event was delivered
    return Pending(
        workload=record.workload, module=record.module, operation=record.operation,
        tx_hash=record.tx_hash, sender=record.sender, nonce=record.nonce or 0,
        intended_at=record.intended_at, sent_at=record.sent_at or record.intended_at,
        future=future, corrects=record, raw=raw,
    )


def correction_event(old: TxEvent, new: TxEvent) -> TxCorrectionEvent | None:
    """``new`` replacing ``old`` (None when outcome, block and gas are the same)."""
    if (old.outcome, old.block_number, old.gas_used, old.effective_gas_price) == (
            new.outcome, new.block_number, new.gas_used, new.effective_gas_price):
        return None
    reason = "late receipt" if old.outcome in GONE and new.outcome not in GONE else (
        "reorg" if old.outcome not in GONE else "not on chain")
    return TxCorrectionEvent(
        timestamp=new.finished_at, workload=new.workload, operation=new.operation,
        tx_hash=new.tx_hash, sender=new.sender, nonce=new.nonce,
        old_outcome=old.outcome.value, new_outcome=new.outcome.value,
        old_block=old.block_number, new_block=new.block_number, old_gas_used=old.gas_used,
        new_gas_used=new.gas_used, old_l1_gas_used=old.l1_gas_used,
        new_l1_gas_used=new.l1_gas_used, old_fee_wei=old.fee_wei, new_fee_wei=new.fee_wei,
        reason=reason,
    )
