"""Connecting to the chain for a run: the embedded dev chain or a given node."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any, Protocol

from utils.chain.fees import FeePolicy
from utils.chain.rpc import RetryPolicy, Rpc, hex_int
from utils.chain.send_verify import STALL_RESEND_EVERY, resend_next
from utils.chain.signer import Signer
from utils.chain.tx_request import sign_tx
from utils.errors import ChainError, ConfigError, RpcError, RpcTransientError
from utils.settings import Settings

log = logging.getLogger(__name__)

#: the first request to a node: a few tries (a node still starting, a throttled first call),
#: not a minute of them against a URL where nothing listens
FIRST_CONTACT = RetryPolicy(attempts=4, budget=15.0)


class LocalChain(Protocol):
    """A chain process started for this run (the embedded chain, or anvil)."""

    @property
    def url(self) -> str: ...
    @property
    def chain_id(self) -> int: ...
    @property
    def funder_key(self) -> bytes: ...
    @property
    def pid(self) -> int: ...
    def stop(self) -> None: ...


#: starts the local chain a run asked for; given by the caller (``utils.devchain.launch``)
LocalLauncher = Callable[[Settings], LocalChain]


@dataclass
class ChainInfo:
    url: str
    chain_id: int
    funder_key: bytes
    embedded: bool
    client_version: str

    def __repr__(self) -> str:  # never show the key
        return f"ChainInfo(url={self.url!r}, chain_id={self.chain_id}, embedded={self.embedded})"


async def open_chain(
    settings: Settings, stack: AsyncExitStack, launch: LocalLauncher | None = None
) -> ChainInfo:
    """Start a local chain with ``launch`` unless ``rpc_url`` is set; stop it when ``stack``
    closes."""
    if settings.rpc_url:
        if settings.private_key is None:
            raise ConfigError("PRIVATE_KEY", "required with --rpc-url (the funder's key)")
        key = bytes.fromhex(settings.private_key.get_secret_value())
        return ChainInfo(settings.rpc_url, 0, key, False, "")
    if launch is None:
        raise ConfigError("RPC_HTTP_URL", "required here (no local chain can be started)")
    # started from this (the main) thread: nothing else runs on the loop yet
    chain = launch(settings)
    stack.callback(chain.stop)
    embedded = bool(getattr(chain, "embedded", True))  # anvil: local, but not the embedded one
    log.info("%s chain %s (pid %d) at %s", "embedded" if embedded else "local",
             chain.chain_id, chain.pid, chain.url)
    return ChainInfo(chain.url, chain.chain_id, chain.funder_key, embedded, "")


async def check_chain(rpc: Rpc, info: ChainInfo, expected_chain_id: int | None) -> None:
    """Read chain id and client; refuse a node on another chain than configured. A node that
    stays unreachable through :data:`FIRST_CONTACT`'s tries is a ChainError; a client version
    is "unknown" only where the node does not serve it (a transient failure is raised)."""
    try:
        info.chain_id = hex_int(await rpc.call("eth_chainId", retry=FIRST_CONTACT))
    except RpcError as exc:
        raise ChainError(f"cannot reach the chain at {rpc.url}: {exc}") from exc
    try:
        info.client_version = str(await rpc.call("web3_clientVersion"))
    except RpcTransientError:
        raise
    except RpcError:
        info.client_version = "unknown"
    if expected_chain_id is not None and expected_chain_id != info.chain_id:
        raise ConfigError(
            "CHAIN_ID", f"configured {expected_chain_id} but {rpc.url} is chain {info.chain_id}"
        )


async def deploy(
    rpc: Rpc, key: bytes, chain_id: int, fees: FeePolicy, init_code: bytes, *,
    gas: int | None = None, timeout: float = 60.0,
) -> tuple[str, dict[str, Any]]:
    """Deploy ``init_code`` from ``key`` (set-up only, not measured); (address, receipt)."""
    signer = Signer(key)
    nonce = hex_int(await rpc.call("eth_getTransactionCount", signer.address, "pending"))
    if gas is None:
        estimate = await rpc.call("eth_estimateGas", {"from": signer.address,
                                                       "data": "0x" + init_code.hex()})
        gas = hex_int(estimate) * 12 // 10
    signed = sign_tx(signer, fees, chain_id, nonce, gas, b"", 0, init_code)
    raw = "0x" + signed.raw.hex()
    tx_hash = await rpc.call("eth_sendRawTransaction", raw)
    receipt = await wait_receipt(rpc, tx_hash, timeout, (signer.address, nonce, raw))
    if hex_int(receipt["status"]) != 1 or not receipt.get("contractAddress"):
        raise ChainError(f"deployment {tx_hash} failed (status {receipt['status']})")
    return str(receipt["contractAddress"]), receipt


async def wait_receipt(rpc: Rpc, tx_hash: str, timeout: float,
                       signed: tuple[str, int, str] | None = None) -> dict[str, Any]:
    """Poll for one receipt (set-up paths only; the engine follows blocks instead); its
    ``signed`` bytes (sender, nonce, raw) go again every STALL_RESEND_EVERY s while it does
    not come and its nonce is the sender's next (:func:`resend_next`)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    resend_at = loop.time() + STALL_RESEND_EVERY
    while loop.time() < deadline:
        receipt = await rpc.call("eth_getTransactionReceipt", tx_hash)
        if receipt is not None:
            return dict(receipt)
        if signed is not None and loop.time() >= resend_at:
            resend_at = loop.time() + STALL_RESEND_EVERY
            await resend_next(rpc, signed[0], {signed[1]: signed[2]})
        await asyncio.sleep(0.05)
    raise ChainError(f"no receipt for {tx_hash} within {timeout:g} s")
