"""eth_call and eth_estimateGas for the dev chain, with geth's semantics.

Calls run on the post-state of the chosen block with a zero base fee and zero gas price (as
geth does when no gas price is given): the sender needs no ether for gas, only for ``value``.
Gas defaults to, and is capped at, geth's RPC gas cap (50M) and the block gas limit.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass
from typing import Any

from eth.abc import StateAPI
from eth.exceptions import Revert, VMError
from eth.vm.spoof import SpoofTransaction
from eth_abi import abi
from eth_typing import Address
from eth_utils import ValidationError

from utils.devchain.backend import DevNode
from utils.devchain.nitro.node_interface import (
    BATCH_SELECTORS,
    NODE_INTERFACE_ADDRESS,
    SEL_GAS_ESTIMATE_COMPONENTS,
    SEL_GAS_ESTIMATE_L1_COMPONENT,
    Unanswered,
    batch_answer,
    components_answer,
    decode_estimate_args,
    estimate_l1_gas,
    l1_component_only,
)
from utils.errors import ChainError

logger = logging.getLogger(__name__)

RPC_GAS_CAP = 50_000_000
ZERO_ADDRESS = b"\x00" * 20
ERROR_STRING_SELECTOR = bytes.fromhex("08c379a0")
ESTIMATE_ERROR_RATIO = 0.015  # geth's gas estimator tolerance


class CallFailed(ChainError):
    """The call could not run (invalid sender state) or its execution failed.

    ``output`` holds the revert bytes when the EVM reverted, else ``None``.
    """

    def __init__(self, message: str, output: bytes | None = None) -> None:
        super().__init__(message)
        self.output = output

    @property
    def reverted(self) -> bool:
        return self.output is not None


@dataclass(frozen=True)
class CallRequest:
    """The call object of eth_call / eth_estimateGas, decoded."""

    sender: bytes = ZERO_ADDRESS
    to: bytes = b""
    data: bytes = b""
    value: int = 0
    gas: int | None = None
    access_list: tuple[tuple[bytes, tuple[int, ...]], ...] = ()


@dataclass(frozen=True)
class CallResult:
    output: bytes
    gas_used: int
    error: VMError | None


def revert_reason(output: bytes) -> str | None:
    """The string of an ``Error(string)`` revert payload, if it is one."""
    if output[:4] != ERROR_STRING_SELECTOR:
        return None
    try:
        return str(abi.decode(["string"], output[4:])[0])
    except Exception:  # malformed payload: no reason, the raw bytes still go out as data
        return None


def failure_of(result: CallResult) -> CallFailed:
    """A :class:`CallFailed` describing a failed call result, geth-style."""
    if isinstance(result.error, Revert):
        reason = revert_reason(result.output)
        message = "execution reverted" + (f": {reason}" if reason else "")
        return CallFailed(message, result.output)
    return CallFailed(f"execution failed: {type(result.error).__name__}: {result.error}")


def _call_state(node: DevNode, number: int | None) -> tuple[Any, StateAPI, int]:
    header = node.state_header(node.head().block_number if number is None else number)
    if node.nitro is not None:  # ArbGasInfo answers with the block's base fee (Nitro too)
        node.nitro.call_base_fee = int(getattr(header, "base_fee_per_gas", 0) or 0)
    vm = node.chain.get_vm(header)
    free_header = header.copy(base_fee_per_gas=0)
    prev_hashes = itertools.chain((header.hash,), vm.previous_hashes or ())
    state = vm.build_state(node.chain.chaindb.db, free_header, vm.chain_context, prev_hashes)
    return vm, state, min(header.gas_limit, RPC_GAS_CAP)


def _run(vm: Any, state: StateAPI, req: CallRequest, gas: int, chain_id: int) -> CallResult:
    unsigned = vm.get_transaction_builder().new_unsigned_dynamic_fee_transaction(
        chain_id=chain_id,
        nonce=state.get_nonce(Address(req.sender)),
        max_priority_fee_per_gas=0,
        max_fee_per_gas=0,
        gas=gas,
        to=req.to,
        value=req.value,
        data=req.data,
        access_list=req.access_list,
    )
    spoofed: Any = SpoofTransaction(unsigned, from_=req.sender)
    snapshot = state.snapshot()
    try:
        computation = state.apply_transaction(spoofed)
    except ValidationError as exc:
        raise CallFailed(str(exc)) from exc
    finally:
        state.revert(snapshot)
    used = unsigned.intrinsic_gas + computation.get_gas_used()
    error = computation.error if computation.is_error else None
    return CallResult(computation.output, used, error)


def execute_call(node: DevNode, req: CallRequest, number: int | None) -> bytes:
    """eth_call: the return bytes, or :class:`CallFailed` (with revert bytes if reverted).
    A call to NodeInterface (0x…c8) is answered here, as Nitro's RPC layer does."""
    if node.nitro is not None and req.to == NODE_INTERFACE_ADDRESS:
        return _node_interface(node, req, number)
    vm, state, cap = _call_state(node, number)
    result = _run(vm, state, req, min(req.gas or cap, cap), node.chain_id)
    if result.error is not None:
        raise failure_of(result)
    return result.output


def estimate_gas(node: DevNode, req: CallRequest, number: int | None) -> int:
    """eth_estimateGas: the least gas that runs ``req`` without error, plus (Nitro pricing)
    the L1 data component Nitro's estimator adds for the same call."""
    return _estimate_l2_gas(node, req, number) + _estimate_l1_gas(node, req, number)[0]


def _estimate_l1_gas(node: DevNode, req: CallRequest, number: int | None) -> tuple[int, int]:
    """(L1 gas of the estimate, base fee of the block) for ``req``."""
    header = node.header_at(node.head().block_number if number is None else number)
    base_fee = int(getattr(header, "base_fee_per_gas", 0) or 0)
    if node.nitro is None:
        return 0, base_fee
    nonce = node.state_at(header.block_number).get_nonce(Address(req.sender))
    gas = estimate_l1_gas(node.nitro, req.to, req.value, req.data, nonce, base_fee,
                          header.block_number + 1)
    return gas, base_fee


def _node_interface(node: DevNode, req: CallRequest, number: int | None) -> bytes:
    selector = req.data[:4]
    if selector in BATCH_SELECTORS:
        return _batch_query(node, req.data)
    if selector not in (SEL_GAS_ESTIMATE_COMPONENTS, SEL_GAS_ESTIMATE_L1_COMPONENT):
        raise CallFailed("execution reverted", b"")
    try:
        to, _creation, data = decode_estimate_args(req.data)
    except Exception as exc:  # malformed ABI input reverts, as a precompile's decoder does
        raise CallFailed("execution reverted", b"") from exc
    if to == NODE_INTERFACE_ADDRESS:
        raise CallFailed("cannot estimate virtual contract")
    inner = CallRequest(sender=req.sender, to=to, data=data, value=req.value)
    l1_gas, base_fee = _estimate_l1_gas(node, inner, number)
    assert node.nitro is not None
    head = node.head().block_number if number is None else number
    price = node.nitro.price_at(head + 1)
    if selector == SEL_GAS_ESTIMATE_L1_COMPONENT:
        nonce = node.state_at(head).get_nonce(Address(req.sender))
        return l1_component_only(node.nitro, to, req.value, data, nonce, base_fee, head + 1)
    total = _estimate_l2_gas(node, inner, number) + l1_gas
    return components_answer(total, l1_gas, base_fee, price)


def _batch_query(node: DevNode, calldata: bytes) -> bytes:
    """NodeInterface's batch and parent-chain reads (``utils.devchain.nitro.node_interface``)."""
    poster = node.nitro.poster if node.nitro is not None else None
    if poster is None:
        raise CallFailed("execution reverted")

    def mix_hash_of(number: int) -> bytes | None:
        try:
            return bytes(node.header_at(number).mix_hash)
        except LookupError:  # not made yet, or out of the history window
            return None

    def number_of_hash(block_hash: bytes) -> int | None:
        try:
            return int(node.sealed_by_hash(block_hash).block.number)
        except LookupError:
            return None

    try:
        return batch_answer(calldata, poster, mix_hash_of, number_of_hash)
    except Unanswered as exc:  # Nitro: a non-Solidity precompile error reverts without data
        logger.debug("NodeInterface reverts: %s", exc)
        raise CallFailed("execution reverted") from exc


def _estimate_l2_gas(node: DevNode, req: CallRequest, number: int | None) -> int:
    """Binary search for the least gas that runs ``req`` without error (geth's estimator)."""
    vm, state, cap = _call_state(node, number)
    hi = min(req.gas or cap, cap)
    first = _run(vm, state, req, hi, node.chain_id)
    if first.error is not None:
        raise failure_of(first)

    def succeeds(gas: int) -> bool:
        try:
            return _run(vm, state, req, gas, node.chain_id).error is None
        except CallFailed:
            return False

    lo = first.gas_used - 1
    if succeeds(first.gas_used):
        return first.gas_used
    optimistic = min(hi, (first.gas_used + 2300) * 64 // 63)
    if succeeds(optimistic):
        hi = optimistic
    else:
        lo = optimistic
    while hi - lo > 1 and (hi - lo) / hi > ESTIMATE_ERROR_RATIO:
        mid = (hi + lo) // 2
        if succeeds(mid):
            hi = mid
        else:
            lo = mid
    return hi
