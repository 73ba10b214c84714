"""The transaction engine: one path from a request to a measured outcome.

Each sender has a local nonce (read once, then counted; resynced after a nonce error or a
transport failure) and a :class:`~utils.chain.signer.Signer` built once (key pair, address).
Sends are pipelined: a request takes the sender's next nonce, is signed and queued on the
sender's lane of :class:`~utils.chain.send_lanes.SendLanes`, which batches it with other
senders' sends into JSON-RPC batch requests and keeps each sender's nonce order; nobody waits
for a receipt, or for an earlier send of the same sender, before sending. Receipts are found
by :class:`~utils.chain.block_follower.BlockFollower`, which follows new blocks. Each request
ends in exactly one :class:`~utils.observe.events.TxEvent`, which its future gets. Once the node
has answered the send, the step's send slot is released (:mod:`utils.chain.send_slot`): the
scheduler fires on. No task waits on a request: the send's answer is handled by a callback as
the lane reads it (a task only where a nonce must be read first).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from utils.aio import follow_future
from utils.chain.block_follower import BlockFollower, Pending, ReceiptPath
from utils.chain.fees import FeePolicy
from utils.chain.rpc import Rpc, hex_int
from utils.chain.send_lanes import SendLanes, UnsentTimeout
from utils.chain.send_slot import send_slot_release
from utils.chain.send_verify import SEND_RAW, is_known_send, node_has, send_unsure
from utils.chain.signer import SignedTx, Signer, address_bytes
from utils.chain.tx_request import TxRequest, is_nonce_error, sign_tx, unsent_event
from utils.chain.wallets import Wallet
from utils.clock import Clock
from utils.errors import RpcError
from utils.observe.events import TxEvent, TxSentEvent
from utils.observe.stats import StatsHub

log = logging.getLogger(__name__)

ADDRESS_CACHE = 100_000  # recipients' 20-byte forms kept (cleared when full)
#: batch requests in flight at once: 8 kept anvil 10 % busier than 4 (more of its work queued
#: while the client handles a reply); 16 bought nothing more (bench/README.md, anvil_ratio.py)
SEND_LANES = 8


@dataclass(slots=True)
class _Sender:
    address: str
    signer: Signer
    lane: int
    nonce: int | None = None  # the next nonce to use; None = read it from the node
    epoch: int = 0  # counts resyncs: an error resyncs only the epoch its tx was signed in
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class _Send:
    """A send on its way: what the engine does with the node's answer (called by the lane;
    one object, not a closure and its cells, per transaction in flight)."""

    __slots__ = ("attempt", "engine", "epoch", "intended", "on_sent", "pending", "raw", "req",
                 "sender")

    def __init__(self, engine: TxEngine, pending: Pending, sender: _Sender, req: TxRequest,
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


class TxEngine:
    """``async with TxEngine(...) as engine: event = await engine.submit(request)``."""

    def __init__(
        self, rpc: Rpc, hub: StatsHub, clock: Clock, fees: FeePolicy, chain_id: int, *,
        tx_timeout: float = 60.0, poll_interval: float = 0.05, send_lanes: int = SEND_LANES,
        receipts: ReceiptPath = "auto",
    ) -> None:
        self.rpc = rpc
        self.hub = hub
        self.clock = clock
        self.fees = fees
        self.chain_id = chain_id
        self.tx_timeout = tx_timeout
        self.follower = BlockFollower(
            rpc, hub, clock, fees, tx_timeout=tx_timeout, poll_interval=poll_interval,
            receipts=receipts,
        )
        self.lanes = SendLanes(rpc, send_lanes)
        self.follower.on_reorg_senders = self._resync_senders
        self._verifying: set[asyncio.Future[None]] = set()  # sends whose answer was unsure
        self._senders: dict[str, _Sender] = {}
        self._to_bytes: dict[str, bytes] = {}
        self.nonce_resyncs = 0
        self._loop_offset: float | None = None  # event-loop time minus run-clock time
        #: the generator's self-watch: seconds from a tx's intended time until its signed
        #: bytes go to the node (sender queue, nonce, signing); see utils/observe/selfwatch.py
        self.on_send_wait: Callable[[float], None] | None = None

    async def __aenter__(self) -> TxEngine:
        await self.follower.start()
        self.lanes.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for task in list(self._verifying):
            task.cancel()
        await self.lanes.stop()
        await self.follower.stop()

    @property
    def in_flight(self) -> int:
        return self.follower.in_flight

    async def drain(self, timeout: float) -> int:
        """Wait up to ``timeout`` s for in-flight txs; the rest end as timeouts (returned)."""
        return await self.follower.drain(timeout)

    async def submit(self, req: TxRequest) -> TxEvent:
        """Sign and send ``req``, wait for its outcome, emit and return its event."""
        return await self.start(req)

    def start(self, req: TxRequest,
              on_sent: Callable[[], None] | None = None) -> asyncio.Future[TxEvent]:
        """:meth:`submit` without a task of its own: signs and queues ``req`` now and returns
        the future of its event; ``on_sent()`` when the node has answered the send (default:
        release the calling step's send slot). Only a sender whose nonce must be read first
        gets a task. A cancelled future stops nothing that was sent: its event is still
        emitted."""
        intended = req.intended_at if req.intended_at is not None else self.clock.now()
        if on_sent is None:
            on_sent = send_slot_release()
        sender = self._senders.get(req.sender.address)
        if sender is None:
            sender = self._new_sender(req.sender)
        if sender.nonce is None or sender.lock.locked():
            return asyncio.ensure_future(self._submit_later(sender, req, intended, on_sent, 1))
        return self._queue_send(sender, req, intended, on_sent, 1).future

    async def _submit_later(self, sender: _Sender, req: TxRequest, intended: float,
                            on_sent: Callable[[], None], attempt: int) -> TxEvent:
        """The send after the sender's nonce is read (or read again after a nonce error)."""
        async with sender.lock:  # held across a nonce read only
            if sender.nonce is None:
                count = await self.lanes.call(sender.lane, "eth_getTransactionCount",
                                              [sender.address, "pending"],
                                              self._deadline(intended))
                if isinstance(count, RpcError):
                    return self._finish_unsent(req, intended, None, count)
                sender.nonce = hex_int(count)
            pending = self._queue_send(sender, req, intended, on_sent, attempt)
        return await pending.future

    def _replied(self, result: Any, send: _Send) -> None:
        """The node's answer to a send: followed from now on; or, when the answer does not
        say what the node did, followed while the node is asked (:mod:`send_verify`); or
        refused (sent again once after a nonce error, else rejected)."""
        if not isinstance(result, RpcError) or is_known_send(result):
            self._sent(send.req, send.pending, send.on_sent)
            return
        if not self.follower.tracks(send.pending):
            return  # finished meanwhile (seen in a block): its future has the event
        if isinstance(result, UnsentTimeout) or not (send_unsure(result)
                                                    or is_nonce_error(result)):
            self._refused(send, result)
            return
        task = asyncio.ensure_future(self._verify(send, result))
        self._verifying.add(task)
        task.add_done_callback(self._verifying.discard)

    async def _verify(self, send: _Send, error: RpcError) -> None:
        """A send whose answer was lost or may be stale: sent if the node has the
        transaction (or will not say: the follower decides), refused if it does not know it."""
        known, error = await node_has(self.lanes, send.sender.lane, send.raw,
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

    def _refused(self, send: _Send, result: RpcError) -> None:
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

    def _deadline(self, intended: float) -> float:
        """Event-loop time by which a send of a request intended at ``intended`` is late (the
        run clock and the loop's are both monotonic: their offset is read once)."""
        if self._loop_offset is None:
            self._loop_offset = asyncio.get_running_loop().time() - self.clock.now()
        return intended + self.tx_timeout + self._loop_offset

    def _new_sender(self, wallet: Wallet) -> _Sender:
        sender = _Sender(wallet.address, Signer(bytes(wallet.account.key)), self.lanes.assign())
        self._senders[wallet.address] = sender
        return sender

    def _queue_send(self, sender: _Sender, req: TxRequest, intended: float,
                    on_sent: Callable[[], None], attempt: int) -> Pending:
        """Take the sender's next nonce, sign, track, and queue the send on the sender's lane
        (no await since the nonce was taken: sends leave in nonce order)."""
        assert sender.nonce is not None
        nonce = sender.nonce
        sender.nonce = nonce + 1
        signed = self._sign(sender, req, nonce)
        if self.on_send_wait is not None and attempt == 1:
            self.on_send_wait(self.clock.now() - intended)
        pending = self._track(req, intended, "0x" + signed.hash.hex(), nonce)
        raw = "0x" + signed.raw.hex()
        self.lanes.send(sender.lane, SEND_RAW, [raw], self._deadline(intended),
                        _Send(self, pending, sender, req, intended, on_sent, attempt, raw))
        return pending

    def _sign(self, sender: _Sender, req: TxRequest, nonce: int) -> SignedTx:
        to = self._to_bytes.get(req.to)
        if to is None:
            if len(self._to_bytes) >= ADDRESS_CACHE:
                self._to_bytes.clear()
            to = self._to_bytes[req.to] = address_bytes(req.to)
        return sign_tx(sender.signer, self.fees, self.chain_id, nonce, req.gas, to, req.value,
                       req.data)

    def _resync(self, sender: _Sender, epoch: int, *, count: bool = False) -> None:
        """Read the nonce again before the next send, once per epoch."""
        if sender.epoch == epoch:
            sender.epoch += 1
            sender.nonce = None
            self.nonce_resyncs += count

    def _give_back(self, sender: _Sender, send: _Send) -> None:
        """A rejected tx did not use its nonce: reuse it if nothing was signed after it."""
        nonce = send.pending.nonce
        if sender.epoch == send.epoch and sender.nonce == nonce + 1:
            sender.nonce = nonce
        else:
            self._resync(sender, send.epoch)

    def _sent(self, req: TxRequest, pending: Pending, on_sent: Callable[[], None]) -> None:
        if not pending.future.done():  # sent_at: when the node's answer came
            pending.sent_at = self.clock.now()
        on_sent()  # the load is offered: the scheduler may fire the next step
        self.hub.emit(TxSentEvent(req.workload, pending.sent_at))
        if req.on_sent is not None:
            try:
                req.on_sent(pending.tx_hash)
            except Exception as exc:  # the caller's: it gets the error; the tx is followed on
                if not pending.future.done():
                    pending.future.set_exception(exc)

    def _track(self, req: TxRequest, intended: float, tx_hash: str, nonce: int) -> Pending:
        """Follow a tx just signed (the fee fields are those it was signed with)."""
        fees = self.fees
        max_fee, tip = (fees.max_fee, fees.priority_fee) if fees.eip1559 else \
            (fees.gas_price, fees.gas_price)
        pending = Pending(
            workload=req.workload, module=req.workload, operation=req.operation,
            tx_hash=tx_hash, sender=req.sender.address, nonce=nonce, intended_at=intended,
            sent_at=self.clock.now(), future=asyncio.get_running_loop().create_future(),
            gas_limit=req.gas, plain=not req.data and bool(req.to), max_fee=max_fee,
            priority_fee=tip,
        )
        self.follower.track(pending)
        return pending

    def _finish_unsent(
        self, req: TxRequest, intended: float, nonce: int | None, exc: RpcError
    ) -> TxEvent:
        event = unsent_event(req, intended, nonce, exc, self.clock.now())
        self.hub.emit(event)
        return event
