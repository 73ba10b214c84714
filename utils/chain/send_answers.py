"""What the engine does with the node's answer to a send (the rare paths included).

Mixed into :class:`~utils.chain.tx_engine.TxEngine`. An answered send is followed; "already
known" is a send that happened; an answer that does not say what the node did (lost: a
timeout, a connection lost after the request went out; -32603; a nonce error that may be
our own earlier try) keeps the transaction followed while the node is asked
(:func:`~utils.chain.send_verify.node_has`: the same bytes again, then the hash); only a
node that does not know the transaction makes it a refusal, and only then is the nonce handed
back (reused when nothing was signed after it, else read again). A reorg resyncs the senders
whose transactions it removed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from utils.aio import follow_future
from utils.chain.block_follower import BlockFollower, Pending
from utils.chain.rpc import Rpc
from utils.chain.send_lanes import SendLanes, UnsentTimeout
from utils.chain.send_verify import is_known_send, node_has, send_unsure
from utils.chain.signer import Signer
from utils.chain.tx_request import TxRequest, is_nonce_error
from utils.errors import RpcError
from utils.observe.events import TxEvent

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Sender:
    """One sender's local nonce, signer and lane."""

    address: str
    signer: Signer
    lane: int
    nonce: int | None = None  # the next nonce to use; None = read it from the node
    epoch: int = 0  # counts resyncs: an error resyncs only the epoch its tx was signed in
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class Send:
    """A send on its way: what the engine does with the node's answer (called by the lane;
    one object, not a closure and its cells, per transaction in flight)."""

    __slots__ = ("attempt", "engine", "epoch", "intended", "on_sent", "pending", "raw", "req",
                 "sender")

    def __init__(self, engine: SendAnswers, pending: Pending, sender: Sender, req: TxRequest,
                 intended: float, on_sent: Callable[[], None], attempt: int, raw: str) -> None:
        self.engine = engine
        self.pending = pending
        self.sender = sender
        self.epoch = sender.epoch  # the epoch it was signed in
        self.req = req
        self.intended = intended
        self.on_sent = on_sent
        self.attempt = attempt
        self.raw = raw  # the signed bytes as sent (0x-hex): sent again, never re-signed

    def __call__(self, result: Any) -> None:
        self.engine._replied(result, self)


class SendAnswers:
    """The answer paths; :class:`~utils.chain.tx_engine.TxEngine` has the rest."""

    rpc: Rpc
    follower: BlockFollower
    lanes: SendLanes
    nonce_resyncs: int
    _senders: dict[str, Sender]
    _verifying: set[asyncio.Future[None]]

    async def _submit_later(self, sender: Sender, req: TxRequest, intended: float,
                            on_sent: Callable[[], None], attempt: int) -> TxEvent:
        raise NotImplementedError

    def _sent(self, req: TxRequest, pending: Pending, on_sent: Callable[[], None]) -> None:
        raise NotImplementedError

    def _finish_unsent(self, req: TxRequest, intended: float, nonce: int | None,
                       exc: RpcError) -> TxEvent:
        raise NotImplementedError

    def _replied(self, result: Any, send: Send) -> None:
        """The node's answer to a send: followed from now on; or, when the answer does not
        say what the node did, followed while the node is asked (:mod:`send_verify`); or
        refused (sent again once after a nonce error, else rejected)."""
        if not isinstance(result, RpcError) or is_known_send(result):
            self._sent(send.req, send.pending, send.on_sent)
            return
        tracked = self.follower.tracks(send.pending)
        if not tracked and _in_a_block(send.pending):
            return  # seen in a block meanwhile: the answer is stale
        if isinstance(result, UnsentTimeout) or not (send_unsure(result)
                                                    or is_nonce_error(result)):
            if tracked:
                self._refused(send, result)
            else:  # timed out before the refusal came: its nonce is free (a gap) again
                self._resync(send.sender, send.epoch)
            return
        task = asyncio.ensure_future(self._verify(send, result))
        self._verifying.add(task)
        task.add_done_callback(self._verifying.discard)

    async def _verify(self, send: Send, error: RpcError) -> None:
        """A send whose answer was lost or may be stale: sent if the node has the
        transaction (or will not say: the follower decides), refused if it does not know it."""
        known, error = await node_has(self.rpc, self.lanes, send.sender.lane, send.raw,
                                      send.pending.tx_hash, error)
        if not self.follower.tracks(send.pending):  # ended meanwhile (seen, or timed out)
            if known is False:  # never reached the node: its nonce is free (a gap) again
                self._resync(send.sender, send.epoch)
            return
        if known is False:
            self._refused(send, error)
        else:
            if known is None:
                log.warning("send of %s unanswered and the node does not say whether it has "
                            "it (%s): followed", send.pending.tx_hash, error.rpc_message)
            self._sent(send.req, send.pending, send.on_sent)

    def _refused(self, send: Send, result: RpcError) -> None:
        """The node does not have the transaction: sent again once after a nonce error,
        else rejected (timeout when it never went out); the nonce is handed back."""
        pending, sender, req = send.pending, send.sender, send.req
        if not self.follower.untrack(pending):
            return
        if send.attempt == 1 and is_nonce_error(result):
            log.warning("nonce error for %s at %d (%s); resyncing", sender.address,
                        pending.nonce, result.rpc_message)
            self._resync(sender, send.epoch, count=True)
            retry = asyncio.ensure_future(
                self._submit_later(sender, req, send.intended, send.on_sent, 2))
            follow_future(retry, pending.future)
            return
        self._give_back(sender, send)
        event = self._finish_unsent(req, send.intended, pending.nonce, result)
        if not pending.future.done():
            pending.future.set_result(event)

    def _resync_senders(self, addresses: set[str]) -> None:
        """Read these senders' nonces again before their next send (a reorg removed some of
        their transactions: anvil does not put them back in its pool)."""
        for address in addresses:
            sender = self._senders.get(address)
            if sender is not None:
                self._resync(sender, sender.epoch)

    def _resync(self, sender: Sender, epoch: int, *, count: bool = False) -> None:
        """Read the nonce again before the next send, once per epoch."""
        if sender.epoch == epoch:
            sender.epoch += 1
            sender.nonce = None
            self.nonce_resyncs += count

    def _give_back(self, sender: Sender, send: Send) -> None:
        """A rejected tx did not use its nonce: reuse it if nothing was signed after it."""
        nonce = send.pending.nonce
        if sender.epoch == send.epoch and sender.nonce == nonce + 1:
            sender.nonce = nonce
        else:
            self._resync(sender, send.epoch)


def _in_a_block(pending: Pending) -> bool:
    """The transaction's event says it was included (a cancelled future, or one holding the
    caller's ``on_sent`` error, does not say)."""
    future = pending.future
    if not future.done() or future.cancelled() or future.exception() is not None:
        return False
    return future.result().block_number is not None
