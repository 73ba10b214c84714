"""Reading the outcomes of our transactions in a block: receipts, or traces where cheaper.

For the blocks holding tracked hashes the reader asks a block at a time:
``eth_getBlockReceipts`` where the node has it and the block is mostly ours, else one batch of
``eth_getTransactionReceipt`` for our hashes. On anvil (``web3_clientVersion``
``anvil/...``), whose receipts each cost time in proportion to the block's size, plain
transfers are finished from the block's ``trace_block`` first and only the rest from receipts
(:mod:`utils.chain.trace_outcomes`). ``receipts=`` forces a path: ``"block"``
(eth_getBlockReceipts where served), ``"hash"`` or ``"trace"``; ``"auto"`` picks.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Literal

from utils.chain.pending import Pending
from utils.chain.rpc import Rpc, TypedReply, hex_int
from utils.chain.rpc_faults import is_unsupported
from utils.chain.trace_outcomes import (
    decode_trace_block,
    is_anvil,
    plain_gas_used,
    price_per_gas,
    root_traces,
)
from utils.errors import RpcError, RpcReplyError
from utils.observe.events import Outcome

log = logging.getLogger(__name__)

BLOCK_RECEIPTS_SHARE = 0.25  # eth_getBlockReceipts when at least this share of a block is ours
ReceiptPath = Literal["auto", "block", "hash", "trace"]
Finish = Callable[..., None]  # BlockFollower._finish(pending, outcome, *, block=, gas_used=, ...)


_UNSERVED = object()  # a method the node does not have


def _no_method(exc: RpcError) -> bool:
    """Any node's "no such method" (-32601, -32004, -32700, -32000 + text, HTTP 4xx); a
    transient error is never read so (the transport retried it)."""
    return is_unsupported(exc)


class OutcomeReader:
    """Finishes tracked transactions (``pending``, by lower-case hash) through ``finish``."""

    def __init__(self, rpc: Rpc, pending: dict[str, Pending], finish: Finish,
                 receipts: ReceiptPath = "auto") -> None:
        self._rpc = rpc
        self._pending = pending
        self._finish = finish
        self._path = receipts
        self.block_receipts: bool | None = False if receipts == "hash" else None  # None: unknown
        self.traces = receipts == "trace"  # plain transfers' outcomes from trace_block
        self.trace_outcomes = 0  # transactions finished from traces
        self.trace_mismatches = 0  # whole blocks whose gas sum disagreed (receipts decided)

    async def detect(self) -> None:
        """``"auto"``: traces on anvil, receipts elsewhere."""
        if self._path == "auto":
            try:
                self.traces = is_anvil(str(await self._rpc.call("web3_clientVersion")))
            except RpcError:
                self.traces = False

    async def on_block(self, block: dict[str, Any], ours: list[str]) -> None:
        """Finish our transactions (``ours``: hashes) included in ``block``."""
        if self.traces:
            ours = await self._from_traces(block, ours)
            if not ours:
                return
        mostly_ours = len(ours) >= BLOCK_RECEIPTS_SHARE * len(block.get("transactions", []))
        if mostly_ours and self.block_receipts is not False and await self._block_receipts(
                block["number"]):
            return
        await self.by_hash(ours)

    async def _from_traces(self, block: dict[str, Any], ours: list[str]) -> list[str]:
        """Finish our plain transfers from the block's traces; the hashes left to receipts."""
        try:
            traces = await self._optional("trace_block", block["number"],
                                          fallback="outcomes from receipts",
                                          decoder=decode_trace_block)
        except RpcReplyError as exc:  # not the traces we read: receipts from now on
            log.warning("trace_block's reply unreadable (%s): outcomes from receipts", exc)
            traces = _UNSERVED
        if traces is _UNSERVED:
            self.traces = False
            return ours
        if not isinstance(traces, list):
            return ours  # not served yet: receipts
        roots = root_traces(traces)
        proven, rest = [], []
        for tx_hash in ours:
            p = self._pending.get(tx_hash)
            if p is None:  # ended while the traces were read (a send's answer came)
                continue
            gas = plain_gas_used(p, roots.get(tx_hash))
            if gas is None:
                rest.append(tx_hash)
            else:
                proven.append((p, gas))
        if len(proven) == len(block.get("transactions", [])) and \
                sum(g for _, g in proven) != hex_int(block.get("gasUsed", "0x0")):
            log.warning("block %s: gas from traces does not add up to the block's gasUsed; "
                        "receipts decide", block["number"])
            self.trace_mismatches += 1
            return ours
        number, base_fee = hex_int(block["number"]), hex_int(block.get("baseFeePerGas") or 0)
        for p, gas in proven:
            self._finish(p, Outcome.SUCCESS, block=number, gas_used=gas,
                         effective_gas_price=price_per_gas(p, base_fee))
        self.trace_outcomes += len(proven)
        return rest

    async def _block_receipts(self, number: str) -> bool:
        """Finish our transactions from the block's receipts; False if the node has none."""
        receipts = await self._optional("eth_getBlockReceipts", number,
                                        fallback="receipts by hash")
        if receipts is _UNSERVED:
            self.block_receipts = False
            return False
        if not isinstance(receipts, list):
            return False  # not served yet (load-balanced node): by hash
        self.block_receipts = True
        for receipt in receipts:
            if isinstance(receipt, dict):
                p = self._pending.get(str(receipt.get("transactionHash")).lower())
                if p is not None:
                    self._finish_receipt(p, receipt)
        return True

    async def _optional(self, method: str, number: str, *, fallback: str,
                        decoder: Callable[[bytes], TypedReply] | None = None) -> Any:
        """``method(number)``'s answer, or ``_UNSERVED`` when the node has no such method
        (logged once with what is read instead)."""
        try:
            return await self._rpc.call(method, number, decoder=decoder)
        except RpcError as exc:
            if not _no_method(exc):
                raise
            log.info("%s unavailable (%s): %s", method, exc, fallback)
            return _UNSERVED

    async def by_hash(self, hashes: list[str]) -> list[str]:
        """Fetch receipts in one batch and finish those found; returns hashes with none."""
        receipts = await self._rpc.batch([("eth_getTransactionReceipt", [h]) for h in hashes])
        missing = []
        for tx_hash, receipt in zip(hashes, receipts, strict=True):
            pending = self._pending.get(tx_hash)
            if pending is not None and not self._finish_receipt(pending, receipt):
                missing.append(tx_hash)
        return missing

    def _finish_receipt(self, pending: Pending, receipt: Any) -> bool:
        """Finish ``pending`` from its receipt; False when ``receipt`` is none (not served
        yet, an error, or a receipt of no block yet)."""
        if not isinstance(receipt, dict) or receipt.get("blockNumber") is None:
            return False
        ok = hex_int(receipt.get("status", "0x1")) == 1
        self._finish(
            pending,
            Outcome.SUCCESS if ok else Outcome.REVERTED,
            block=hex_int(receipt["blockNumber"]),
            gas_used=hex_int(receipt["gasUsed"]),
            error="" if ok else "execution reverted",
            l1_gas_used=hex_int(receipt.get("gasUsedForL1") or "0x0"),  # Nitro only
            effective_gas_price=hex_int(receipt.get("effectiveGasPrice") or "0x0"),
        )
        return True
