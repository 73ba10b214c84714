"""Find receipts by following new blocks, one poll loop for all transactions.

The follower polls ``eth_blockNumber``; for new blocks it reads their headers and
transaction hashes (one batch), and hands the blocks holding tracked hashes to an
:class:`~utils.chain.block_outcomes.OutcomeReader` (receipts a block at a time, or on anvil
traces first). The provider is not trusted (:mod:`utils.chain.follower_repair`): a hash seen
in a block whose receipt is not served yet stays followed and is read again; each block's
``parentHash`` is checked against the block read before it, and a reorg is repaired.

A tracked transaction ends as success/reverted when its outcome is read; as dropped when its
sender's nonce at a block the follower has read is past it, its hash is in none of the
blocks read and the node does not know it; as timeout when it outlives its deadline and the
follower has read every block the node had at that deadline (or, with a node that stopped
answering, a grace period later). A timed-out or dropped transaction that turns up in a block
later is corrected (a :class:`~utils.observe.events.TxCorrectionEvent`).

The loop never dies: any error or unreadable reply is logged (once per distinct error and
at most every ``LOG_EVERY`` s), counted in :attr:`BlockFollower.errors` and retried at the
next poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import time
from typing import Any

from utils.chain.block_outcomes import OutcomeReader, ReceiptPath
from utils.chain.fees import FeePolicy
from utils.chain.follower_repair import FollowerRepair
from utils.chain.pending import GONE, Pending, correction_event, tx_event
from utils.chain.rpc import Rpc, hex_int
from utils.clock import Clock
from utils.errors import RpcError
from utils.observe.events import HeadEvent, Outcome
from utils.observe.stats import StatsHub

log = logging.getLogger(__name__)

MAX_BLOCKS_PER_ROUND = 32
LOG_EVERY = 10.0  # seconds between two warnings of the same error
MAX_GRACE = 30.0  # a deadline waits at most this long (or tx_timeout) for the blocks up to it

__all__ = ["BlockFollower", "Pending", "ReceiptPath"]


class BlockFollower(FollowerRepair):
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
        self._grace = min(tx_timeout, MAX_GRACE)
        self._poll = poll_interval
        self._pending: dict[str, Pending] = {}
        self._deadlines: list[tuple[float, int, Pending]] = []  # (expires at, seq, pending)
        self._seq = itertools.count()
        self.outcomes = OutcomeReader(rpc, self._pending, self._finish, receipts)
        self._tasks: list[asyncio.Task[None]] = []
        self._last_block: int | None = None
        self.head: int | None = None
        self.last_ok_at: float | None = None  # clock time of the last successful poll
        self.caught_up_at = 0.0  # clock time at which every block the node had was read
        self.last_error: str = ""
        self.errors = 0  # polls that failed (retried at the next one)
        self._logged: tuple[str, float] = ("", 0.0)
        self._init_repair()

    @property
    def block_receipts(self) -> bool | None:
        """eth_getBlockReceipts served? None: not asked yet."""
        return self.outcomes.block_receipts

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    def track(self, pending: Pending, deadline: float | None = None) -> None:
        """Follow ``pending`` until its outcome is known or ``deadline`` (run clock; default:
        its intended time + the timeout)."""
        self._pending[pending.tx_hash] = pending
        expires = pending.intended_at + self._tx_timeout if deadline is None else deadline
        heap = self._deadlines
        if len(heap) > 2 * len(self._pending) + 1024:  # mostly ended ones: drop them
            heap[:] = [e for e in heap if self._pending.get(e[2].tx_hash) is e[2]]
            heapq.heapify(heap)
        heapq.heappush(heap, (expires, next(self._seq), pending))

    def tracks(self, pending: Pending) -> bool:
        return self._pending.get(pending.tx_hash) is pending

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
        self.last_ok_at = self.caught_up_at = self._clock.now()
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
            self._give_up(p, "engine stopped before a receipt was seen")
        self._announce_repaired()

    async def drain(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while self._pending and time.monotonic() < deadline:  # noqa: ASYNC110 - polls the map
            await asyncio.sleep(min(self._poll, max(0.0, deadline - time.monotonic())))
        left = list(self._pending.values())
        for p in left:
            self._give_up(p, f"no receipt within the {timeout:g} s drain")
        return len(left)

    async def _run(self) -> None:
        while True:
            try:
                await self.poll_once()
                self.last_ok_at = self._clock.now()
                self.last_error = ""
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the follower outlives any reply
                self._failed(exc)
            await asyncio.sleep(self._poll)

    def _failed(self, exc: Exception) -> None:
        """Count and log (rate-limited) a failed poll; the next poll tries again."""
        self.errors += 1
        text = exc.rpc_message if isinstance(exc, RpcError) else f"{type(exc).__name__}: {exc}"
        now = time.monotonic()
        if text != self._logged[0] or now - self._logged[1] > LOG_EVERY:
            self._logged = (text, now)
            log.warning("block follower: %s (%d failed polls so far; retrying)",
                        exc if isinstance(exc, RpcError) else text, self.errors)
        self.last_error = text[:300]

    async def _expire_loop(self) -> None:
        """Deadlines are enforced even while an RPC call hangs."""
        while True:
            self._expire()
            await asyncio.sleep(0.1)

    async def poll_once(self) -> None:
        asked_at = self._clock.now()
        head = hex_int(await self._rpc.call("eth_blockNumber"))
        self._note_head(asked_at, head)
        if await self._read_to(head):
            self.caught_up_at = asked_at
        await self._repair()

    async def _read_to(self, head: int) -> bool:
        """Read the blocks up to ``head``; False when the node did not serve them all yet."""
        assert self._last_block is not None
        while head > self._last_block:
            first = self._last_block + 1
            last = min(head, self._last_block + MAX_BLOCKS_PER_ROUND)
            calls = [("eth_getBlockByNumber", [hex(n), False]) for n in range(first, last + 1)]
            for block in await self._rpc.batch(calls):
                if isinstance(block, RpcError):
                    raise block
                if block is None:
                    return False  # not served yet (load-balanced node): next poll
                number = hex_int(block["number"])
                if not self._window.parent_ok(number, str(block["parentHash"])):
                    await self._on_reorg(number)
                    break  # read again from the fork
                await self._on_block(number, block)
                self._last_block = number
        return True

    async def _on_block(self, number: int, block: dict[str, Any]) -> None:
        self._window.add(number, str(block["hash"]))
        self.head = number
        self._fees.observe_block(block)
        self._hub.emit(HeadEvent(number, self._clock.now()))
        hashes = [t.lower() for t in block.get("transactions", [])]
        pending = self._pending
        ours = [h for h in hashes if h in pending]
        if self._late and len(ours) < len(hashes):
            ours += self._late_in(hashes)
        if ours:
            await self.outcomes.on_block(block, ours)
            unread = [h for h in ours if h in pending]
            if unread:  # receipts not served yet (a lagging provider): read again
                self._mark_unread(number, unread)

    def _expire(self) -> None:
        now = self._clock.now()
        heap = self._deadlines
        while heap and heap[0][0] < now:
            deadline, seq, p = heap[0]
            if self._pending.get(p.tx_hash) is not p:
                heapq.heappop(heap)
            elif p.tx_hash in self._included:  # in a block, receipt not served yet
                heapq.heapreplace(heap, (deadline + self._tx_timeout, seq, p))
            elif self.caught_up_at < deadline and now < deadline + self._grace:
                return  # the blocks up to the deadline are not all read yet
            else:
                heapq.heappop(heap)
                self._give_up(p, f"no receipt within {self._tx_timeout:g} s")

    def _give_up(self, p: Pending, error: str) -> None:
        """No outcome read for ``p`` in time: timeout; for a transaction followed again, the
        record stands if it said "not on chain", else it is no longer on chain (reorged)."""
        old = p.corrects
        if old is None:
            self._finish(p, Outcome.TIMEOUT, error=error)
        elif old.outcome in GONE:
            self.untrack(p)
            self._watch_late(old)
        else:
            self._finish(p, Outcome.REORGED, error="not on chain after a reorg")

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
        if self._included:
            self._included.pop(p.tx_hash, None)
        event = tx_event(p, outcome, self._clock.now(), block=block, gas_used=gas_used,
                         error=error, l1_gas_used=l1_gas_used,
                         effective_gas_price=effective_gas_price)
        if block is not None:
            self._window.record(event, p.raw)
        elif p.tx_hash:
            self._watch_late(event)
        if p.corrects is not None:
            correction = correction_event(p.corrects, event)
            if correction is not None:
                self.corrections += 1
                self._hub.emit(correction)
            return
        self._hub.emit(event)
        if not p.future.done():
            p.future.set_result(event)
