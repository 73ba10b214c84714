"""ArbWasmCache (0x…72) and the chain-owner reads of ArbOwnerPublic (0x…6b).

Nitro keeps a cache of Stylus programs; a call to a cached program pays only the cached
init gas (:func:`utils.devchain.stylus.pricing.program_init_gas`). Who may fill it, and how,
follows OffchainLabs/nitro:

* ``precompiles/ArbWasmCache.go``: ``cacheProgram(address)`` (and the deprecated
  ``cacheCodehash(bytes32)``) and ``evictCodehash(bytes32)`` need a cache manager or a chain
  owner (``hasAccess``); anyone else has all their gas burnt (``c.BurnOut()``).
  ``codehashIsCached``, ``isCacheManager`` and ``allCacheManagers`` are views.
* ``arbos/programs/programs.go`` ``SetProgramCached``: caching needs the program at the
  current Stylus version (else ``ProgramNeedsUpgrade(version, stylusVersion)``) and not
  expired; a no-op when nothing changes; otherwise the ``UpdateProgramCache(manager,
  codehash, cached)`` event, a burn of the program's ``initCost`` ("pay to cache the
  program") and the ``cached`` flag in the program's word (byte 14).
* ``precompiles/ArbOwnerPublic.go``: ``isChainOwner(address)``, ``getAllChainOwners()``.

The embedded chain's chain owner is its funder (as a Nitro dev node's is its dev account);
it has no cache managers (``ArbOwner.addWasmCacheManager`` is not emulated). Each ArbOS
storage word read costs 800 gas, as in :mod:`utils.devchain.nitro.precompiles`; writing
the program word costs 20,000 gas (ArbOS ``StorageWriteCost``).
"""

from __future__ import annotations

import dataclasses

from eth.abc import ComputationAPI
from eth.exceptions import OutOfGas, WriteProtection
from eth_abi import encode
from eth_typing import Address
from eth_utils import keccak

from utils.chain.stylus_code import (
    ARB_WASM_ADDRESS,
    ARB_WASM_CACHE_ADDRESS,
    ERROR_NEEDS_UPGRADE,
    ERROR_NOT_ACTIVATED,
    EVENT_UPDATE_PROGRAM_CACHE,
    SELECTOR_ALL_CACHE_MANAGERS,
    SELECTOR_ALL_CHAIN_OWNERS,
    SELECTOR_CACHE_CODEHASH,
    SELECTOR_CACHE_PROGRAM,
    SELECTOR_CODEHASH_IS_CACHED,
    SELECTOR_EVICT_CODEHASH,
    SELECTOR_IS_CACHE_MANAGER,
    SELECTOR_IS_CHAIN_OWNER,
)
from utils.devchain.stylus.activation import activation_slot
from utils.devchain.stylus.arbwasm import program_record, revert
from utils.devchain.stylus.pricing import STYLUS_VERSION

__all__ = ["arb_owner_public_precompile", "arb_wasm_cache_precompile"]

ARBOS_READ_GAS = 800  # params.SloadGasEIP2200, what Nitro charges an ArbOS storage read
ARBOS_WRITE_GAS = 20_000  # storage.StorageWriteCost
# the event's gas: LOG3 with one 32-byte word (375 + 3 * 375 + 8 * 32), as Nitro's
# precompile events are charged (precompiles/precompile.go, the generated *GasCost)
EVENT_GAS = 375 + 3 * 375 + 8 * 32


def _owners(computation: ComputationAPI) -> tuple[bytes, ...]:
    runtime = type(computation).runtime  # type: ignore[attr-defined]
    owners: tuple[bytes, ...] = runtime.chain_owners
    return owners


def arb_owner_public_precompile(computation: ComputationAPI) -> ComputationAPI:
    """``isChainOwner(address)`` and ``getAllChainOwners()``; anything else reverts."""
    data = bytes(computation.msg.data)
    owners = _owners(computation)
    computation.consume_gas(ARBOS_READ_GAS, reason="ArbOS chain owners")
    if data[:4] == SELECTOR_IS_CHAIN_OWNER and len(data) >= 36:
        computation.output = encode(["bool"], [data[16:36] in owners])
    elif data[:4] == SELECTOR_ALL_CHAIN_OWNERS:
        computation.output = encode(["address[]"], [["0x" + o.hex() for o in owners]])
    else:
        revert(computation, b"")
    return computation


def arb_wasm_cache_precompile(computation: ComputationAPI) -> ComputationAPI:
    data = bytes(computation.msg.data)
    selector = data[:4]
    if selector == SELECTOR_IS_CACHE_MANAGER and len(data) >= 36:
        computation.consume_gas(ARBOS_READ_GAS, reason="ArbWasmCache view")
        computation.output = encode(["bool"], [False])
    elif selector == SELECTOR_ALL_CACHE_MANAGERS:
        computation.consume_gas(ARBOS_READ_GAS, reason="ArbWasmCache view")
        computation.output = encode(["address[]"], [[]])
    elif selector == SELECTOR_CODEHASH_IS_CACHED and len(data) >= 36:
        computation.consume_gas(ARBOS_READ_GAS, reason="ArbWasmCache view")
        record = program_record(computation, data[4:36])
        computation.output = encode(["bool"], [bool(record and record.cached)])
    elif selector == SELECTOR_CACHE_PROGRAM and len(data) >= 36:
        code = computation.state.get_code(Address(data[16:36]))
        _set_cached(computation, keccak(code), True)
    elif selector == SELECTOR_CACHE_CODEHASH and len(data) >= 36:
        _set_cached(computation, data[4:36], True)
    elif selector == SELECTOR_EVICT_CODEHASH and len(data) >= 36:
        _set_cached(computation, data[4:36], False)
    else:
        revert(computation, b"")
    return computation


def _set_cached(computation: ComputationAPI, codehash: bytes, cached: bool) -> None:
    """Nitro's ``setProgramCached`` + ``Programs.SetProgramCached``."""
    if computation.msg.is_static:
        raise WriteProtection("ArbWasmCache cannot change the cache in a static call")
    computation.consume_gas(2 * ARBOS_READ_GAS, reason="ArbWasmCache access check")
    if bytes(computation.msg.sender) not in _owners(computation):
        raise OutOfGas("ArbWasmCache: caller is neither a cache manager nor a chain owner")
    computation.consume_gas(2 * ARBOS_READ_GAS, reason="ArbWasmCache params and program")
    record = program_record(computation, codehash)
    if record is None:
        revert(computation, ERROR_NOT_ACTIVATED)
        return
    if record.version != STYLUS_VERSION and cached:
        revert(computation, ERROR_NEEDS_UPGRADE + encode(["uint16", "uint16"],
                                                         [record.version, STYLUS_VERSION]))
    if record.cached == cached:
        return
    computation.consume_gas(EVENT_GAS, reason="UpdateProgramCache event")
    computation.add_log_entry(
        ARB_WASM_CACHE_ADDRESS,
        (int.from_bytes(EVENT_UPDATE_PROGRAM_CACHE, "big"),
         int.from_bytes(bytes(computation.msg.sender).rjust(32, b"\x00"), "big"),
         int.from_bytes(codehash, "big")),
        encode(["bool"], [cached]),
    )
    computation.consume_gas(record.init_cost, reason="pay to cache the program")
    computation.consume_gas(ARBOS_WRITE_GAS, reason="ArbOS program word")
    updated = dataclasses.replace(record, cached=cached)
    computation.state.set_storage(ARB_WASM_ADDRESS, activation_slot(codehash), updated.encode())
