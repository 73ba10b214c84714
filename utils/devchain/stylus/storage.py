"""Stylus storage hostios over py-evm's journaled state.

As Nitro (``user-host-trait`` + ``arbutil/src/evm/req.rs`` + ``arbos/programs/api.go``):
``storage_load_bytes32`` reads through a per-call cache (a miss costs an EIP-2929 SLOAD,
cold 2100 / warm 100, plus 5 gas of EVM-API overhead), ``storage_cache_bytes32`` only
writes the cache, and ``storage_flush_cache`` writes every dirty slot with SSTORE's
EIP-2200/2929/3529 gas and refunds. Writes go through ``state.set_storage``, so a revert
of the frame (or of any caller) rolls them back with py-evm's journal.
"""

from __future__ import annotations

import wasmtime
from eth.vm.forks.london.storage import GAS_SCHEDULE_EIP3529

from utils.devchain.stylus.context import HostContext, HostFailure, OutOfInk
from utils.devchain.stylus.pricing import (
    COLD_SLOAD_GAS,
    EVM_API_INK,
    HOSTIO_INK,
    PTR_INK,
    SSTORE_SENTRY_GAS,
    STORAGE_CACHE_ACCESS_GAS,
    WARM_SLOAD_GAS,
    ink_to_gas,
    storage_read_gas,
    storage_write_gas,
)

__all__ = ["sstore_gas", "storage_cache_bytes32", "storage_flush_cache", "storage_load_bytes32"]

EVM_API_GAS = ink_to_gas(EVM_API_INK)  # 5 gas on a cache miss


def _warm(ctx: HostContext, slot: int) -> bool:
    """Mark the slot accessed; True when it already was (EIP-2929)."""
    state = ctx.computation.state
    if state.is_storage_warm(ctx.address, slot):
        return True
    state.mark_storage_warm(ctx.address, slot)
    return False


def storage_load_bytes32(ctx: HostContext, caller: wasmtime.Caller, key: int, dest: int) -> None:
    ctx.buy_ink(caller, HOSTIO_INK + 2 * PTR_INK)
    ctx.require_gas(caller, COLD_SLOAD_GAS + STORAGE_CACHE_ACCESS_GAS + EVM_API_GAS)
    slot = ctx.read_word(caller, key)
    ctx.reads += 1
    cost = storage_read_gas(ctx.reads)
    entry = ctx.storage.get(slot)
    if entry is None:
        value = ctx.computation.state.get_storage(ctx.address, slot)
        cost += (WARM_SLOAD_GAS if _warm(ctx, slot) else COLD_SLOAD_GAS) + EVM_API_GAS
        entry = ctx.storage[slot] = [value, value]
    ctx.buy_gas(caller, cost)
    ctx.write_word(caller, dest, int(entry[0] or 0))


def storage_cache_bytes32(ctx: HostContext, caller: wasmtime.Caller, key: int, value: int) -> None:
    ctx.buy_ink(caller, HOSTIO_INK + 2 * PTR_INK)
    ctx.require_gas(caller, SSTORE_SENTRY_GAS + STORAGE_CACHE_ACCESS_GAS)
    slot = ctx.read_word(caller, key)
    word = ctx.read_word(caller, value)
    ctx.writes += 1
    entry = ctx.storage.get(slot)
    if entry is None:
        ctx.storage[slot] = [word, None]
    else:
        entry[0] = word
    ctx.buy_gas(caller, storage_write_gas(ctx.writes))


def storage_flush_cache(ctx: HostContext, caller: wasmtime.Caller, clear: int) -> None:
    ctx.buy_ink(caller, HOSTIO_INK + EVM_API_INK)
    ctx.require_gas(caller, SSTORE_SENTRY_GAS)
    gas_left = start = ctx.gas_left(caller)
    for slot, entry in ctx.storage.items():
        value = int(entry[0] or 0)
        if entry[1] == value:
            continue
        if ctx.is_static:
            raise HostFailure("storage write in a static call")
        cost = sstore_gas(ctx, slot, value)
        if cost > gas_left:
            ctx.status_global.set_value(caller, 1)
            raise OutOfInk
        gas_left -= cost
        ctx.computation.state.set_storage(ctx.address, slot, value)
        entry[1] = value
    if clear & 1:
        ctx.storage.clear()
    ctx.buy_gas(caller, start - gas_left)


def sstore_gas(ctx: HostContext, slot: int, value: int) -> int:
    """SSTORE gas for ``slot := value`` (EIP-2200 net metering, EIP-2929 cold surcharge,
    EIP-3529 refunds, which are added to the computation's refund counter)."""
    schedule = GAS_SCHEDULE_EIP3529
    state = ctx.computation.state
    current = state.get_storage(ctx.address, slot)
    original = state.get_storage(ctx.address, slot, from_journal=False)
    refund = 0
    if current == value:
        cost = schedule.sload_gas
    elif original == current:
        cost = schedule.sstore_set_gas if original == 0 else schedule.sstore_reset_gas
        if original != 0 and value == 0:
            refund += schedule.sstore_clears_schedule
    else:
        cost = schedule.sload_gas
        if original != 0:
            if current == 0:
                refund -= schedule.sstore_clears_schedule
            if value == 0:
                refund += schedule.sstore_clears_schedule
        if original == value:
            base = schedule.sstore_set_gas if original == 0 else schedule.sstore_reset_gas
            refund += base - schedule.sload_gas
    if not _warm(ctx, slot):
        cost += COLD_SLOAD_GAS
    if refund:
        ctx.computation.refund_gas(refund)
    return cost
