"""The transaction engine: one path from a request to a measured outcome.

Each sender has a local nonce (read once, then counted; resynced after a
nonce error or a transport failure). Sends are pipelined: a sender's sends
are serialised so nonces reach the node in order, different senders send
concurrently, and nobody waits for a receipt while sending. Receipts are
found by :class:`~utils.chain.block_follower.BlockFollower`, which follows new
blocks. Each request ends in exactly one :class:`~utils.observe.events.TxEvent`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from eth_account import Account

from utils.chain.block_follower import BlockFollower, Pending
from utils.chain.fees import FeePolicy
from utils.chain.rpc import Rpc, hex_int
from utils.chain.wallets import Wallet
from utils.clock import Clock
from utils.errors import RpcError, RpcTimeout
from utils.observe.events import Outcome, TxEvent, TxSentEvent
from utils.observe.stats import StatsHub

log = logging.getLogger(__name__)

TRANSFER_GAS = 21_000


@dataclass(slots=True)
class TxRequest:
    """What a workload wants sent."""

    workload: str
    operation: str
    sender: Wallet
    to: str
    value: int = 0
    data: bytes = b""
    gas: int = TRANSFER_GAS
    intended_at: float | None = None  # run clock; default: now
    on_sent: Callable[[str], None] | None = field(default=None, repr=False)


@dataclass(slots=True)
class _Sender:
    wallet: Wallet
    nonce: int | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class TxEngine:
    """``async with TxEngine(...) as engine: event = await engine.submit(request)``."""

    def __init__(
        self,
        rpc: Rpc,
        hub: StatsHub,
        clock: Clock,
        fees: FeePolicy,
        chain_id: int,
        *,
        tx_timeout: float = 60.0,
        poll_interval: float = 0.05,
    ) -> None:
        self.rpc = rpc
        self.hub = hub
        self.clock = clock
        self.fees = fees
        self.chain_id = chain_id
        self.tx_timeout = tx_timeout
        self.follower = BlockFollower(
            rpc, hub, clock, fees, tx_timeout=tx_timeout, poll_interval=poll_interval
        )
        self._senders: dict[str, _Sender] = {}
        self.nonce_resyncs = 0
        #: the generator's self-watch: seconds from a tx's intended time until its signed
        #: bytes go to the node (sender queue, nonce, signing); see utils/observe/selfwatch.py
        self.on_send_wait: Callable[[float], None] | None = None

    async def __aenter__(self) -> TxEngine:
        await self.follower.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.follower.stop()

    @property
    def in_flight(self) -> int:
        return self.follower.in_flight

    async def drain(self, timeout: float) -> int:
        """Wait up to ``timeout`` s for in-flight txs; the rest end as timeouts (returned)."""
        return await self.follower.drain(timeout)

    async def submit(self, req: TxRequest) -> TxEvent:
        """Sign and send ``req``, wait for its outcome, emit and return its event."""
        intended = req.intended_at if req.intended_at is not None else self.clock.now()
        sender = self._senders.get(req.sender.address)
        if sender is None:
            sender = self._senders[req.sender.address] = _Sender(req.sender)
        async with sender.lock:
            try:
                pending = await self._send(sender, req, intended)
            except RpcError as exc:
                return self._finish_unsent(req, intended, sender.nonce, exc)
        self.hub.emit(TxSentEvent(req.workload, pending.sent_at))
        if req.on_sent is not None:
            req.on_sent(pending.tx_hash)
        return await pending.future

    async def _send(self, sender: _Sender, req: TxRequest, intended: float) -> Pending:
        """Send under the sender's lock; one resync-and-retry after a nonce error."""
        for attempt in (1, 2):
            if sender.nonce is None:
                count = await self._bounded("eth_getTransactionCount", intended,
                                            sender.wallet.address, "pending")
                sender.nonce = hex_int(count)
            nonce = sender.nonce
            raw, tx_hash = self._sign(req, nonce)
            if self.on_send_wait is not None and attempt == 1:
                self.on_send_wait(self.clock.now() - intended)
            try:
                await self._bounded("eth_sendRawTransaction", intended, raw)
            except RpcError as exc:
                if exc.code is None:
                    # transport failure: the node may have it; follow it, resync the nonce
                    sender.nonce = None
                    return self._track(req, intended, tx_hash, nonce)
                if attempt == 1 and _is_nonce_error(exc):
                    log.warning("nonce error for %s at %d (%s); resyncing",
                                sender.wallet.address, nonce, exc.rpc_message)
                    self.nonce_resyncs += 1
                    sender.nonce = None
                    continue
                raise
            sender.nonce = nonce + 1
            return self._track(req, intended, tx_hash, nonce)
        raise AssertionError("unreachable")

    async def _bounded(self, method: str, intended: float, *params: Any) -> Any:
        """An RPC call bounded by what is left of the transaction's deadline."""
        left = max(0.05, intended + self.tx_timeout - self.clock.now())
        try:
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that
            # arrives as the call completes, and a cancelled step would then run on
            async with asyncio.timeout(left):
                return await self.rpc.call(method, *params)
        except TimeoutError:
            raise RpcTimeout(method, left) from None

    def _track(self, req: TxRequest, intended: float, tx_hash: str, nonce: int) -> Pending:
        pending = Pending(
            workload=req.workload,
            module=req.workload,
            operation=req.operation,
            tx_hash=tx_hash,
            sender=req.sender.address,
            nonce=nonce,
            intended_at=intended,
            sent_at=self.clock.now(),
            future=asyncio.get_running_loop().create_future(),
        )
        self.follower.track(pending)
        return pending

    def _sign(self, req: TxRequest, nonce: int) -> tuple[str, str]:
        tx: dict[str, Any] = {
            "chainId": self.chain_id,
            "nonce": nonce,
            "to": req.to,
            "value": req.value,
            "gas": req.gas,
            "data": req.data,
            **self.fees.fields(),
        }
        signed = Account.sign_transaction(tx, req.sender.account.key)
        return "0x" + signed.raw_transaction.hex(), "0x" + signed.hash.hex()

    def _finish_unsent(
        self, req: TxRequest, intended: float, nonce: int | None, exc: RpcError
    ) -> TxEvent:
        event = TxEvent(
            workload=req.workload,
            module=req.workload,
            outcome=Outcome.TIMEOUT if isinstance(exc, RpcTimeout) else Outcome.REJECTED,
            tx_hash="",
            intended_at=intended,
            sent_at=None,
            finished_at=self.clock.now(),
            block_number=None,
            gas_used=0,
            sender=req.sender.address,
            nonce=nonce,
            error=exc.rpc_message[:300],
            operation=req.operation,
        )
        self.hub.emit(event)
        return event


def _is_nonce_error(exc: RpcError) -> bool:
    text = exc.rpc_message.lower()
    return "nonce" in text or "already known" in text or "replacement transaction" in text
