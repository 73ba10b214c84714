"""Put a run's Stylus programs in ArbOS's program cache, as an Orbit chain's team would.

On Nitro a call to a cached program pays only its cached init gas; an uncached one pays the
full init gas as well (``arbos/programs/programs.go`` ``CallProgram``), about 9,000 gas
more per program per call. A chain team caches its hot programs: the chain owner or a cache
manager calls ``ArbWasmCache.cacheProgram(address)`` (``cargo stylus cache`` does the same
through the CacheManager contract's bids). The run does that when its funder may (a chain
owner per ``ArbOwnerPublic.isChainOwner``, or a cache manager per
``ArbWasmCache.isCacheManager``); otherwise its programs stay uncached and it says so once.
``--no-stylus-cache`` measures uncached programs on purpose.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from eth_abi import decode

from utils.chain.rpc import Rpc, hex_int
from utils.chain.session import ChainSession
from utils.chain.stylus_code import (
    ARB_OWNER_PUBLIC_ADDRESS,
    ARB_WASM_CACHE_ADDRESS,
    SELECTOR_CACHE_PROGRAM,
    SELECTOR_CODEHASH_IS_CACHED,
    SELECTOR_IS_CACHE_MANAGER,
    SELECTOR_IS_CHAIN_OWNER,
    address_calldata,
)
from utils.errors import RpcError, RpcTransientError

__all__ = ["CACHE_GAS", "cache_programs", "codehash_is_cached", "may_cache"]

log = logging.getLogger(__name__)

CACHE_GAS = 150_000  # when the chain cannot estimate cacheProgram (at most ~110k on Nitro)
ARB_WASM_CACHE = "0x" + bytes(ARB_WASM_CACHE_ADDRESS).hex()
ARB_OWNER_PUBLIC = "0x" + bytes(ARB_OWNER_PUBLIC_ADDRESS).hex()


async def _ask_bool(rpc: Rpc, to: str, data: bytes) -> bool:
    """A boolean view; False on any refusal (no such precompile, a revert, "not supported").
    A transient failure is raised: never read as "no"."""
    try:
        out = await rpc.call("eth_call", {"to": to, "data": "0x" + data.hex()}, "latest")
    except RpcTransientError:
        raise
    except RpcError:
        return False
    raw = bytes.fromhex(str(out)[2:]) if out else b""
    return len(raw) == 32 and bool(decode(["bool"], raw)[0])


async def may_cache(rpc: Rpc, address: str) -> bool:
    """Whether ``address`` may fill ArbOS's program cache (chain owner or cache manager)."""
    owner, manager = await asyncio.gather(
        _ask_bool(rpc, ARB_OWNER_PUBLIC, address_calldata(SELECTOR_IS_CHAIN_OWNER, address)),
        _ask_bool(rpc, ARB_WASM_CACHE, address_calldata(SELECTOR_IS_CACHE_MANAGER, address)))
    return owner or manager


async def codehash_is_cached(rpc: Rpc, codehash: bytes) -> bool:
    return await _ask_bool(rpc, ARB_WASM_CACHE, SELECTOR_CODEHASH_IS_CACHED + codehash)


async def cache_programs(session: ChainSession, programs: Sequence[tuple[str, bytes]]) -> int:
    """Cache each (address, code hash) not cached yet, once per code hash, from the funder;
    the number newly cached. Needs the programs activated (mined) already."""
    rpc, lane = session.rpc, session.funder
    if not programs:
        return 0
    if not await may_cache(rpc, lane.address):
        log.info("Stylus programs not cached: the funder is neither a chain owner nor a cache "
                 "manager, so every call pays Nitro's full program init gas")
        return 0
    distinct = dict((codehash, address) for address, codehash in programs)
    cached = await asyncio.gather(*(codehash_is_cached(rpc, h) for h in distinct))
    todo = [address for (_h, address), done in zip(distinct.items(), cached, strict=True)
            if not done]
    hashes = []
    for address in todo:
        data = address_calldata(SELECTOR_CACHE_PROGRAM, address)
        try:
            gas = await lane.estimate({"to": ARB_WASM_CACHE, "data": "0x" + data.hex()})
            gas = gas * 12 // 10
        except RpcTransientError:
            raise
        except RpcError:
            gas = CACHE_GAS
        hashes.append(await lane.send(ARB_WASM_CACHE, data, gas=gas))
    failed = [h for h, r in zip(hashes, await lane.receipts(hashes), strict=True)
              if hex_int(r["status"]) != 1]
    if failed:
        log.warning("caching %s Stylus program(s) failed (%s): their calls pay the full init "
                    "gas", len(failed), ", ".join(failed))
    log.info("cached %s Stylus program(s) in ArbOS's program cache (%s already cached)",
             len(hashes) - len(failed), len(distinct) - len(todo))
    return len(hashes) - len(failed)
