"""Core ``vm_hooks``: calldata, return data, logs, keccak, memory growth, message data.

Each hook charges what Nitro's ``user-host-trait`` charges (ink for the hostio and its
copies, EVM gas for logs and pages) before doing the work. The registry :data:`HOSTIO_IMPLS`
maps import names to implementations taking ``(ctx, caller, *wasm_args)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import wasmtime
from eth_utils import keccak

from utils.devchain.stylus.context import EarlyExit, HostContext, HostFailure
from utils.devchain.stylus.hostio_call import CALL_HOSTIOS
from utils.devchain.stylus.hostio_env import ENV_HOSTIOS
from utils.devchain.stylus.pricing import (
    EVM_API_INK,
    HOSTIO_INK,
    LOG_DATA_GAS,
    LOG_TOPIC_GAS,
    PTR_INK,
    keccak_ink,
    memory_gas_cost,
    read_ink,
    write_ink,
)
from utils.devchain.stylus.storage import (
    storage_cache_bytes32,
    storage_flush_cache,
    storage_load_bytes32,
)

__all__ = ["HOSTIO_IMPLS"]

Caller = wasmtime.Caller


def read_args(ctx: HostContext, caller: Caller, dest: int) -> None:
    ctx.buy_ink(caller, HOSTIO_INK + write_ink(len(ctx.args)))
    ctx.write(caller, dest, ctx.args)


def write_result(ctx: HostContext, caller: Caller, ptr: int, size: int) -> None:
    size &= 0xFFFFFFFF
    ctx.buy_ink(caller, HOSTIO_INK + 2 * read_ink(size))  # pay_for_read + pay_for_geth_bytes
    ctx.outs = ctx.read(caller, ptr, size)


def exit_early(ctx: HostContext, caller: Caller, status: int) -> None:
    raise EarlyExit(status)


def emit_log(ctx: HostContext, caller: Caller, ptr: int, size: int, topics: int) -> None:
    ctx.buy_ink(caller, HOSTIO_INK + EVM_API_INK)
    size &= 0xFFFFFFFF
    if topics > 4 or size < topics * 32:
        raise HostFailure("bad topic data")
    ctx.buy_ink(caller, read_ink(size))
    data_len = size - topics * 32
    ctx.buy_gas(caller, (1 + topics) * LOG_TOPIC_GAS + data_len * LOG_DATA_GAS)
    raw = ctx.read(caller, ptr, size)
    if ctx.is_static:
        raise HostFailure("log in a static call")
    words = tuple(int.from_bytes(raw[i * 32 : i * 32 + 32], "big") for i in range(topics))
    ctx.computation.add_log_entry(ctx.address, words, raw[topics * 32 :])


def native_keccak256(ctx: HostContext, caller: Caller, ptr: int, size: int, dest: int) -> None:
    size &= 0xFFFFFFFF
    ctx.buy_ink(caller, keccak_ink(size))
    ctx.write(caller, dest, keccak(ctx.read(caller, ptr, size)))


def pay_for_memory_grow(ctx: HostContext, caller: Caller, pages: int) -> None:
    pages &= 0xFFFF
    if pages == 0:
        ctx.buy_ink(caller, HOSTIO_INK)
        return
    open_pages, ever = ctx.pages.add(pages)
    ctx.buy_gas(caller, memory_gas_cost(pages, open_pages, ever))


def msg_sender(ctx: HostContext, caller: Caller, dest: int) -> None:
    ctx.buy_ink(caller, HOSTIO_INK + PTR_INK)
    ctx.write(caller, dest, bytes(ctx.computation.msg.sender))


def msg_value(ctx: HostContext, caller: Caller, dest: int) -> None:
    ctx.buy_ink(caller, HOSTIO_INK + PTR_INK)
    ctx.write_word(caller, dest, ctx.computation.msg.value)


def msg_reentrant(ctx: HostContext, caller: Caller) -> int:
    ctx.buy_ink(caller, HOSTIO_INK)
    return int(ctx.reentrant)


HOSTIO_IMPLS: dict[str, Callable[..., Any]] = {
    "read_args": read_args,
    "write_result": write_result,
    "exit_early": exit_early,
    "storage_load_bytes32": storage_load_bytes32,
    "storage_cache_bytes32": storage_cache_bytes32,
    "storage_flush_cache": storage_flush_cache,
    "emit_log": emit_log,
    "native_keccak256": native_keccak256,
    "pay_for_memory_grow": pay_for_memory_grow,
    "msg_sender": msg_sender,
    "msg_value": msg_value,
    "msg_reentrant": msg_reentrant,
    **ENV_HOSTIOS,
    **CALL_HOSTIOS,
}
