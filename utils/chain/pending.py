"""A sent transaction the block follower is waiting for, and the one event that ends it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from utils.observe.events import Outcome, TxEvent


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
