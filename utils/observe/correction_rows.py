"""The rows of ``tx_corrections.csv``: one per :class:`TxCorrectionEvent`.

``tx_metrics.csv`` keeps one row per transaction, its outcome as first recorded. When the
chain later shows something else (a receipt after a timeout or a drop, a reorg that moved or
removed the transaction), a row here replaces that row's outcome, block and costs: a reader
takes ``old_*`` away and adds ``new_*`` (a transaction corrected twice has two rows, each
starting from the one before). Time columns as in :mod:`utils.observe.tx_rows`.
"""

from __future__ import annotations

from typing import Any

from utils.observe.events import TxCorrectionEvent
from utils.observe.tx_rows import iso_utc

CORRECTION_COLUMNS: tuple[str, ...] = (
    "timestamp", "workload", "operation", "tx_hash", "sender", "nonce", "old_status",
    "new_status", "old_block_number", "new_block_number", "old_gas_used", "new_gas_used",
    "old_l1_gas_used", "new_l1_gas_used", "old_fee_wei", "new_fee_wei", "reason",
)  # fmt: skip


def _blank(value: int | None) -> Any:
    return "" if value is None else value


def correction_row(e: TxCorrectionEvent) -> list[Any]:
    return [
        iso_utc(e.timestamp), e.workload, e.operation, e.tx_hash, e.sender, _blank(e.nonce),
        e.old_outcome, e.new_outcome, _blank(e.old_block), _blank(e.new_block),
        e.old_gas_used, e.new_gas_used, e.old_l1_gas_used, e.new_l1_gas_used, e.old_fee_wei,
        e.new_fee_wei, e.reason,
    ]  # fmt: skip
