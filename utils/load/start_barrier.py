"""Shards that share a funder: only shard 0 spends from it, and all start at one moment.

Shard 0 funds the wallets of every shard (it derives the whole pool from the shared seed
and funder key; one sender, so no nonce can clash), then publishes the start time on
the chain: it sends the *barrier address* exactly what makes that address's balance the
start time in unix milliseconds. The barrier address is derived from the funder key, the
seed and a run tag (a Kubernetes Job's uid, say), so each run has its own and nobody
without the funder key can forge one. Every other shard polls the barrier's balance until
it holds a start time that is not older than its own launch minus a window (an older one
is an earlier run's), then waits for that moment. The funding is included before the
barrier transaction (same sender, lower nonces), so a shard that sees the start time is
funded.
"""

from __future__ import annotations

import asyncio
import logging

from eth_utils import keccak, to_checksum_address

from utils.chain.rpc import Rpc, hex_int
from utils.chain.tx_engine import TxEngine, TxRequest
from utils.chain.wallets import Wallet
from utils.errors import ChainError

log = logging.getLogger(__name__)

#: a start time older than a shard's own launch by more than this is an earlier run's
START_WINDOW = 600.0


def barrier_address(funder_key: bytes, seed: int, tag: str) -> str:
    material = b"kcstress-start-barrier|" + funder_key + seed.to_bytes(16, "big", signed=True)
    return str(to_checksum_address(keccak(material + b"|" + tag.encode())[12:]))


async def publish_start(
    engine: TxEngine, rpc: Rpc, funder: Wallet, barrier: str, start_at: float
) -> None:
    """Shard 0: make ``barrier``'s balance ``start_at`` in milliseconds (one transfer)."""
    current = hex_int(await rpc.call("eth_getBalance", barrier, "latest"))
    target = int(start_at * 1000)
    if target <= current:
        raise ChainError(f"start barrier {barrier} already holds a later start ({current} ms)")
    event = await engine.submit(
        TxRequest("funding", "start_barrier", funder, barrier, target - current,
                  gas=engine.fees.transfer_gas)  # with the L1 data charge, where there is one
    )
    if not event.outcome.ok:
        raise ChainError(f"publishing the start time failed: {event.outcome} {event.error}")
    log.info("start time %.3f published at %s", start_at, barrier)


async def await_start(
    rpc: Rpc, barrier: str, launched_at: float, timeout: float, poll: float = 0.2
) -> float:
    """Other shards: the start time shard 0 published; ChainError after ``timeout`` s."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    oldest = launched_at - START_WINDOW
    while True:
        start_at = hex_int(await rpc.call("eth_getBalance", barrier, "latest")) / 1000
        if start_at >= oldest:
            log.info("shard 0 published start time %.3f", start_at)
            return start_at
        if loop.time() >= deadline:
            raise ChainError(
                f"shard 0 published no start time at {barrier} within {timeout:g} s "
                "(is shard 0 running, with the same seed, funder and run tag?)"
            )
        await asyncio.sleep(poll)
