"""The block follower's reorg repair (a base of its rare paths, FollowerRepair).

A block whose ``parentHash`` is not the hash read for the block before it: the
fork is found (:func:`~utils.chain.block_window.find_fork`), a :class:`ReorgEvent` emitted
(hub) and every transaction recorded in the replaced blocks followed again as a *suspect*
and sent again in its same signed bytes (geth re-pools removed transactions itself and
answers "already known"; anvil drops them, and without them the senders' later
transactions would wait behind a nonce gap), and so is every transaction still followed
(it may have been in a replaced block the follower had not read). Only the senders of
those the node refuses for another reason than knowing them or their nonce being used are
resynced (``on_reorg_senders``): a sender resynced while its removed transaction is not
back yet would sign a new one with that nonce and lose the removed one for good. The
follower reads the new blocks from the fork on, where a re-included transaction gets its
new block (a correction when block or gas changed). Once the new chain is read up to the
old head, a suspect the node does not know is ``reorged``; one in its pool stays followed
until included (a correction with its new block) or its new deadline (``reorged``). When
every suspect of a reorg has its outcome again, the reorg goes to ``reorg_listeners``
(the lcore outbox re-checks its commitments then, when they are settled on chain).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from utils.chain.block_window import BlockWindow, find_fork
from utils.chain.pending import Pending, follow_again
from utils.chain.rpc import Rpc
from utils.chain.rpc_faults import is_nonce_low
from utils.chain.send_verify import SEND_RAW, is_known_send
from utils.clock import Clock
from utils.errors import RpcError
from utils.observe.events import ReorgEvent
from utils.observe.stats import StatsHub

log = logging.getLogger(__name__)

RESEND_BATCH = 200  # reorged transactions sent again per batch request


class FollowerReorg:
    """Reorg detection's repair; the follower's state is declared here, set by its
    ``__init__`` and :meth:`_init_reorg`."""

    _rpc: Rpc
    _hub: StatsHub
    _clock: Clock
    _tx_timeout: float
    _pending: dict[str, Pending]
    _last_block: int | None
    _window: BlockWindow
    _unread: dict[int, Any]
    _included: dict[str, int]

    def track(self, pending: Pending, deadline: float | None = None) -> None:
        raise NotImplementedError

    async def _settle_unseen(self, txs: list[Pending], at: int, why: str) -> None:
        raise NotImplementedError

    def _init_reorg(self) -> None:
        self._suspects: set[str] = set()
        self._resolve_at = 0  # suspects are resolved once blocks up to this one are read
        self.reorgs: list[ReorgEvent] = []
        #: called with each reorg once its removed transactions have their outcome again
        #: (the lcore outbox: records committed from fork_block on)
        self.reorg_listeners: list[Callable[[ReorgEvent], None]] = []
        self._repairing: list[tuple[ReorgEvent, set[str]]] = []  # (reorg, its suspects)
        #: called with the senders whose removed transactions the node refused (their
        #: nonces are read again)
        self.on_reorg_senders: Callable[[set[str]], None] | None = None

    async def _on_reorg(self, number: int) -> None:
        """Block ``number`` does not follow the block read before it: repair."""
        assert self._last_block is not None
        old_head, removed_head = self._last_block, self._window.hashes[self._last_block]
        fork = await find_fork(self._rpc, self._window, number)
        records = self._window.cut(fork)
        self._last_block = fork - 1
        deadline = self._clock.now() + self._tx_timeout
        again: list[Pending] = []
        for event, raw in records:
            if event.tx_hash not in self._pending:
                again.append(follow_again(event, raw))
                self.track(again[-1], deadline)
        for n in [n for n in self._unread if n >= fork]:
            for h in self._unread.pop(n).hashes:
                if self._included.pop(h, None) is not None and h in self._pending:
                    again.append(self._pending[h])
        suspects = {p.tx_hash for p in again}
        self._suspects.update(suspects)
        self._resolve_at = max(self._resolve_at, old_head)
        # the transactions still followed may have been in a replaced block not read yet:
        # their bytes go again too (a node that has them answers "already known" or, for one
        # in a block, "nonce too low")
        unread = [p for p in self._pending.values() if p.raw and p.tx_hash not in suspects]
        refused = await self._send_again(again + unread)
        reorg = ReorgEvent(self._clock.now(), old_head - fork + 1, fork, removed_head)
        self._reorged(reorg, refused, len(again))
        self._repairing.append((reorg, suspects))

    async def _send_again(self, txs: list[Pending]) -> set[str]:
        """Send the removed transactions again in their same bytes, each sender's in nonce
        order (geth puts them back in its pool itself: "already known"; anvil does not); the
        senders of those the node refused for another reason than having them or their nonce
        taken (their nonces must be read again: a gap would hold their later transactions)."""
        txs = sorted(txs, key=lambda p: (p.sender, p.nonce))
        unsent = {p.sender for p in txs if not p.raw}
        sendable = [p for p in txs if p.raw]
        for at in range(0, len(sendable), RESEND_BATCH):
            part = sendable[at:at + RESEND_BATCH]
            try:
                replies = await self._rpc.batch([(SEND_RAW, [p.raw]) for p in part])
            except RpcError as exc:
                log.warning("sending the reorged transactions again failed: %s", exc)
                replies = [exc] * len(part)
            refused = [(p, r) for p, r in zip(part, replies, strict=True)
                       if isinstance(r, RpcError) and not is_known_send(r)]
            unsent.update(p.sender for p, r in refused if not is_nonce_low(r))
            if refused:
                log.info("reorg: %d transaction(s) not taken back; first: %s", len(refused),
                         refused[0][1])
        return unsent

    def _reorged(self, event: ReorgEvent, senders: set[str], records: int) -> None:
        log.warning("reorg: %d block(s) replaced from block %d (head was %s); %d transaction(s) "
                    "sent again and checked again", event.depth, event.fork_block,
                    event.removed_head[:18], records)
        self.reorgs.append(event)
        self._hub.emit(event)
        if self.on_reorg_senders is not None and senders:
            self.on_reorg_senders(senders)

    def _announce_repaired(self) -> None:
        """Reorgs whose removed transactions all have their outcome again (re-included in a
        new block, or ``reorged``) go to the ``reorg_listeners``: what they check on chain
        (the lcore outbox's commitments) is then settled, not still in the node's pool."""
        while self._repairing:
            event, suspects = self._repairing[0]
            if any(h in self._pending for h in suspects):
                return
            self._repairing.pop(0)
            for listener in self.reorg_listeners:
                listener(event)

    async def _resolve_suspects(self) -> None:
        """After the new chain is read up to the old head: suspects not re-included."""
        left = [self._pending[h] for h in self._suspects if h in self._pending]
        self._suspects = {p.tx_hash for p in left}
        if left and self._last_block is not None:
            await self._settle_unseen(left, self._last_block, "not on chain after a reorg")

