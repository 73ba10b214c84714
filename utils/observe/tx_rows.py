"""The rows of ``tx_metrics.csv``: its columns, and one row per :class:`TxEvent`.

Time columns: ``timestamp`` is ISO-8601 UTC with milliseconds
(``2025-01-31T12:00:00.123Z``); every ``*_at`` column is unix seconds with
millisecond precision (``1738324800.123``); empty when unknown. A worker process
formats its rows itself (:mod:`utils.observe.tally`), with the same function. The
``error`` column shows a URL as scheme://host:port (:mod:`utils.redact`: an RPC error
quotes the endpoint, whose path or query may hold an API key).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from utils.observe.events import TxEvent
from utils.redact import redact_text

#: characters that make the ``csv`` module (excel dialect, minimal quoting) quote a field
_SPECIAL = frozenset(',"\r\n')

TX_COLUMNS: tuple[str, ...] = (
    # the original system's columns, in its order
    "timestamp", "module", "tx_hash", "status", "gas_used", "latency_sec", "error",
    # added
    "intended_at", "sent_at", "included_at", "block_number", "sender", "nonce", "workload",
    "operation",
    # costs (issue 12): gasUsedForL1 (0 off Nitro), effectiveGasPrice, gasUsed x price
    "l1_gas_used", "effective_gas_price_wei", "fee_wei",
)  # fmt: skip


def iso_utc(unix: float) -> str:
    """Unix seconds -> ISO-8601 UTC with milliseconds and a ``Z``."""
    return datetime.fromtimestamp(unix, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


def unix_ms(unix: float | None) -> str:
    return "" if unix is None else f"{unix:.3f}"


def one_line(text: str) -> str:
    """``text`` on one line, URLs in it redacted (the error column)."""
    return redact_text(" ".join(text.split())) if text else text


def tx_row(e: TxEvent) -> list[Any]:
    return [
        iso_utc(e.finished_at), e.module, e.tx_hash, e.outcome.value, e.gas_used,
        f"{e.latency:.9f}", one_line(e.error), unix_ms(e.intended_at), unix_ms(e.sent_at),
        unix_ms(e.included_at), "" if e.block_number is None else e.block_number, e.sender,
        "" if e.nonce is None else e.nonce, e.workload, e.operation, e.l1_gas_used,
        e.effective_gas_price, e.fee_wei,
    ]  # fmt: skip


def _field(text: str) -> str:
    """A text field as ``csv.writer`` writes it (quoted only when it must be)."""
    if _SPECIAL.isdisjoint(text):
        return text
    return '"' + text.replace('"', '""') + '"'


def tx_line(e: TxEvent) -> str:
    """:func:`tx_row` as the CSV line ``csv.writer`` would write (``\\r\\n`` ended), built
    without it: a worker formats a line per transaction (the test compares both)."""
    block = "" if e.block_number is None else str(e.block_number)
    nonce = "" if e.nonce is None else str(e.nonce)
    sent = "" if e.sent_at is None else f"{e.sent_at:.3f}"
    included = "" if e.block_number is None else f"{e.finished_at:.3f}"
    return (f"{iso_utc(e.finished_at)},{_field(e.module)},{_field(e.tx_hash)},"
            f"{e.outcome.value},{e.gas_used},{e.latency:.9f},{_field(one_line(e.error))},"
            f"{e.intended_at:.3f},{sent},{included},{block},{_field(e.sender)},{nonce},"
            f"{_field(e.workload)},{_field(e.operation)},{e.l1_gas_used},"
            f"{e.effective_gas_price},{e.gas_used * e.effective_gas_price}\r\n")
