"""Nitro's program cache: a cached program's calls pay only the cached init gas.

Expected figures are computed here from Nitro's formulas (arbos/programs/programs.go
``Program.initGas`` / ``cachedGas`` and ``CallProgram``; arbos/programs/params.go defaults
for Stylus v2: MinInitGas 69 x 128 gas, MinCachedInitGas 11 x 32 gas, both scalars 50 x 2 %),
not by calling the chain's pricing code.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import wasmtime
from eth_abi import decode
from eth_tester import EthereumTester
from eth_utils import keccak, to_checksum_address

from tests.stylus_tester import deploy_program, new_stylus_tester
from utils.chain.stylus_code import (
    ARB_OWNER_PUBLIC_ADDRESS,
    ARB_WASM_CACHE_ADDRESS,
    EVENT_UPDATE_PROGRAM_CACHE,
    SELECTOR_CACHE_PROGRAM,
    SELECTOR_CODEHASH_IS_CACHED,
    SELECTOR_EVICT_CODEHASH,
    SELECTOR_IS_CHAIN_OWNER,
    address_calldata,
    stylus_code,
)
from utils.devchain.stylus.rules import check_program, new_engine
from utils.devchain.stylus.runtime import StylusRuntime

PROGRAM = """(module
  (memory (export "memory") 1 1)
  (func (export "user_entrypoint") (param i32) (result i32)
    i32.const {n}
    drop
    i32.const 0))"""
CACHE = to_checksum_address(ARB_WASM_CACHE_ADDRESS)


def nitro_init_gas(init_cost: int) -> int:
    return 69 * 128 + -(-init_cost * 100 // 100)


def nitro_cached_gas(cached_cost: int) -> int:
    return 11 * 32 + -(-cached_cost * 100 // 100)


@pytest.fixture(scope="module")
def chain() -> Iterator[tuple[EthereumTester, str, str]]:
    owner_tester = new_stylus_tester()
    owner, other = owner_tester.get_accounts()[:2]
    runtime = StylusRuntime(chain_owners=(bytes.fromhex(owner[2:]),))
    tester = new_stylus_tester(runtime)
    yield tester, owner, other


def call_gas(tester: EthereumTester, sender: str, address: str) -> int:
    tx = tester.send_transaction({"from": sender, "to": address, "data": "0x", "gas": 1_000_000})
    receipt = tester.get_transaction_receipt(tx)
    assert receipt["status"] == 1
    return int(receipt["gas_used"])


def send(tester: EthereumTester, sender: str, data: bytes) -> dict:
    tx = tester.send_transaction({"from": sender, "to": CACHE, "data": "0x" + data.hex(),
                                  "gas": 500_000})
    receipt: dict = tester.get_transaction_receipt(tx)
    return receipt


def is_cached(tester: EthereumTester, sender: str, codehash: bytes) -> bool:
    out = tester.call({"from": sender, "to": CACHE,
                       "data": "0x" + (SELECTOR_CODEHASH_IS_CACHED + codehash).hex()})
    return bool(decode(["bool"], bytes.fromhex(out[2:]))[0])


def test_a_cached_program_pays_the_cached_init_gas_only(chain) -> None:
    tester, owner, _ = chain
    wasm = bytes(wasmtime.wat2wasm(PROGRAM.format(n=7)))
    info = check_program(wasm, new_engine())
    address = deploy_program(tester, wasm, owner).address
    uncached = call_gas(tester, owner, address)
    receipt = send(tester, owner, address_calldata(SELECTOR_CACHE_PROGRAM, address))
    assert receipt["status"] == 1
    codehash = keccak(stylus_code(wasm))
    assert is_cached(tester, owner, codehash)
    (log,) = receipt["logs"]
    assert log["topics"][0] == "0x" + EVENT_UPDATE_PROGRAM_CACHE.hex()
    assert log["topics"][2] == "0x" + codehash.hex()
    cached = call_gas(tester, owner, address)
    # Stylus v2: an uncached call pays init gas + cached gas; a cached one the cached gas only
    assert uncached - cached == nitro_init_gas(info.init_cost)
    assert nitro_cached_gas(info.cached_init_cost) > 0
    # evicting brings the full init cost back
    assert send(tester, owner, SELECTOR_EVICT_CODEHASH + codehash)["status"] == 1
    assert not is_cached(tester, owner, codehash)
    assert call_gas(tester, owner, address) == uncached


def test_only_a_chain_owner_may_cache(chain) -> None:
    tester, owner, other = chain
    wasm = bytes(wasmtime.wat2wasm(PROGRAM.format(n=8)))
    address = deploy_program(tester, wasm, owner).address
    refused = send(tester, other, address_calldata(SELECTOR_CACHE_PROGRAM, address))
    # Nitro burns all the gas of a caller without access (ArbWasmCache.go: c.BurnOut())
    assert refused["status"] == 0 and refused["gas_used"] == 500_000
    assert not is_cached(tester, owner, keccak(stylus_code(wasm)))
    public = to_checksum_address(ARB_OWNER_PUBLIC_ADDRESS)

    def owns(who: str) -> bool:
        ask = "0x" + address_calldata(SELECTOR_IS_CHAIN_OWNER, who).hex()
        out = tester.call({"from": owner, "to": public, "data": ask})
        return bool(decode(["bool"], bytes.fromhex(out[2:]))[0])

    assert owns(owner) and not owns(other)


def test_caching_an_inactive_program_reverts(chain) -> None:
    tester, owner, _ = chain
    wasm = bytes(wasmtime.wat2wasm(PROGRAM.format(n=9)))
    address = deploy_program(tester, wasm, owner, activate=False).address
    assert send(tester, owner, address_calldata(SELECTOR_CACHE_PROGRAM, address))["status"] == 0


async def test_the_run_caches_its_programs_when_the_funder_may(tmp_path) -> None:
    """Over JSON-RPC on the embedded chain (its funder is the chain owner), as a run does."""
    from contextlib import AsyncExitStack

    from utils.chain.session import open_session
    from utils.chain.stylus_cache import codehash_is_cached
    from utils.chain.stylus_deploy import deploy_stylus_program
    from utils.clock import Clock
    from utils.devchain import DevChain
    from utils.observe.stats import StatsHub
    from utils.settings import load_settings

    cached_wasm = bytes(wasmtime.wat2wasm(PROGRAM.format(n=10)))
    plain_wasm = bytes(wasmtime.wat2wasm(PROGRAM.format(n=11)))
    with DevChain.start(stylus=True) as devchain:
        settings = load_settings({"rpc_url": devchain.url,
                                  "private_key": devchain.funder_key.hex()})
        async with AsyncExitStack() as stack:
            session = await open_session(settings, StatsHub(), Clock(), stack)
            await deploy_stylus_program(session, cached_wasm)
            await deploy_stylus_program(session, plain_wasm, cache=False)
            assert await codehash_is_cached(session.rpc, keccak(stylus_code(cached_wasm)))
            assert not await codehash_is_cached(session.rpc, keccak(stylus_code(plain_wasm)))
