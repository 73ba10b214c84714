"""The block follower's rare paths: receipts that lag, drops, late receipts (and reorgs).

Mixed into :class:`~utils.chain.block_follower.BlockFollower`; nothing here runs per
transaction in the normal case.

* Receipt lag. A tracked hash seen in a block whose outcome could not be read (the receipt
  not served yet, as on a load-balanced provider) is *included*: it stays followed, is
  exempt from the drop check and the deadline, and its receipts are asked again with a
  backoff (0.25 s doubling to 2 s) until served.
* Drop. Every ``DROP_CHECK_EVERY`` s, transactions sent ``DROP_CHECK_AGE`` s ago and not seen
  in a block: their senders' nonces are read at the last block the follower read (a block the
  node has served); a transaction whose nonce is below it is in none of the blocks read, so
  it is dropped once ``eth_getTransactionByHash`` confirms the node does not know it (a hash
  the node places in a block already read is read as lagging instead). One at or after its
  sender's nonce and in none of the ``STALL_BLOCKS`` blocks the node made after its send
  (read) is *stalled*:
  its same bytes are sent again (every ``STALL_RESEND_EVERY`` s at most; ganache 7 mines such
  transactions only then).
* Late. Transactions that ended timeout, dropped, rejected with a hash, or reorged are
  watched (``MAX_LATE``, the oldest let go): seen in a block later, they are followed again and
  their outcome corrected.
* Reorg: :mod:`utils.chain.follower_reorg` (a base of this class).
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict, defaultdict, deque
from dataclasses import dataclass

from utils.chain.block_outcomes import OutcomeReader
from utils.chain.block_window import BlockWindow
from utils.chain.follower_reorg import FollowerReorg
from utils.chain.pending import Pending, follow_again
from utils.chain.rpc import Rpc, hex_int
from utils.chain.send_verify import SEND_RAW, STALL_RESEND_EVERY
from utils.clock import Clock
from utils.errors import RpcError
from utils.observe.events import Outcome, TxEvent
from utils.observe.stats import StatsHub

log = logging.getLogger(__name__)

DROP_CHECK_EVERY = 1.0  # seconds between nonce checks for old transactions
DROP_CHECK_AGE = 3.0  # a transaction this old (s) and not seen is checked
STALL_AGE, STALL_BLOCKS = 1.0, 2  # stalled: this old (s) and this many blocks read since sent
STALL_CHECKS = 200  # transactions checked (and sent again) as stalled per drop check, at most
LAG_RETRY_FIRST = 0.25  # seconds before a lagging block's receipts are asked again
LAG_RETRY_MAX = 2.0
MAX_LATE = 50_000  # ended "not on chain" transactions watched for a late inclusion


@dataclass(slots=True)
class _Unread:
    hashes: list[str]
    at: float  # time.monotonic() of the next read
    backoff: float


class FollowerRepair(FollowerReorg):
    """The rare paths; :class:`~utils.chain.block_follower.BlockFollower` has the rest."""

    _rpc: Rpc
    _hub: StatsHub
    _clock: Clock
    _tx_timeout: float
    _pending: dict[str, Pending]
    _last_block: int | None
    outcomes: OutcomeReader

    def track(self, pending: Pending, deadline: float | None = None) -> None:
        raise NotImplementedError

    def tracks(self, pending: Pending) -> bool:
        raise NotImplementedError

    def _finish(self, p: Pending, outcome: Outcome, *, block: int | None = None,
                gas_used: int = 0, error: str = "", l1_gas_used: int = 0,
                effective_gas_price: int = 0) -> None:
        raise NotImplementedError

    def _init_repair(self) -> None:
        self._window = BlockWindow()
        self._included: dict[str, int] = {}  # hash -> block it was seen in, outcome unread
        self._unread: dict[int, _Unread] = {}
        self._late: OrderedDict[str, TxEvent] = OrderedDict()
        self._last_drop_check = 0.0
        self._resent: dict[str, float] = {}  # hash -> clock time its bytes last went again
        self._heads: deque[tuple[float, int]] = deque(maxlen=256)  # (clock time, node head)
        self.stalled_resends = 0
        self.corrections = 0
        self._init_reorg()

    async def _repair(self) -> None:
        if self._unread:
            await self._read_lagging()
        if self._suspects and (self._last_block or 0) >= self._resolve_at:
            await self._resolve_suspects()
        if time.monotonic() - self._last_drop_check > DROP_CHECK_EVERY:
            self._last_drop_check = time.monotonic()
            await self._check_old()
        if self._repairing:
            self._announce_repaired()

    # -- receipt lag ----------------------------------------------------------------------
    def _mark_unread(self, number: int, hashes: list[str]) -> None:
        for h in hashes:
            self._included[h] = number
        entry = self._unread.get(number)
        if entry is None:
            self._unread[number] = _Unread(hashes, time.monotonic() + LAG_RETRY_FIRST,
                                           LAG_RETRY_FIRST)
        else:
            entry.hashes += [h for h in hashes if h not in entry.hashes]

    async def _read_lagging(self) -> None:
        now = time.monotonic()
        for number, entry in list(self._unread.items()):
            if entry.at > now:
                continue
            hashes = [h for h in entry.hashes if self._included.get(h) == number]
            if hashes:
                await self.outcomes.by_hash(hashes)
                hashes = [h for h in hashes if h in self._pending]
            if not hashes:
                del self._unread[number]
                continue
            entry.hashes = hashes
            entry.backoff = min(LAG_RETRY_MAX, entry.backoff * 2)
            entry.at = now + entry.backoff

    # -- late inclusions ------------------------------------------------------------------
    def _watch_late(self, event: TxEvent) -> None:
        late = self._late
        late[event.tx_hash] = event
        if len(late) > MAX_LATE:
            late.popitem(last=False)

    def _late_in(self, hashes: list[str]) -> list[str]:
        """Hashes of ``hashes`` that had ended "not on chain": followed again (to correct)."""
        found = [h for h in hashes if h in self._late and h not in self._pending]
        for h in found:
            self.track(follow_again(self._late.pop(h)), self._clock.now() + self._tx_timeout)
        return found

    # -- drops ----------------------------------------------------------------------------
    def _note_head(self, at: float, head: int) -> None:
        """The node's head as asked at clock time ``at`` (each poll)."""
        if not self._heads or self._heads[-1][1] != head:
            self._heads.append((at, head))

    def _late_for_a_block(self, p: Pending, now: float) -> bool:
        """``STALL_BLOCKS`` blocks the node made after ``p`` was sent were read (and a second
        passed): it could be in one of them."""
        if now - p.sent_at <= STALL_AGE or not self._heads or self._last_block is None:
            return False
        at_send = next((h for t, h in reversed(self._heads) if t <= p.sent_at),
                       self._heads[0][1])
        return self._last_block >= at_send + STALL_BLOCKS

    async def _check_old(self) -> None:
        now = self._clock.now()
        unseen = [p for p in self._pending.values()
                  if p.tx_hash not in self._included and p.tx_hash not in self._suspects]
        old = [p for p in unseen if now - p.sent_at > DROP_CHECK_AGE]
        late = [p for p in unseen if now - p.sent_at <= DROP_CHECK_AGE and p.raw
                and self._late_for_a_block(p, now)]  # a bounded few: at most STALL_CHECKS
        old += sorted(late, key=lambda p: p.sent_at)[:STALL_CHECKS]
        if not old or self._last_block is None:
            return
        at = self._last_block
        by_sender: dict[str, list[Pending]] = defaultdict(list)
        for p in old:
            by_sender[p.sender].append(p)
        senders = list(by_sender)
        counts = await self._rpc.batch(
            [("eth_getTransactionCount", [s, hex(at)]) for s in senders])
        nonces = {s: hex_int(count) for s, count in zip(senders, counts, strict=True)
                  if not isinstance(count, RpcError) and count is not None}
        used = [p for s, n in nonces.items() for p in by_sender[s]
                if p.nonce < n and now - p.sent_at > DROP_CHECK_AGE]
        if used:
            await self._settle_unseen(used, at, "nonce used by another transaction")
        stalled = [p for s, n in nonces.items() for p in by_sender[s]
                   if p.nonce >= n and p.raw and now - self._resent.get(p.tx_hash, 0.0)
                   > STALL_RESEND_EVERY]
        if stalled:
            await self._resend_stalled(sorted(stalled, key=lambda p: p.sent_at)[:STALL_CHECKS],
                                       now)

    async def _resend_stalled(self, txs: list[Pending], now: float) -> None:
        """Stalled transactions that are their sender's next at the node's head (nothing
        with their nonce is in a block): their same bytes go again. A node that has them
        answers "already known"; ganache 7 keeps some in its "queued" pool for good (one that
        arrives while the one before it is being mined) and mines them once they arrive
        again. Only the sender's next one goes: ganache executes every copy of a signed
        transaction it is sent (a transfer sent three times moves three times, the nonce
        goes up by three), so a copy of one mined in a block not read yet, or of one queued
        behind another, would run twice."""
        senders = sorted({p.sender for p in txs})
        counts = await self._rpc.batch(
            [("eth_getTransactionCount", [s, "latest"]) for s in senders])
        nonce = {s: hex_int(c) for s, c in zip(senders, counts, strict=True)
                 if not isinstance(c, RpcError) and c is not None}
        txs = [p for p in txs if nonce.get(p.sender) == p.nonce and self.tracks(p)]
        if not txs:
            return
        for p in txs:
            self._resent[p.tx_hash] = now
        for gone in [h for h in self._resent if h not in self._pending]:
            del self._resent[gone]
        replies = await self._rpc.batch([(SEND_RAW, [p.raw]) for p in txs])
        taken = sum(1 for r in replies if not isinstance(r, RpcError))
        self.stalled_resends += len(txs)
        log.info("%d transaction(s) in no block %d blocks after their send went again in "
                 "their same bytes (%d taken again, the others known)", len(txs),
                 STALL_BLOCKS, taken)

    async def _settle_unseen(self, txs: list[Pending], at: int,
                             why: str) -> None:
        """Transactions in none of the blocks read up to ``at``: gone when the node does not
        know them; read again when it places them in a block up to ``at``."""
        replies = await self._rpc.batch(
            [("eth_getTransactionByHash", [p.tx_hash]) for p in txs])
        for p, tx in zip(txs, replies, strict=True):
            if not self.tracks(p) or isinstance(tx, RpcError):
                continue
            if tx is None:
                self._suspects.discard(p.tx_hash)
                gone = Outcome.REORGED if p.corrects is not None else Outcome.DROPPED
                self._finish(p, gone, error=why)
            elif isinstance(tx, dict) and tx.get("blockNumber") is not None:
                number = hex_int(tx["blockNumber"])
                if number <= at:
                    self._suspects.discard(p.tx_hash)
                    self._mark_unread(number, [p.tx_hash])
            else:
                self._suspects.discard(p.tx_hash)  # in the pool: followed on
