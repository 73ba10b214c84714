"""Environment ``vm_hooks``: block and transaction data, accounts, transient storage, gas,
and 256-bit math, priced as in Nitro's ``user-host-trait``.

Dev-chain note: Nitro's ``block_number`` is the L1 block number the sequencer saw; this
host has no L1 and returns the chain's own block number (what ``NUMBER`` returns here).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import wasmtime
from eth_typing import Address

from utils.devchain.stylus.context import HostContext, HostFailure
from utils.devchain.stylus.pricing import (
    ADD_MOD_INK,
    COLD_ACCOUNT_GAS,
    DIV_INK,
    EVM_API_INK,
    HOSTIO_INK,
    INK_PRICE,
    MUL_MOD_INK,
    PTR_INK,
    TLOAD_GAS,
    TSTORE_GAS,
    WARM_SLOAD_GAS,
    write_ink,
)

__all__ = ["ENV_HOSTIOS"]

Caller = wasmtime.Caller
_MOD = 1 << 256


def _u64(ctx: HostContext, caller: Caller, value: int) -> int:
    ctx.buy_ink(caller, HOSTIO_INK)
    return value & 0xFFFFFFFFFFFFFFFF


def _put(ctx: HostContext, caller: Caller, dest: int, data: bytes) -> None:
    ctx.buy_ink(caller, HOSTIO_INK + PTR_INK)
    ctx.write(caller, dest, data)


def _word(value: int) -> bytes:
    return (value % _MOD).to_bytes(32, "big")


def _touch(ctx: HostContext, caller: Caller, ptr: int) -> Address:
    """Read an address argument and pay EIP-2929 account access (cold 2600 / warm 100)."""
    ctx.require_gas(caller, COLD_ACCOUNT_GAS)
    address = Address(ctx.read(caller, ptr, 20))
    state = ctx.computation.state
    warm = state.is_address_warm(address)
    if not warm:
        state.mark_address_warm(address)
    ctx.buy_gas(caller, WARM_SLOAD_GAS if warm else COLD_ACCOUNT_GAS)
    return address


def account_balance(ctx: HostContext, caller: Caller, ptr: int, dest: int) -> None:
    ctx.buy_ink(caller, HOSTIO_INK + 2 * PTR_INK + EVM_API_INK)
    address = _touch(ctx, caller, ptr)
    ctx.write(caller, dest, _word(ctx.computation.state.get_balance(address)))


def account_codehash(ctx: HostContext, caller: Caller, ptr: int, dest: int) -> None:
    ctx.buy_ink(caller, HOSTIO_INK + 2 * PTR_INK + EVM_API_INK)
    address = _touch(ctx, caller, ptr)
    state = ctx.computation.state
    digest = b"\x00" * 32 if state.account_is_empty(address) else state.get_code_hash(address)
    ctx.write(caller, dest, bytes(digest))


def account_code(ctx: HostContext, caller: Caller, ptr: int, offset: int, size: int,
                 dest: int) -> int:
    ctx.buy_ink(caller, HOSTIO_INK + EVM_API_INK)
    code = ctx.computation.state.get_code(_touch(ctx, caller, ptr))
    ctx.buy_ink(caller, write_ink(len(code)))
    chunk = code[offset & 0xFFFFFFFF : (offset & 0xFFFFFFFF) + (size & 0xFFFFFFFF)]
    ctx.write(caller, dest, chunk)
    return len(chunk)


def account_code_size(ctx: HostContext, caller: Caller, ptr: int) -> int:
    ctx.buy_ink(caller, HOSTIO_INK + EVM_API_INK)
    return len(ctx.computation.state.get_code(_touch(ctx, caller, ptr)))


def transient_load_bytes32(ctx: HostContext, caller: Caller, key: int, dest: int) -> None:
    ctx.buy_ink(caller, HOSTIO_INK + 2 * PTR_INK + EVM_API_INK)
    ctx.buy_gas(caller, TLOAD_GAS)
    value = ctx.computation.state.get_transient_storage(ctx.address, ctx.read_word(caller, key))
    ctx.write(caller, dest, bytes(value).rjust(32, b"\x00"))


def transient_store_bytes32(ctx: HostContext, caller: Caller, key: int, value: int) -> None:
    ctx.buy_ink(caller, HOSTIO_INK + 2 * PTR_INK + EVM_API_INK)
    ctx.buy_gas(caller, TSTORE_GAS)
    slot, word = ctx.read_word(caller, key), ctx.read(caller, value, 32)
    if ctx.is_static:
        raise HostFailure("transient store in a static call")
    ctx.computation.state.set_transient_storage(ctx.address, slot, word)


def _math(ink: int, fn: Callable[..., int], arity: int) -> Callable[..., None]:
    def hostio(ctx: HostContext, caller: Caller, *ptrs: int) -> None:
        ctx.buy_ink(caller, HOSTIO_INK + (arity + 1) * PTR_INK + ink)
        values = [ctx.read_word(caller, ptr) for ptr in ptrs[:arity]]
        if fn is pow:
            leading = (256 - values[1].bit_length()) // 8 if values[1] else 32
            ctx.buy_ink(caller, 3000 + (33 - leading) * 17500)
            result = pow(values[0], values[1], _MOD)
        else:
            result = fn(*values)
        ctx.write_word(caller, ptrs[0], result)

    return hostio


def _div(a: int, b: int) -> int:
    return a // b if b else 0


def _mod(a: int, b: int) -> int:
    return a % b if b else 0


def _add_mod(a: int, b: int, m: int) -> int:
    return (a + b) % m if m else 0


def _mul_mod(a: int, b: int, m: int) -> int:
    return (a * b) % m if m else 0


def _block(ctx: HostContext) -> Any:
    return ctx.computation.state


ENV_HOSTIOS: dict[str, Callable[..., Any]] = {
    "block_timestamp": lambda ctx, caller: _u64(ctx, caller, _block(ctx).timestamp),
    "block_number": lambda ctx, caller: _u64(ctx, caller, _block(ctx).block_number),
    "block_gas_limit": lambda ctx, caller: _u64(ctx, caller, _block(ctx).gas_limit),
    "chainid": lambda ctx, caller: _u64(ctx, caller, _block(ctx).execution_context.chain_id),
    "tx_ink_price": lambda ctx, caller: _u64(ctx, caller, INK_PRICE),
    "evm_gas_left": lambda ctx, caller: _u64(ctx, caller, 0) or ctx.gas_left(caller),
    "evm_ink_left": lambda ctx, caller: _u64(ctx, caller, 0) or ctx.ink_left(caller),
    "block_basefee": lambda ctx, caller, d: _put(ctx, caller, d, _word(_block(ctx).base_fee)),
    "block_coinbase": lambda ctx, caller, d: _put(ctx, caller, d, bytes(_block(ctx).coinbase)),
    "contract_address": lambda ctx, caller, d: _put(ctx, caller, d, ctx.address),
    "tx_origin": lambda ctx, caller, d: _put(
        ctx, caller, d, bytes(ctx.computation.transaction_context.origin)
    ),
    "tx_gas_price": lambda ctx, caller, d: _put(
        ctx, caller, d, _word(ctx.computation.transaction_context.gas_price)
    ),
    "account_balance": account_balance,
    "account_codehash": account_codehash,
    "account_code": account_code,
    "account_code_size": account_code_size,
    "transient_load_bytes32": transient_load_bytes32,
    "transient_store_bytes32": transient_store_bytes32,
    "math_div": _math(DIV_INK, _div, 2),
    "math_mod": _math(DIV_INK, _mod, 2),
    "math_pow": _math(0, pow, 2),
    "math_add_mod": _math(ADD_MOD_INK, _add_mod, 3),
    "math_mul_mod": _math(MUL_MOD_INK, _mul_mod, 3),
}
