"""Stylus rules on a real chain: modules that break them fail activation with a clear
reason; programs that trap, revert, loop or misuse memory fail only their own call."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass

import brotli
import pytest
import wasmtime
from eth_tester import EthereumTester
from eth_tester.exceptions import TransactionFailed

from tests.stylus_tester import ARB_WASM, deploy_program, new_stylus_tester
from utils.chain.stylus_code import ERROR_NOT_WASM, activate_calldata, default_program_wasm

HEAD = """(module
  (import "vm_hooks" "read_args" (func $read_args (param i32)))
  (import "vm_hooks" "write_result" (func $write_result (param i32 i32)))
  (import "vm_hooks" "storage_cache_bytes32" (func $cache (param i32 i32)))
  (import "vm_hooks" "storage_flush_cache" (func $flush (param i32)))
  (import "vm_hooks" "pay_for_memory_grow" (func $pay (param i32)))
"""
OK_MEMORY = '(memory (export "memory") 1)\n'


def program(body: str, memory: str = OK_MEMORY, extra: str = "") -> bytes:
    text = (HEAD + extra + memory
            + '(func (export "user_entrypoint") (param $len i32) (result i32)\n' + body + "))")
    return bytes(wasmtime.wat2wasm(text))


@dataclass
class Chain:
    tester: EthereumTester
    sender: str


@pytest.fixture(scope="module")
def chain() -> Iterator[Chain]:
    tester = new_stylus_tester()
    yield Chain(tester, tester.get_accounts()[0])


def activation_error(chain: Chain, wasm: bytes) -> str:
    """Deploy ``wasm`` and return the reason ArbWasm gives for refusing it."""
    deployment = deploy_program(chain.tester, wasm, chain.sender, activate=False)
    with pytest.raises(TransactionFailed) as info:
        chain.tester.call({"from": chain.sender, "to": ARB_WASM,
                           "data": "0x" + activate_calldata(deployment.address).hex()})
    return str(info.value.args[0])


def run(chain: Chain, wasm: bytes, gas: int = 500_000) -> dict:
    address = deploy_program(chain.tester, wasm, chain.sender).address
    tx = chain.tester.send_transaction(
        {"from": chain.sender, "to": address, "data": "0x1234", "gas": gas})
    receipt = dict(chain.tester.get_transaction_receipt(tx))
    receipt["address"] = address
    return receipt


@pytest.mark.parametrize(("wasm", "reason"), [
    (bytes(wasmtime.wat2wasm('(module (memory (export "memory") 1) (func (export "main")))')),
     "missing export with name user_entrypoint"),
    (program("v128.const i64x2 0 0\ndrop\ni32.const 0"), "SIMD support is not enabled"),
    (program("f64.const 1.5\ndrop\ni32.const 0"), "floating-point opcode 0x44"),
    (program("i32.const 0", memory='(memory (export "memory") 129)\n'),
     "memory exceeds limit: 129 > 128"),
    (program("i32.const 0", extra='(import "env" "abort" (func))\n'), "unknown import env.abort"),
    (program("i32.const 0", extra='(import "vm_hooks" "delegate_call_contract" (func (param '
                                  'i32 i32 i32 i64 i32) (result i32)))\n'), "not supported"),
    (program("i32.const 0", extra="(func $s)\n(start $s)\n"), "start functions not allowed"),
    (program("i32.const 0", memory="(memory 1)\n"), 'missing memory with export name "memory"'),
    (b"\x00asm\x01\x00\x00\x00\xff", "invalid wasm"),
    (program("table.size 0", extra="(table 1 funcref)\n"), "reference-types opcode"),
])
def test_rule_breaking_modules_fail_activation_with_a_reason(
    chain: Chain, wasm: bytes, reason: str
) -> None:
    message = activation_error(chain, wasm)
    assert "program activation failed" in message
    assert reason in message


def test_growable_memory_needs_the_pay_for_memory_grow_import(chain: Chain) -> None:
    wasm = bytes(wasmtime.wat2wasm('(module (memory (export "memory") 1) (func (export '
                                   '"user_entrypoint") (param i32) (result i32) i32.const 0))'))
    assert "pay_for_memory_grow" in activation_error(chain, wasm)


def test_evm_code_is_not_a_program(chain: Chain) -> None:
    tx = chain.tester.send_transaction(
        {"from": chain.sender, "data": "0x6001600c60003960016000f300", "gas": 200_000})
    evm = chain.tester.get_transaction_receipt(tx)["contract_address"]
    with pytest.raises(TransactionFailed) as info:
        chain.tester.call({"from": chain.sender, "to": ARB_WASM,
                           "data": "0x" + activate_calldata(evm).hex()})
    assert ast.literal_eval(info.value.args[0]) == ERROR_NOT_WASM


def test_corrupt_brotli_fails_activation(chain: Chain) -> None:
    code = b"\xef\xf0\x00\x00" + brotli.compress(default_program_wasm())[:-9]
    init = b"\x61" + len(code).to_bytes(2, "big") + b"\x80\x61\x00\x0d\x60\x00\x39\x60\x00\xf3"
    tx = chain.tester.send_transaction(
        {"from": chain.sender, "data": "0x" + (init + code).hex(), "gas": 3_000_000})
    address = chain.tester.get_transaction_receipt(tx)["contract_address"]
    with pytest.raises(TransactionFailed) as info:
        chain.tester.call({"from": chain.sender, "to": ARB_WASM,
                           "data": "0x" + activate_calldata(address).hex()})
    assert "program activation failed" in str(info.value.args[0])


def test_trap_reverts_without_data_and_keeps_leftover_gas(chain: Chain) -> None:
    receipt = run(chain, program("unreachable"))
    assert receipt["status"] == 0
    assert 20_000 < receipt["gas_used"] < 100_000


def test_explicit_revert_returns_its_data(chain: Chain) -> None:
    wasm = program("i32.const 0\ni32.const 0x4e487b71\ni32.store\n"
                   "i32.const 0\ni32.const 4\ncall $write_result\ni32.const 1")
    address = deploy_program(chain.tester, wasm, chain.sender).address
    with pytest.raises(TransactionFailed) as info:
        chain.tester.call({"from": chain.sender, "to": address, "data": "0x"})
    assert ast.literal_eval(info.value.args[0]) == (0x4E487B71).to_bytes(4, "little")


def test_infinite_loop_runs_out_of_gas_and_burns_it(chain: Chain) -> None:
    receipt = run(chain, program("(loop $l br $l)\ni32.const 0"), gas=300_000)
    assert receipt["status"] == 0
    assert receipt["gas_used"] == 300_000


def test_storage_written_then_reverted_or_trapped_is_rolled_back(chain: Chain) -> None:
    write = "i32.const 32\ni32.const 7\ni32.store8 offset=31\ni32.const 0\ni32.const 32\n" \
            "call $cache\ni32.const 1\ncall $flush\n"
    for tail in ("i32.const 1", "unreachable"):
        receipt = run(chain, program(write + tail))
        assert receipt["status"] == 0
        assert int(chain.tester.get_storage_at(receipt["address"], "0x0"), 16) == 0
    committed = run(chain, program(write + "i32.const 0"))
    assert committed["status"] == 1
    assert int(chain.tester.get_storage_at(committed["address"], "0x0"), 16) == 7


def test_memory_growth_is_charged_per_page(chain: Chain) -> None:
    small = run(chain, program("i32.const 0\nmemory.grow\ndrop\ni32.const 0"))
    large = run(chain, program("i32.const 40\nmemory.grow\ndrop\ni32.const 0"))
    assert small["status"] == large["status"] == 1
    # Nitro's model: 39 pages past the 2 free ones at 1000 gas + exp(41) - exp(1) = 252
    # (give or take the ink of one hostio, which rounds to whole gas).
    assert abs(large["gas_used"] - small["gas_used"] - (39 * 1000 + 252)) <= 2


def test_memory_beyond_128_pages_cannot_be_grown(chain: Chain) -> None:
    body = ("i32.const 200\nmemory.grow\ni32.const -1\ni32.eq\nif\nunreachable\nend\n"
            "i32.const 0")
    assert run(chain, program(body), gas=3_000_000)["status"] == 0


def test_out_of_bounds_hostio_pointer_fails_the_call_only(chain: Chain) -> None:
    receipt = run(chain, program("i32.const 0x7ffffff0\ncall $read_args\ni32.const 0"))
    assert receipt["status"] == 0
    assert run(chain, program("i32.const 0"))["status"] == 1


def test_unbounded_recursion_fails_the_call_not_the_chain(chain: Chain) -> None:
    extra = "(func $deep (param i32) (result i32) local.get 0 i32.const 1 i32.add call $deep)\n"
    receipt = run(chain, program("i32.const 0\ncall $deep", extra=extra), gas=30_000_000)
    assert receipt["status"] == 0
    assert run(chain, program("i32.const 0"))["status"] == 1
