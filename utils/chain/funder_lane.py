"""The funder's set-up transactions (deployments, activations, initialisations), pipelined.

Deploying a run's contracts one after another waits a block per transaction: three dApp
programs and the MVPIoTProcessor, each deployed, then activated, then initialised, took
about 3 s of 0.25 s blocks. :class:`FunderLane` counts the funder's nonce locally under a
lock, so every deployer of a run sends through it without waiting for an earlier receipt:
concurrent deployers share blocks, and a transaction that must follow another of the funder's
(an initialisation after its program's activation) only has to be sent after it, never mined
after it (a sender's transactions run in nonce order). Receipts are polled together, one
batch per poll. Nothing here is measured (set-up paths only).

The local count starts from the node's pending nonce whenever no transaction of the lane is
waiting for its receipt, so the funder's other senders (the funding engine) may use the key
between bursts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from utils.chain.fees import FeePolicy, robust_gas_limit
from utils.chain.rpc import Rpc, hex_int
from utils.chain.send_verify import STALL_RESEND_EVERY, resend_next
from utils.chain.signer import Signer, address_bytes
from utils.chain.tx_request import sign_tx
from utils.errors import ChainError, RpcError

RECEIPT_POLL_S = 0.05


class FunderLane:
    """One key's pipelined set-up sends; safe to share between concurrent coroutines."""

    def __init__(self, rpc: Rpc, key: bytes, chain_id: int, fees: FeePolicy) -> None:
        self.rpc = rpc
        self.signer = Signer(key)
        self.chain_id = chain_id
        self.fees = fees
        self._nonce: int | None = None
        self._unconfirmed: set[str] = set()
        self._raw: dict[str, tuple[int, str]] = {}  # hash -> (nonce, bytes), until its receipt
        self._lock = asyncio.Lock()

    @property
    def address(self) -> str:
        return self.signer.address

    async def estimate(self, call: dict[str, Any]) -> int:
        """``eth_estimateGas`` of ``call`` from the funder."""
        return hex_int(await self.rpc.call("eth_estimateGas", {"from": self.address, **call}))

    async def send(self, to: str | None, data: bytes, *, gas: int, value: int = 0) -> str:
        """Sign with the next nonce and send (``to=None`` creates a contract); the hash."""
        async with self._lock:
            if self._nonce is None or not self._unconfirmed:
                self._nonce = hex_int(await self.rpc.call(
                    "eth_getTransactionCount", self.address, "pending"))
            signed = sign_tx(self.signer, self.fees, self.chain_id, self._nonce, gas,
                             address_bytes(to or ""), value, data)
            try:
                tx_hash = str(await self.rpc.call("eth_sendRawTransaction",
                                                  "0x" + signed.raw.hex()))
            except RpcError:
                self._nonce = None  # read it again: the node may or may not have it
                raise
            self._nonce += 1
            self._unconfirmed.add(tx_hash)
            self._raw[tx_hash] = (self._nonce - 1, "0x" + signed.raw.hex())
            return tx_hash

    async def create(self, init_codes: Sequence[bytes],
                     timeout: float = 60.0) -> list[tuple[str, dict[str, Any]]]:
        """Deploy every init code (gas: estimate + 20 %, its L1 part for the lowest base fee:
        :func:`~utils.chain.fees.robust_gas_limit`) in one burst; (address, receipt) each, in
        order."""
        gases = await asyncio.gather(*(
            robust_gas_limit(self.rpc, {"from": self.address, "data": "0x" + code.hex()}, 1.2)
            for code in init_codes))
        hashes = [await self.send(None, code, gas=gas)
                  for code, gas in zip(init_codes, gases, strict=True)]
        out = []
        for tx_hash, receipt in zip(hashes, await self.receipts(hashes, timeout), strict=True):
            if hex_int(receipt["status"]) != 1 or not receipt.get("contractAddress"):
                raise ChainError(f"deployment {tx_hash} failed (status {receipt['status']})")
            out.append((str(receipt["contractAddress"]), receipt))
        return out

    async def receipts(self, hashes: Sequence[str], timeout: float = 60.0) -> list[dict[str, Any]]:
        """The receipts of ``hashes`` (in order), polled in one batch per round."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        resend_at = loop.time() + STALL_RESEND_EVERY
        found: dict[str, dict[str, Any]] = {}
        while True:
            waiting = [h for h in dict.fromkeys(hashes) if h not in found]
            if not waiting:
                return [found[h] for h in hashes]
            answers = await self.rpc.batch([("eth_getTransactionReceipt", [h]) for h in waiting])
            for tx_hash, receipt in zip(waiting, answers, strict=True):
                if isinstance(receipt, dict):
                    found[tx_hash] = receipt
                    self._unconfirmed.discard(tx_hash)
                    self._raw.pop(tx_hash, None)
            if len(found) < len(set(hashes)):
                if loop.time() >= deadline:
                    missing = next(h for h in hashes if h not in found)
                    raise ChainError(f"no receipt for {missing} within {timeout:g} s")
                if loop.time() >= resend_at:  # a node that keeps them pooled (ganache 7)
                    resend_at = loop.time() + STALL_RESEND_EVERY
                    await resend_next(self.rpc, self.address, dict(
                        self._raw[h] for h in hashes if h not in found and h in self._raw))
                await asyncio.sleep(RECEIPT_POLL_S)

    async def succeeded(self, hashes: Sequence[str], what: str,
                        timeout: float = 60.0) -> list[dict[str, Any]]:
        """:meth:`receipts`, each with status 1, else :class:`ChainError` naming ``what``."""
        receipts = await self.receipts(hashes, timeout)
        for tx_hash, receipt in zip(hashes, receipts, strict=True):
            if hex_int(receipt["status"]) != 1:
                raise ChainError(f"{what} failed ({tx_hash})")
        return receipts
