"""Outcomes of plain value transfers from a block's call traces, where receipts cost too much.

anvil builds every receipt it serves from a copy of the whole block (and of all the block's
receipts), so one receipt costs time in proportion to the block's size and a block's receipts
cost its size squared: about 0.17 us x N per receipt on this machine, 430 us each in a block of
2,500 transfers, 1.1 ms each at 5,000 (bench/README.md, "anvil_ratio.py"). Its ``trace_block``
reads the call traces it stored when it mined the block: about 7 us per transaction at any
size. So on anvil the block follower finishes plain transfers from the traces and asks
receipts only for the rest (geth, Nitro and the embedded chain serve receipts cheaply and keep
the receipt path).

What a trace proves, for a transaction the engine signed with no calldata and a recipient
(``Pending.plain``): a top-level ``call`` trace without ``error`` means status 1; its
``result.gasUsed`` is the gas spent by execution after the intrinsic charge, and its
``action.gas`` is the gas limit minus that intrinsic charge, as the node computed it (access
lists, EIP-7702 and every other fork rule included). When execution spent 0 gas nothing could
earn a refund, and with no calldata EIP-7623's floor is 21,000, below any intrinsic charge:
the receipt's gasUsed is then exactly ``gas limit - action.gas``. Anything else (execution that
spent gas, an error, calldata, a creation, no trace) is left to the receipts. Where a whole
block is ours, the sum is checked against the block's ``gasUsed`` as well.
"""

from __future__ import annotations

from typing import Any, Protocol

import msgspec

from utils.chain.rpc import hex_int

Quantity = str | int  # JSON-RPC quantities are 0x-hex; a few nodes send numbers


class TraceAction(msgspec.Struct, gc=False):
    gas: Quantity | None = None


class TraceResult(msgspec.Struct, gc=False, rename="camel"):
    gas_used: Quantity | None = None


class Trace(msgspec.Struct, gc=False, rename="camel"):
    """The fields of a parity-style call trace the outcome reads; the rest is skipped
    unread (no objects are built for it: decoding a block of transfers costs 0.6 us per
    trace against 3.9 us through ``json.loads``)."""

    transaction_hash: str | None = None
    trace_address: list[int] | None = None
    type: str = ""
    error: str | None = None
    result: TraceResult | None = None
    action: TraceAction | None = None


class TraceBlockReply(msgspec.Struct, gc=False):
    """A JSON-RPC reply to ``trace_block`` (decoded structs hold no reference cycles)."""

    result: list[Trace] | None = None
    error: Any = None


#: reads a ``trace_block`` reply body (``Rpc.call(..., decoder=)``)
decode_trace_block = msgspec.json.Decoder(TraceBlockReply).decode


class Priced(Protocol):
    """What the engine knows of a transaction it signed (a ``Pending``)."""

    @property
    def plain(self) -> bool: ...
    @property
    def gas_limit(self) -> int: ...
    @property
    def max_fee(self) -> int: ...
    @property
    def priority_fee(self) -> int: ...


def is_anvil(client_version: str) -> bool:
    """``web3_clientVersion`` of anvil: ``anvil/v1.7.1``."""
    return client_version.lower().startswith("anvil/")


def root_traces(traces: list[Trace]) -> dict[str, Trace]:
    """Each transaction's top-level trace (empty ``traceAddress``), by lower-case hash."""
    return {t.transaction_hash.lower(): t for t in traces
            if not t.trace_address and t.transaction_hash}


def plain_gas_used(tx: Priced, trace: Trace | None) -> int | None:
    """The receipt's gasUsed of a successful plain transfer, from its trace; None when the
    trace does not prove it (the receipt decides)."""
    if trace is None or not tx.plain or trace.type != "call" or trace.error:
        return None
    result, action = trace.result, trace.action
    if result is None or action is None or action.gas is None or result.gas_used is None:
        return None
    if hex_int(result.gas_used) != 0:
        return None
    gas = tx.gas_limit - hex_int(action.gas)
    return gas if 0 < gas <= tx.gas_limit else None


def price_per_gas(tx: Priced, base_fee: int) -> int:
    """Price per gas paid: min(max fee, base fee + tip); legacy: max fee = tip = gas price."""
    return min(tx.max_fee, base_fee + tx.priority_fee)
