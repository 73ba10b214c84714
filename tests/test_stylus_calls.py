"""Calls out of a Stylus program on a real (in-process) chain: reentrancy flag, return data
of a success and of a revert, value transfer, and the 63/64 gas rule.

The probe program: with empty calldata it returns one byte, ``msg_reentrant()``; otherwise
calldata is ``target (20 bytes) [. value (32 bytes)]`` and it ``call_contract``s the target
with that value and no data, returns what ``read_return_data`` gives (up to 64 bytes), and
exits with the call's status (0 success, non-zero failure: then the probe reverts).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import wasmtime
from eth_tester import EthereumTester
from eth_tester.exceptions import TransactionFailed

from tests.stylus_tester import deploy_program, new_stylus_tester

PROBE = """(module
  (import "vm_hooks" "read_args" (func $read_args (param i32)))
  (import "vm_hooks" "write_result" (func $write_result (param i32 i32)))
  (import "vm_hooks" "msg_reentrant" (func $reentrant (result i32)))
  (import "vm_hooks" "call_contract"
    (func $call (param i32 i32 i32 i32 i64 i32) (result i32)))
  (import "vm_hooks" "read_return_data" (func $rrd (param i32 i32 i32) (result i32)))
  (import "vm_hooks" "pay_for_memory_grow" (func $pay (param i32)))
  (memory (export "memory") 1)
  (func (export "user_entrypoint") (param $len i32) (result i32)
    (local $status i32) (local $n i32)
    (call $read_args (i32.const 0))
    (if (i32.eqz (local.get $len))
      (then
        (i32.store8 (i32.const 100) (call $reentrant))
        (call $write_result (i32.const 100) (i32.const 1))
        (return (i32.const 0))))
    (local.set $status (call $call (i32.const 0) (i32.const 200) (i32.const 0) (i32.const 20)
                             (i64.const -1) (i32.const 400)))
    (local.set $n (call $rrd (i32.const 500) (i32.const 0) (i32.const 64)))
    (call $write_result (i32.const 500) (local.get $n))
    (local.get $status)))
"""
# EVM runtimes: return GAS as a word; revert with 0xdeadbeef
RETURN_GAS = bytes.fromhex("5a60005260206000f3")
REVERT_BEEF = bytes.fromhex("63deadbeef6000526004601cfd")  # PUSH4 MSTORE REVERT(28, 4)


def init_code(runtime: bytes) -> bytes:
    n = len(runtime)
    return bytes([0x60, n, 0x80, 0x60, 12, 0x60, 0, 0x39, 0x60, 0, 0xF3, 0x00]) + runtime


@dataclass
class Chain:
    tester: EthereumTester
    sender: str
    probe: str


@pytest.fixture(scope="module")
def chain() -> Iterator[Chain]:
    tester = new_stylus_tester()
    sender = tester.get_accounts()[0]
    probe = deploy_program(tester, bytes(wasmtime.wat2wasm(PROBE)), sender).address
    yield Chain(tester, sender, probe)


def evm_contract(chain: Chain, runtime: bytes) -> str:
    tx = chain.tester.send_transaction({"from": chain.sender, "gas": 200_000,
                                        "data": "0x" + init_code(runtime).hex()})
    address: str = chain.tester.get_transaction_receipt(tx)["contract_address"]
    return address


def call(chain: Chain, data: bytes, gas: int = 1_000_000) -> bytes:
    out = chain.tester.call({"from": chain.sender, "to": chain.probe, "gas": gas,
                             "data": "0x" + data.hex()})
    return bytes.fromhex(out[2:]) if isinstance(out, str) else bytes(out)


def test_reentrant_flag_is_set_only_for_a_program_already_running(chain: Chain) -> None:
    assert call(chain, b"") == b"\x00"
    assert call(chain, bytes.fromhex(chain.probe[2:])) == b"\x01"  # probe -> probe


def test_return_data_of_a_success_and_of_a_revert(chain: Chain) -> None:
    gas_word = call(chain, bytes.fromhex(evm_contract(chain, RETURN_GAS)[2:]))
    assert len(gas_word) == 32 and int.from_bytes(gas_word, "big") > 0
    reverting = evm_contract(chain, REVERT_BEEF)
    with pytest.raises(TransactionFailed) as info:
        call(chain, bytes.fromhex(reverting[2:]))
    assert ast.literal_eval(info.value.args[0]) == bytes.fromhex("deadbeef")


def test_the_callee_gets_at_most_63_64_of_what_is_left(chain: Chain) -> None:
    target = bytes.fromhex(evm_contract(chain, RETURN_GAS)[2:])
    for gas in (200_000, 1_000_000):
        seen = int.from_bytes(call(chain, target, gas), "big")
        # what the probe had left is below gas - 21,000 (intrinsic) - its init and ink
        assert seen < (gas - 21_000) * 63 // 64
        assert seen > (gas - 21_000 - 40_000) * 63 // 64 - 2600


def test_value_moves_with_the_call_and_a_short_balance_fails(chain: Chain) -> None:
    tester, receiver = chain.tester, receiver_of(chain)
    tester.send_transaction({"from": chain.sender, "to": chain.probe, "value": 5_000,
                             "gas": 100_000, "data": "0x"})
    before = tester.get_balance(receiver)
    args = bytes.fromhex(receiver[2:]) + (1_234).to_bytes(32, "big")
    tester.send_transaction({"from": chain.sender, "to": chain.probe, "gas": 500_000,
                             "data": "0x" + args.hex()})
    assert tester.get_balance(receiver) == before + 1_234
    with pytest.raises(TransactionFailed):
        call(chain, bytes.fromhex(receiver[2:]) + (10**30).to_bytes(32, "big"))


def receiver_of(chain: Chain) -> str:
    account: str = chain.tester.get_accounts()[3]
    return account
