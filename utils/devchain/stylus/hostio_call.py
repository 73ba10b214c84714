"""Calls out of a Stylus program: ``call_contract``, ``static_call_contract`` and the return
data they leave (``read_return_data``, ``return_data_size``), with Nitro's semantics.

As Nitro (``user-host-trait`` ``call_contract`` / ``static_call_contract``, and
``arbos/programs/api.go`` ``doCall`` with go-ethereum's ``WasmCallCost``):

* the hostio costs ``HOSTIO + 3 PTR + EVM_API`` ink plus two ``read`` charges for the
  calldata; the gas the program asks for is capped by what it has left;
* the call's base cost is the EIP-2929 account access (100 warm, +2500 cold), plus 9000 for
  a value transfer and 25000 more when that value lands in an empty account;
* the callee gets ``min(requested, (left - base) * 63 / 64)`` gas, plus the 2300 stipend
  when value is sent; the program pays ``base + (given - returned)``;
* a value transfer from a static context fails with nothing charged; depth over 1024 or a
  balance short of the value fail and return the gas;
* status 0 is success, 2 any failure (Nitro's ``statusByte``); the callee's output is the
  return data on success and on revert, empty after any other failure.

The callee runs as a py-evm child computation of the program's computation, so it is
either EVM code or another Stylus program (WASM calling WASM), shares the transaction's
journal (a failed callee's writes are undone; a reverting caller undoes its callees'),
and its logs and refunds join the caller's on success.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import wasmtime
from eth.constants import GAS_CALLSTIPEND, GAS_CALLVALUE, GAS_NEWACCOUNT, STACK_DEPTH_LIMIT
from eth_typing import Address

from utils.devchain.stylus.context import HostContext
from utils.devchain.stylus.pricing import (
    COLD_ACCOUNT_GAS,
    EVM_API_INK,
    HOSTIO_INK,
    PTR_INK,
    WARM_SLOAD_GAS,
    read_ink,
    write_ink,
)

__all__ = ["CALL_CONTRACT_INK", "CALL_HOSTIOS", "call_base_cost"]

Caller = wasmtime.Caller
CALL_CONTRACT_INK = HOSTIO_INK + 3 * PTR_INK + EVM_API_INK
READ_RETURN_DATA_INK = HOSTIO_INK + EVM_API_INK
STATUS_SUCCESS, STATUS_FAILURE = 0, 2
_U32, _U64 = 0xFFFFFFFF, (1 << 64) - 1


def call_base_cost(ctx: HostContext, to: Address, value: int, budget: int) -> int | None:
    """go-ethereum's ``WasmCallCost``: the gas before the callee runs, or ``None`` when it
    exceeds ``budget`` (out of gas; the account is still marked warm, as geth does)."""
    state = ctx.computation.state
    total = WARM_SLOAD_GAS
    if total > budget:
        return None
    if not state.is_address_warm(to):
        state.mark_address_warm(to)
        total += COLD_ACCOUNT_GAS - WARM_SLOAD_GAS
        if total > budget:
            return None
    if value and state.account_is_empty(to):
        total += GAS_NEWACCOUNT
        if total > budget:
            return None
    if value:
        total += GAS_CALLVALUE
        if total > budget:
            return None
    return total


def _run_child(ctx: HostContext, to: Address, data: bytes, gas: int, value: int,
               static: bool) -> tuple[bytes, int, int]:
    """go-ethereum's ``evm.Call`` / ``evm.StaticCall``: (output, gas returned, status)."""
    computation = ctx.computation
    state = computation.state
    if computation.msg.depth + 1 > STACK_DEPTH_LIMIT:
        return b"", gas, STATUS_FAILURE
    if value and state.get_balance(ctx.address) < value:
        return b"", gas, STATUS_FAILURE
    child_msg = computation.prepare_child_message(
        gas=gas, to=to, value=value, data=data, code=state.get_code(to),
        is_static=static or ctx.is_static, should_transfer_value=not static,
    )
    child = computation.apply_child_computation(child_msg)
    output = b"" if child.should_erase_return_data else bytes(child.output)
    returned = child.get_gas_remaining() if child.should_return_gas else 0
    return output, returned, STATUS_FAILURE if child.is_error else STATUS_SUCCESS


def do_call(ctx: HostContext, to: Address, data: bytes, gas_left: int, gas_req: int,
            value: int, static: bool) -> tuple[int, int]:
    """Nitro's ``doCall``: runs the call, keeps its return data; (gas cost, status)."""
    if ctx.is_static and value:
        ctx.return_data = b""
        return 0, STATUS_FAILURE  # vm.ErrWriteProtection, nothing charged
    base = call_base_cost(ctx, to, value, gas_left)
    if base is None:
        ctx.return_data = b""
        return gas_left, STATUS_FAILURE  # out of gas: the whole budget is spent
    start_gas = max(gas_left - base, 0) * 63 // 64
    gas = min(start_gas, gas_req)
    if value:
        gas += GAS_CALLSTIPEND
    output, returned, status = _run_child(ctx, to, data, gas, value, static)
    ctx.return_data = output
    return base + max(gas - returned, 0), status


def _call(ctx: HostContext, caller: Caller, contract: int, data: int, data_len: int,
          value_ptr: int | None, gas: int, ret_len: int) -> int:
    ctx.buy_ink(caller, CALL_CONTRACT_INK)
    data_len &= _U32
    ctx.buy_ink(caller, 2 * read_ink(data_len))  # read from the program, then from geth
    gas_left = ctx.gas_left(caller)
    gas_req = min(gas & _U64, gas_left)
    to = Address(ctx.read(caller, contract, 20))
    calldata = ctx.read(caller, data, data_len)
    value = ctx.read_word(caller, value_ptr) if value_ptr is not None else 0
    cost, status = do_call(ctx, to, calldata, gas_left, gas_req, value, value_ptr is None)
    ctx.buy_gas(caller, cost)
    ctx.write(caller, ret_len, len(ctx.return_data).to_bytes(4, "little"))
    return status


def call_contract(ctx: HostContext, caller: Caller, contract: int, data: int, data_len: int,
                  value: int, gas: int, ret_len: int) -> int:
    return _call(ctx, caller, contract, data, data_len, value, gas, ret_len)


def static_call_contract(ctx: HostContext, caller: Caller, contract: int, data: int,
                         data_len: int, gas: int, ret_len: int) -> int:
    return _call(ctx, caller, contract, data, data_len, None, gas, ret_len)


def read_return_data(ctx: HostContext, caller: Caller, dest: int, offset: int, size: int) -> int:
    ctx.buy_ink(caller, READ_RETURN_DATA_INK)
    offset &= _U32
    size &= _U32
    available = max(len(ctx.return_data) - offset, 0)
    ctx.buy_ink(caller, write_ink(min(size, available)))  # only what could be written
    if available == 0:
        return 0
    chunk = ctx.return_data[offset : offset + size]
    ctx.write(caller, dest, chunk)
    return len(chunk)


def return_data_size(ctx: HostContext, caller: Caller) -> int:
    ctx.buy_ink(caller, HOSTIO_INK)
    return len(ctx.return_data)


CALL_HOSTIOS: dict[str, Callable[..., Any]] = {
    "call_contract": call_contract,
    "static_call_contract": static_call_contract,
    "read_return_data": read_return_data,
    "return_data_size": return_data_size,
}
