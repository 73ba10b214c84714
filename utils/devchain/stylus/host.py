"""Arbitrum Stylus for py-evm: run WASM programs on the embedded dev chain.

``stylus_vm_configuration(vm_configuration)`` returns the same chain schedule with each VM
replaced by a subclass whose computation

* runs code starting with ``EF F0 00`` (Nitro's Stylus prefix) as an activated WASM
  program under wasmtime, bound to the chain's real state (storage through py-evm's
  journal, logs into the receipt, msg/block/tx data, gas);
* accepts such code from contract creation (EIP-3541 rejects ``0xEF`` code otherwise);
* exposes the ArbWasm precompile at 0x…71 (:mod:`utils.devchain.stylus.arbwasm`).

Usage (in-process)::

    backend = PyEVMBackend(vm_configuration=stylus_vm_configuration(((0, PragueVM),)))

Deploy with :func:`utils.chain.stylus_code.stylus_init_code` then activate with
:func:`utils.chain.stylus_code.activate_calldata` sent to ``ARB_WASM_ADDRESS``.
"""

from __future__ import annotations

import logging
from typing import Any, cast

from eth.abc import ComputationAPI, MessageAPI, StateAPI, TransactionContextAPI
from eth.exceptions import OutOfGas, StackDepthLimit
from eth.vm.forks.london import LondonVM
from eth.vm.forks.prague import PragueVM
from eth.vm.forks.spurious_dragon.constants import EIP170_CODE_SIZE_LIMIT
from eth_abi import encode
from eth_utils import keccak

from utils.chain.stylus_code import (
    ARB_OWNER_PUBLIC_ADDRESS,
    ARB_WASM_ADDRESS,
    ARB_WASM_CACHE_ADDRESS,
    ERROR_NEEDS_UPGRADE,
    ERROR_NOT_ACTIVATED,
    StylusCodeError,
    activate_calldata,
    decompress_program,
    is_stylus_program,
    stylus_code,
    stylus_init_code,
)
from utils.devchain.stylus.arbwasm import arb_wasm_precompile, program_record, revert
from utils.devchain.stylus.arbwasm_cache import (
    arb_owner_public_precompile,
    arb_wasm_cache_precompile,
)
from utils.devchain.stylus.context import HostContext
from utils.devchain.stylus.pricing import (
    INK_PRICE,
    STYLUS_VERSION,
    evm_memory_cost,
    memory_gas_cost,
    program_init_gas,
)
from utils.devchain.stylus.rules import StylusActivationError
from utils.devchain.stylus.runtime import FAILURE, OUT_OF_INK, OUT_OF_STACK, REVERT, StylusRuntime
from utils.errors import ConfigError

__all__ = [
    "ARB_WASM_ADDRESS",
    "StylusRuntime",
    "activate_calldata",
    "stylus_code",
    "stylus_init_code",
    "stylus_vm_configuration",
]

logger = logging.getLogger(__name__)

VMConfiguration = tuple[tuple[int, type[Any]], ...]


class StylusComputationMixin:
    """Mixed in front of a fork's computation class by :func:`stylus_vm_class`."""

    runtime: StylusRuntime

    @classmethod
    def apply_computation(
        cls,
        state: StateAPI,
        message: MessageAPI,
        transaction_context: TransactionContextAPI,
        parent_computation: ComputationAPI | None = None,
    ) -> ComputationAPI:
        code = bytes(message.code)
        if message.is_create or not is_stylus_program(code):
            return super().apply_computation(  # type: ignore[misc]
                state, message, transaction_context, parent_computation
            )
        with cast(Any, cls)(state, message, transaction_context) as computation:
            computation.contracts_created = (
                parent_computation.contracts_created if parent_computation is not None else []
            )
            _run_program(cls.runtime, computation, code)
        return cast(ComputationAPI, computation)

    @classmethod
    def validate_contract_code(cls, contract_code: bytes) -> None:
        if is_stylus_program(contract_code):  # Nitro lets the Stylus prefix past EIP-3541
            if len(contract_code) > EIP170_CODE_SIZE_LIMIT:
                raise OutOfGas(f"Stylus code of {len(contract_code)} bytes exceeds EIP-170")
            return
        super().validate_contract_code(contract_code)  # type: ignore[misc]


def _run_program(runtime: StylusRuntime, computation: ComputationAPI, code: bytes) -> None:
    codehash = keccak(code)
    record = program_record(computation, codehash)
    if record is None:
        revert(computation, ERROR_NOT_ACTIVATED)
        return
    if record.version != STYLUS_VERSION:
        revert(computation, ERROR_NEEDS_UPGRADE + encode(["uint16", "uint16"],
                                                          [record.version, STYLUS_VERSION]))
    try:
        program = runtime.compiled(codehash, lambda: decompress_program(code))
    except (StylusCodeError, StylusActivationError) as exc:
        logger.error("activated program %s no longer compiles: %s", codehash.hex(), exc)
        revert(computation, b"")
        return
    pages = runtime.pages(computation.transaction_context)
    starting_gas = computation.get_gas_remaining()
    init = memory_gas_cost(record.footprint, pages.open, pages.ever)
    init += program_init_gas(record.init_cost, record.cached_cost, record.version, record.cached)
    computation.consume_gas(init, reason="Stylus program init")
    address = bytes(computation.msg.storage_address)
    ctx = HostContext(computation, bytes(computation.msg.data), pages,
                      reentrant=runtime.is_running(address))
    open_before = pages.open
    pages.add(record.footprint)
    try:
        result = runtime.execute(program, ctx, computation.get_gas_remaining() * INK_PRICE)
    finally:
        pages.open = open_before
    used = computation.get_gas_remaining() - result.ink_left // INK_PRICE
    if used > 0:
        computation.consume_gas(used, reason="Stylus ink")
    if result.status == OUT_OF_INK:
        raise OutOfGas("Stylus program ran out of ink")
    if result.status == OUT_OF_STACK:
        raise StackDepthLimit("Stylus program exhausted its stack")
    if result.status == FAILURE:
        logger.debug("Stylus program %s failed: %s", codehash.hex(), result.detail)
        revert(computation, b"")
    _settle_output(computation, result.output, starting_gas)
    if result.status == REVERT:
        revert(computation, result.output)


def _settle_output(computation: ComputationAPI, output: bytes, starting_gas: int) -> None:
    """Return data costs at least what EVM memory for it would (Nitro, ArbOS StylusFixes)."""
    if output:
        evm_cost = evm_memory_cost(len(output))
        if starting_gas < evm_cost:
            raise OutOfGas("Stylus return data exceeds the call's gas")
        excess = computation.get_gas_remaining() - (starting_gas - evm_cost)
        if excess > 0:
            computation.consume_gas(excess, reason="Stylus return data floor")
    computation.output = output


def stylus_vm_class(vm_class: type[Any], runtime: StylusRuntime) -> type[Any]:
    """A subclass of ``vm_class`` (London or later) that runs Stylus programs."""
    if not issubclass(vm_class, LondonVM):
        raise ConfigError("vm_configuration", f"{vm_class.__name__} predates London; "
                          "Stylus needs London or later")
    base_state = vm_class._state_class
    base_computation = base_state.computation_class
    precompiles: dict[Any, Any] = dict(base_computation.get_precompiles())
    precompiles[ARB_WASM_ADDRESS] = arb_wasm_precompile
    precompiles[ARB_WASM_CACHE_ADDRESS] = arb_wasm_cache_precompile
    precompiles[ARB_OWNER_PUBLIC_ADDRESS] = arb_owner_public_precompile
    computation = type(
        f"Stylus{base_computation.__name__}",
        (StylusComputationMixin, base_computation),
        {"runtime": runtime, "_precompiles": precompiles},
    )
    state = type(f"Stylus{base_state.__name__}", (base_state,), {"computation_class": computation})
    return type(f"Stylus{vm_class.__name__}", (vm_class,), {"_state_class": state})


def stylus_vm_configuration(
    vm_configuration: VMConfiguration | None = None,
    runtime: StylusRuntime | None = None,
) -> VMConfiguration:
    """``vm_configuration`` (default ``((0, PragueVM),)``) with every VM Stylus-enabled.

    All VMs share one :class:`StylusRuntime` (engine + compiled-program cache)."""
    schedule = vm_configuration if vm_configuration is not None else ((0, PragueVM),)
    shared = runtime if runtime is not None else StylusRuntime()
    return tuple((block, stylus_vm_class(vm, shared)) for block, vm in schedule)
