"""The Stylus host ABI table and the wasmtime engine with Nitro's WASM features.

Signatures from OffchainLabs/nitro ``arbitrator/stylus/src/native.rs`` (the ``vm_hooks``
imports a program may use) and features from ``arbitrator/prover/src/binary.rs``.
"""

from __future__ import annotations

import wasmtime

from utils.devchain.stylus.wasm import FuncType

__all__ = ["HOSTIOS", "I32", "I64", "UNSUPPORTED_HOSTIOS", "new_engine", "signature"]

I32, I64 = 0x7F, 0x7E


def signature(params: str, results: str = "") -> FuncType:
    """``"ii", "I"`` -> (i32, i32) -> i64."""
    types = {"i": I32, "I": I64}
    return FuncType(tuple(types[c] for c in params), tuple(types[c] for c in results))


HOSTIOS: dict[str, FuncType] = {
    "read_args": signature("i"), "write_result": signature("ii"), "exit_early": signature("i"),
    "storage_load_bytes32": signature("ii"), "storage_cache_bytes32": signature("ii"),
    "storage_flush_cache": signature("i"), "transient_load_bytes32": signature("ii"),
    "transient_store_bytes32": signature("ii"), "read_return_data": signature("iii", "i"),
    "return_data_size": signature("", "i"), "emit_log": signature("iii"),
    "account_balance": signature("ii"), "account_code": signature("iiii", "i"),
    "account_codehash": signature("ii"), "account_code_size": signature("i", "i"),
    "evm_gas_left": signature("", "I"), "evm_ink_left": signature("", "I"),
    "block_basefee": signature("i"), "chainid": signature("", "I"),
    "block_coinbase": signature("i"), "block_gas_limit": signature("", "I"),
    "block_number": signature("", "I"), "block_timestamp": signature("", "I"),
    "contract_address": signature("i"), "math_div": signature("ii"), "math_mod": signature("ii"),
    "math_pow": signature("ii"), "math_add_mod": signature("iii"), "math_mul_mod": signature("iii"),
    "msg_reentrant": signature("", "i"), "msg_sender": signature("i"), "msg_value": signature("i"),
    "tx_gas_price": signature("i"), "tx_ink_price": signature("", "i"), "tx_origin": signature("i"),
    "pay_for_memory_grow": signature("i"), "native_keccak256": signature("iii"),
    "call_contract": signature("iiiiIi", "i"), "static_call_contract": signature("iiiIi", "i"),
}
# Real Nitro hooks this dev host does not provide (call_contract and static_call_contract
# are provided: utils/devchain/stylus/hostio_call.py).
UNSUPPORTED_HOSTIOS = frozenset({"delegate_call_contract", "create1", "create2"})


def new_engine(max_stack_bytes: int = 512 * 1024) -> wasmtime.Engine:
    """A wasmtime engine with Nitro's WasmFeatures: no SIMD, threads, multi-memory, memory64,
    tail calls, exceptions or GC. Reference types stay on in the engine (wasmtime cannot turn
    them off with its other defaults) and are rejected by :func:`check_program` instead."""
    config = wasmtime.Config()
    config.wasm_relaxed_simd = False
    config.wasm_simd = False
    config.wasm_threads = False
    config.wasm_multi_memory = False
    config.wasm_memory64 = False
    config.wasm_tail_call = False
    config.wasm_exceptions = False
    config.wasm_gc = False
    config.wasm_function_references = False
    config.wasm_wide_arithmetic = False
    config.wasm_custom_page_sizes = False
    config.wasm_stack_switching = False
    config.wasm_bulk_memory = True
    config.wasm_multi_value = True
    config.max_wasm_stack = max_stack_bytes
    config.cranelift_nan_canonicalization = True
    return wasmtime.Engine(config)
