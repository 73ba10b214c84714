"""Gas fidelity: a Stylus call costs Nitro's init gas plus its metered ink at 10,000 ink/gas."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import wasmtime
from eth_tester import EthereumTester

from tests.stylus_tester import deploy_program, new_stylus_tester
from utils.devchain.stylus.meter import INK_HEADER_COST
from utils.devchain.stylus.rules import check_program, new_engine

LOOP = """(module
  (memory (export "memory") 1 1)
  (func (export "user_entrypoint") (param i32) (result i32) (local $n i32)
    i32.const {n}
    local.set $n
    (loop $again
      local.get $n
      i32.const 1
      i32.sub
      local.tee $n
      br_if $again)
    i32.const 0))"""
# Per iteration: local.get 75 + i32.const 1 + i32.sub 70 + local.tee 75 + br_if 765 + header.
ITERATION_INK = 75 + 1 + 70 + 75 + 765 + INK_HEADER_COST


@pytest.fixture(scope="module")
def tester() -> Iterator[EthereumTester]:
    yield new_stylus_tester()


def call_gas(tester: EthereumTester, wasm: bytes) -> int:
    sender = tester.get_accounts()[0]
    address = deploy_program(tester, wasm, sender).address
    tx = tester.send_transaction({"from": sender, "to": address, "data": "0x", "gas": 1_000_000})
    receipt = tester.get_transaction_receipt(tx)
    assert receipt["status"] == 1
    return int(receipt["gas_used"])


def test_loop_iterations_cost_their_metered_ink(tester: EthereumTester) -> None:
    short = call_gas(tester, bytes(wasmtime.wat2wasm(LOOP.format(n=1000))))
    long = call_gas(tester, bytes(wasmtime.wat2wasm(LOOP.format(n=3000))))
    assert long - short in {2000 * ITERATION_INK // 10_000, 2000 * ITERATION_INK // 10_000 + 1}


def test_call_pays_nitro_init_gas_plus_ink(tester: EthereumTester) -> None:
    wasm = bytes(wasmtime.wat2wasm(LOOP.format(n=1)))
    info = check_program(wasm, new_engine())
    # Blocks: [i32.const local.set loop], one iteration, the loop's [end], [i32.const end];
    # each with a 2450-ink header. Gas left is ink left floored, so ink is paid rounded up.
    ink = (1 + 210 + 1) + ITERATION_INK + 1 + (1 + 1) + 3 * INK_HEADER_COST
    # an uncached Stylus v2 program pays Nitro's init gas (69 x 128 + initCost) and its cached
    # gas (11 x 32 + cachedCost): arbos/programs/programs.go CallProgram, initGas, cachedGas
    init = 69 * 128 + info.init_cost + 11 * 32 + info.cached_init_cost
    expected = 21_000 + init + -(-ink // 10_000)
    assert call_gas(tester, wasm) == expected


FILL = """(module
  (memory (export "memory") 1 1)
  (func (export "user_entrypoint") (param i32) (result i32)
    i32.const 0
    i32.const 7
    i32.const {n}
    memory.fill
    i32.const 0))"""


def test_memory_fill_pays_100_ink_a_byte(tester: EthereumTester) -> None:
    none = call_gas(tester, bytes(wasmtime.wat2wasm(FILL.format(n=0))))
    lots = call_gas(tester, bytes(wasmtime.wat2wasm(FILL.format(n=50_000))))
    assert lots - none in {500, 501}  # 50,000 bytes x 100 ink / 10,000 ink per gas
