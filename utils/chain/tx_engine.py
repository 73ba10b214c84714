"""The transaction engine: one path from a request to a measured outcome.

Each sender has a local nonce (read once, then counted; read again after a nonce error, a
send the node turned out not to have, or a reorg that removed the sender's transactions) and
a :class:`~utils.chain.signer.Signer` built once (key pair, address).
Sends are pipelined: a request takes the sender's next nonce, is signed and queued on the
sender's lane of :class:`~utils.chain.send_lanes.SendLanes`, which batches it with other
senders' sends into JSON-RPC batch requests and keeps each sender's nonce order; nobody waits
for a receipt, or for an earlier send of the same sender, before sending. Receipts are found
by :class:`~utils.chain.block_follower.BlockFollower`, which follows new blocks. Each request
ends in exactly one :class:`~utils.observe.events.TxEvent`, which its future gets. Once the node
has answered the send, the step's send slot is released (:mod:`utils.chain.send_slot`): the
scheduler fires on. No task waits on a request: the send's answer is handled by a callback as
the lane reads it (a task only where a nonce must be read first); what it does with each kind
of answer is :mod:`utils.chain.send_answers`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from types import TracebackType

from utils.chain.block_follower import BlockFollower, Pending, ReceiptPath
from utils.chain.fees import FeePolicy
from utils.chain.rpc import Rpc, hex_int
from utils.chain.send_answers import Send, SendAnswers, Sender
from utils.chain.send_lanes import SendLanes
from utils.chain.send_slot import send_slot_release
from utils.chain.send_verify import SEND_RAW
from utils.chain.signer import SignedTx, Signer, address_bytes
from utils.chain.tx_request import TxRequest, sign_tx, unsent_event
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


class TxEngine(SendAnswers):
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
        self._senders: dict[str, Sender] = {}
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

    async def _submit_later(self, sender: Sender, req: TxRequest, intended: float,
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

    def _deadline(self, intended: float) -> float:
        """Event-loop time by which a send of a request intended at ``intended`` is late (the
        run clock and the loop's are both monotonic: their offset is read once)."""
        if self._loop_offset is None:
            self._loop_offset = asyncio.get_running_loop().time() - self.clock.now()
        return intended + self.tx_timeout + self._loop_offset

    def _new_sender(self, wallet: Wallet) -> Sender:
        sender = Sender(wallet.address, Signer(bytes(wallet.account.key)), self.lanes.assign())
        self._senders[wallet.address] = sender
        return sender

    def _queue_send(self, sender: Sender, req: TxRequest, intended: float,
                    on_sent: Callable[[], None], attempt: int) -> Pending:
        """Take the sender's next nonce, sign, track, and queue the send on the sender's lane
        (no await since the nonce was taken: sends leave in nonce order)."""
        assert sender.nonce is not None
        nonce = sender.nonce
        sender.nonce = nonce + 1
        signed = self._sign(sender, req, nonce)
        if self.on_send_wait is not None and attempt == 1:
            self.on_send_wait(self.clock.now() - intended)
        raw = "0x" + signed.raw.hex()
        pending = self._track(req, intended, "0x" + signed.hash.hex(), nonce)
        pending.raw = raw
        self.lanes.send(sender.lane, SEND_RAW, [raw], self._deadline(intended),
                        Send(self, pending, sender, req, intended, on_sent, attempt, raw))
        return pending

    def _sign(self, sender: Sender, req: TxRequest, nonce: int) -> SignedTx:
        to = self._to_bytes.get(req.to)
        if to is None:
            if len(self._to_bytes) >= ADDRESS_CACHE:
                self._to_bytes.clear()
            to = self._to_bytes[req.to] = address_bytes(req.to)
        return sign_tx(sender.signer, self.fees, self.chain_id, nonce, req.gas, to, req.value,
                       req.data)

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
