"""The last blocks the follower read: their hashes, for reorg detection, and the outcomes
recorded in each, for the repair.

Every block read is added with its hash; a new block whose ``parentHash`` is not the hash
kept for the block before it means the chain the follower read was replaced (a reorg).
:func:`find_fork` then reads the node's blocks of the window's numbers (one batch) and finds
the last one both chains share; :meth:`BlockWindow.cut` takes the replaced blocks out and
hands back the outcomes recorded in them, to be checked again.

Bounded: ``size`` blocks (64), and at most ``max_events`` recorded outcomes (the oldest
blocks' records are let go first; a reorg reaching below them is logged, its hashes still
compared). Recording an outcome is a dict lookup and a list append.
"""

from __future__ import annotations

import logging

from utils.chain.rpc import Rpc
from utils.errors import RpcError
from utils.observe.events import TxEvent

log = logging.getLogger(__name__)

WINDOW_BLOCKS = 64
MAX_RECORDED = 100_000


class BlockWindow:
    def __init__(self, size: int = WINDOW_BLOCKS, max_events: int = MAX_RECORDED) -> None:
        self.size = size
        self.max_events = max_events
        self.hashes: dict[int, str] = {}  # block number -> hash, oldest first
        self._recorded: dict[int, list[tuple[TxEvent, str]]] = {}  # (outcome, raw)
        self._events = 0
        self.recorded_from = 0  # outcomes are kept for blocks from this number on

    def add(self, number: int, block_hash: str) -> None:
        self.hashes[number] = block_hash.lower()
        old = number - self.size
        self.hashes.pop(old, None)
        self._drop_records(old)

    def parent_ok(self, number: int, parent_hash: str) -> bool:
        """False when the block before ``number`` was read with another hash."""
        kept = self.hashes.get(number - 1)
        return kept is None or kept == parent_hash.lower()

    def record(self, event: TxEvent, raw: str = "") -> None:
        """Keep ``event`` (an outcome read in block ``event.block_number``) and the signed
        bytes of its transaction (``raw``, 0x-hex, "" if unknown) for a repair."""
        number = event.block_number
        if number is None or number not in self.hashes:
            return
        records = self._recorded.get(number)
        if records is None:
            records = self._recorded[number] = []
        records.append((event, raw))
        self._events += 1
        if self._events > self.max_events:
            self._drop_records(min(self._recorded))

    def _drop_records(self, number: int) -> None:
        records = self._recorded.pop(number, None)
        if records is not None:
            self._events -= len(records)
            self.recorded_from = max(self.recorded_from, number + 1)

    def cut(self, fork_block: int) -> list[tuple[TxEvent, str]]:
        """Forget blocks ``fork_block`` and above; the outcomes recorded in them, with their
        transactions' signed bytes."""
        if fork_block < self.recorded_from:
            log.error("reorg from block %d: outcomes kept only from block %d on; the ones "
                      "below are not checked again", fork_block, self.recorded_from)
        events: list[tuple[TxEvent, str]] = []
        for number in [n for n in self.hashes if n >= fork_block]:
            del self.hashes[number]
            records = self._recorded.pop(number, None)
            if records:
                self._events -= len(records)
                events += records
        return events


async def find_fork(rpc: Rpc, window: BlockWindow, number: int) -> int:
    """The first block number (<= ``number``) whose block is not the one the window read:
    the node's blocks below ``number`` are read in one batch and compared from the top."""
    numbers = [n for n in sorted(window.hashes, reverse=True) if n < number]
    if not numbers:
        return number
    replies = await rpc.batch([("eth_getBlockByNumber", [hex(n), False]) for n in numbers])
    for n, block in zip(numbers, replies, strict=True):
        if isinstance(block, RpcError):
            raise block
        if not isinstance(block, dict):
            raise RpcError("eth_getBlockByNumber", f"block {n} not served while looking for "
                           "a reorg's fork")
        if str(block["hash"]).lower() == window.hashes[n]:
            return n + 1
    log.error("reorg deeper than the %d blocks kept: from block %d on", len(numbers),
              numbers[-1])
    return numbers[-1]
