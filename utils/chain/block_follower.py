"""Find receipts by following new blocks, one poll loop for all transactions.

The follower polls ``eth_blockNumber``; for new blocks it reads their headers and
transaction hashes (one batch), and hands the blocks holding tracked hashes to an
:class:`~utils.chain.block_outcomes.OutcomeReader` (receipts a block at a time, or on anvil
traces first). A tracked transaction ends as success/reverted when its outcome is read,
dropped when its sender's nonce was used by another transaction, or timeout when it outlives
the deadline (a heap of deadlines, not a scan).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import time
from collections import defaultdict
from typing import Any

from utils.chain.block_outcomes import OutcomeReader, ReceiptPath
from utils.chain.fees import FeePolicy
from utils.chain.pending import Pending, tx_event
from utils.chain.rpc import Rpc, hex_int
from utils.clock import Clock
from utils.errors import RpcError
from utils.observe.events import HeadEvent, Outcome
from utils.observe.stats import StatsHub

log = logging.getLogger(__name__)

MAX_BLOCKS_PER_ROUND = 32
DROP_CHECK_EVERY = 1.0  # seconds between nonce checks for old transactions
DROP_CHECK_AGE = 3.0  # a transaction this old (s) and not seen is checked

__all__ = ["BlockFollower", "Pending", "ReceiptPath"]


class BlockFollower:
    def __init__(
        self,
        rpc: Rpc,
        hub: StatsHub,
        clock: Clock,
        fees: FeePolicy,
        *,
        tx_timeout: float,
        poll_interval: float,
        receipts: ReceiptPath = "auto",
    ) -> None:
        self._rpc = rpc
        self._hub = hub
        self._clock = clock
        self._fees = fees
        self._tx_timeout = tx_timeout
        self._poll = poll_interval
        self._pending: dict[str, Pending] = {}
        self._deadlines: list[tuple[float, int, Pending]] = []  # (expires at, seq, pending)
        self._seq = itertools.count()
        self.outcomes = OutcomeReader(rpc, self._pending, self._finish, receipts)
        self._tasks: list[asyncio.Task[None]] = []
        self._last_block: int | None = None
        self._last_drop_check = 0.0
        self.head: int | None = None
        self.last_ok_at: float | None = None  # clock time of the last successful poll
        self.last_error: str = ""

    @property
    def block_receipts(self) -> bool | None:
        """eth_getBlockReceipts served? None: not asked yet."""
        return self.outcomes.block_receipts

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    def track(self, pending: Pending) -> None:
        self._pending[pending.tx_hash] = pending
        heap = self._deadlines
        if len(heap) > 2 * len(self._pending) + 1024:  # mostly ended ones: rebuild
            heap[:] = [(p.intended_at + self._tx_timeout, next(self._seq), p)
                       for p in self._pending.values()]
            heapq.heapify(heap)
        else:
            heapq.heappush(heap, (pending.intended_at + self._tx_timeout, next(self._seq),
                                  pending))

    def untrack(self, pending: Pending) -> bool:
        """Stop following ``pending`` without an event (its send was refused); False if it
        had already ended."""
        if self._pending.get(pending.tx_hash) is pending:
            del self._pending[pending.tx_hash]
            return True
        return False

    async def start(self) -> None:
        await self.outcomes.detect()
        self._last_block = hex_int(await self._rpc.call("eth_blockNumber"))
        self.head = self._last_block
        self.last_ok_at = self._clock.now()
        self._tasks = [
            asyncio.create_task(self._run(), name="block-follower"),
            asyncio.create_task(self._expire_loop(), name="tx-deadlines"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        for p in list(self._pending.values()):
            self._finish(p, Outcome.TIMEOUT, error="engine stopped before a receipt was seen")

    async def drain(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while self._pending and time.monotonic() < deadline:  # noqa: ASYNC110 - polls the map
            await asyncio.sleep(min(self._poll, max(0.0, deadline - time.monotonic())))
        left = list(self._pending.values())
        for p in left:
            self._finish(p, Outcome.TIMEOUT, error=f"no receipt within the {timeout:g} s drain")
        return len(left)

    async def _run(self) -> None:
        while True:
            try:
                await self.poll_once()
                self.last_ok_at = self._clock.now()
                self.last_error = ""
            except RpcError as exc:
                if exc.rpc_message != self.last_error:
                    log.warning("block follower: %s", exc)
                self.last_error = exc.rpc_message
            await asyncio.sleep(self._poll)

    async def _expire_loop(self) -> None:
        """Deadlines are enforced even while an RPC call hangs."""
        while True:
            self._expire()
            await asyncio.sleep(0.1)

    async def poll_once(self) -> None:
        head = hex_int(await self._rpc.call("eth_blockNumber"))
        assert self._last_block is not None
        while head > self._last_block:
            first = self._last_block + 1
            last = min(head, self._last_block + MAX_BLOCKS_PER_ROUND)
            calls = [("eth_getBlockByNumber", [hex(n), False]) for n in range(first, last + 1)]
            blocks = await self._rpc.batch(calls)
            for block in blocks:
                if isinstance(block, RpcError):
                    raise block
                if block is None:
                    return  # not served yet (load-balanced node): try again next poll
                await self._on_block(block)
                self._last_block = hex_int(block["number"])
        if time.monotonic() - self._last_drop_check > DROP_CHECK_EVERY:
            self._last_drop_check = time.monotonic()
            await self._check_old()

    async def _on_block(self, block: dict[str, Any]) -> None:
        number = hex_int(block["number"])
        self.head = number
        self._fees.observe_block(block)
        self._hub.emit(HeadEvent(number, self._clock.now()))
        hashes = block.get("transactions", [])
        pending = self._pending
        ours = [h for h in (t.lower() for t in hashes) if h in pending]
        if ours:
            await self.outcomes.on_block(block, ours)

    async def _check_old(self) -> None:
        """Old unseen txs: a receipt we missed, or a nonce used by someone else (dropped).

        Nonces are read at the last block whose outcomes were read, not at "latest": a tx in a
        block sealed since is not old, just not read yet (asking its receipt by hash would cost
        anvil a copy of that block per hash)."""
        now = self._clock.now()
        old = [p for p in self._pending.values() if now - p.sent_at > DROP_CHECK_AGE]
        if not old or self._last_block is None:
            return
        at = hex(self._last_block)
        by_sender: dict[str, list[Pending]] = defaultdict(list)
        for p in old:
            by_sender[p.sender].append(p)
        senders = list(by_sender)
        counts = await self._rpc.batch(
            [("eth_getTransactionCount", [s, at]) for s in senders]
        )
        used = [
            p
            for s, count in zip(senders, counts, strict=True)
            if not isinstance(count, RpcError)
            for p in by_sender[s]
            if p.nonce < hex_int(count)
        ]
        if used:
            for tx_hash in await self.outcomes.by_hash([p.tx_hash for p in used]):
                p = self._pending[tx_hash]
                self._finish(p, Outcome.DROPPED, error="nonce used by another transaction")

    def _expire(self) -> None:
        now = self._clock.now()
        heap = self._deadlines
        while heap and heap[0][0] < now:
            p = heapq.heappop(heap)[2]
            if self._pending.get(p.tx_hash) is p:
                self._finish(p, Outcome.TIMEOUT, error=f"no receipt within {self._tx_timeout:g} s")

    def _finish(
        self,
        p: Pending,
        outcome: Outcome,
        *,
        block: int | None = None,
        gas_used: int = 0,
        error: str = "",
        l1_gas_used: int = 0,
        effective_gas_price: int = 0,
    ) -> None:
        if self._pending.get(p.tx_hash) is not p:
            return
        del self._pending[p.tx_hash]
        event = tx_event(p, outcome, self._clock.now(), block=block, gas_used=gas_used,
                         error=error, l1_gas_used=l1_gas_used,
                         effective_gas_price=effective_gas_price)
        self._hub.emit(event)
        if not p.future.done():
            p.future.set_result(event)
