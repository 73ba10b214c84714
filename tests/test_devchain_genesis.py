"""The dev chain's start without eth-tester and py_ecc's tables: its genesis is eth-tester's
(utils.devchain.genesis), and py-evm's curve precompiles, imported on their first call
(utils.devchain.lazy_precompiles), answer on a real chain child as py_ecc computes."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
from eth_tester import PyEVMBackend
from eth_utils import to_canonical_address
from py_ecc import optimized_bls12_381 as bls
from py_ecc import optimized_bn128 as bn128

from utils.devchain.chain import DevChain
from utils.devchain.genesis import build_chain, default_vm_configuration
from utils.devchain.nitro.l1pricing import L1Pricing
from utils.devchain.nitro.vm import nitro_vm_configuration
from utils.devchain.process import PROJECT_ROOT
from utils.devchain.stylus.host import stylus_vm_configuration

STAMP = 1_760_000_000


def test_genesis_is_eth_testers() -> None:
    """Same genesis header (hash), schedule, chain id and gas-limit rule as the
    PyEVMBackend the dev chain was built with before."""
    funder = "0x" + secrets.token_hex(20)
    schedule = nitro_vm_configuration(stylus_vm_configuration(default_vm_configuration()),
                                      L1Pricing(price_per_unit=7))
    ours = build_chain(1337, 10**9, funder, 10**24, schedule, timestamp=STAMP)
    params = PyEVMBackend.generate_genesis_params(
        overrides={"gas_limit": 10**9, "timestamp": STAMP})
    state = {to_canonical_address(funder): {"balance": 10**24, "nonce": 0, "code": b"",
                                            "storage": {}}}
    theirs = PyEVMBackend(genesis_parameters=params, genesis_state=state,
                          vm_configuration=schedule).chain
    type(theirs).chain_id = 1337
    assert ours.get_canonical_head() == theirs.get_canonical_head()
    assert ours.get_canonical_head().hash == theirs.get_canonical_head().hash
    assert ours.chain_id == theirs.chain_id == 1337

    def shape(chain: Any) -> list[tuple[int, Any, Any]]:
        return [(n, vm.__mro__[1], vm.consensus_class) for n, vm in chain.vm_configuration]

    assert shape(ours) == shape(theirs)
    ours_next = ours.create_header_from_parent(ours.get_canonical_head(), timestamp=STAMP + 1)
    theirs_next = theirs.create_header_from_parent(theirs.get_canonical_head(),
                                                   timestamp=STAMP + 1)
    assert ours_next == theirs_next and ours_next.gas_limit == 10**9
    assert type(ours.get_transaction_builder()) is type(theirs.get_transaction_builder())
    assert ours.get_transaction_builder() is ours.get_vm().get_transaction_builder()


def test_chain_child_imports_no_curve_tables() -> None:
    """What the chain child imports (its modules and the Stylus host) leaves py_ecc's curves,
    eth-tester and eth-account out; a precompile's first call imports py-evm's module."""
    script = (
        "import sys\n"
        "import utils.devchain.child, utils.devchain.stylus.host\n"
        "from eth.vm.forks.prague.computation import PragueComputation\n"
        "heavy = ('py_ecc.optimized_bls12_381', 'py_ecc.optimized_bn128', 'py_ecc.bls',"
        " 'eth_tester', 'eth_account')\n"
        "print(json.dumps([m for m in heavy if m in sys.modules]))\n"
        "fns = {type(f).__name__ for f in PragueComputation.get_precompiles().values()}\n"
        "print(json.dumps(sorted(fns)))\n"
    )
    out = subprocess.run([sys.executable, "-c", "import json\n" + script], cwd=PROJECT_ROOT,
                         capture_output=True, text=True, check=True, timeout=60).stdout
    imported, kinds = (json.loads(line) for line in out.splitlines())
    assert imported == []
    assert "LazyPrecompile" in kinds


@pytest.fixture(scope="module")
def chain() -> Iterator[DevChain]:
    with DevChain.start() as running:
        yield running


async def eth_call(chain: DevChain, address: int, data: bytes) -> dict[str, Any]:
    body = {"jsonrpc": "2.0", "id": 1, "method": "eth_call",
            "params": [{"to": f"0x{address:040x}", "data": "0x" + data.hex(), "gas": "0x989680"},
                       "latest"]}  # fmt: skip
    async with aiohttp.ClientSession() as session, session.post(chain.url, json=body) as reply:
        answer: dict[str, Any] = await reply.json()
        return answer


def fp(value: Any, size: int) -> bytes:
    return int(value).to_bytes(size, "big")


def g1(point: Any) -> bytes:  # EIP-2537: each coordinate in 64 bytes
    x, y = bls.normalize(point)
    return fp(x.n, 64) + fp(y.n, 64)


def g2(point: Any) -> bytes:
    x, y = bls.normalize(point)
    return b"".join(fp(c, 64) for c in (*x.coeffs, *y.coeffs))


def bn(point: Any) -> bytes:
    x, y = bn128.normalize(point)
    return fp(x.n, 32) + fp(y.n, 32)


async def test_curve_precompiles_answer_as_py_ecc(chain: DevChain) -> None:
    """BLS12-381 G1ADD (0x0b) and G2ADD (0x0d), alt_bn128 ECADD (0x06), ECMUL (0x07) and an
    empty ECPAIRING (0x08) on the chain child, against py_ecc; a point off the curve fails."""
    doubled = await eth_call(chain, 0x0B, g1(bls.G1) + g1(bls.G1))
    assert doubled["result"] == "0x" + g1(bls.double(bls.G1)).hex()
    summed = await eth_call(chain, 0x0D, g2(bls.G2) + g2(bls.double(bls.G2)))
    assert summed["result"] == "0x" + g2(bls.multiply(bls.G2, 3)).hex()
    off_curve = g1(bls.G1)[:-1] + bytes([g1(bls.G1)[-1] ^ 1])
    assert "error" in await eth_call(chain, 0x0B, off_curve + g1(bls.G1))
    added = await eth_call(chain, 0x06, bn(bn128.G1) + bn(bn128.G1))
    assert added["result"] == "0x" + bn(bn128.double(bn128.G1)).hex()
    tripled = await eth_call(chain, 0x07, bn(bn128.G1) + (3).to_bytes(32, "big"))
    assert tripled["result"] == "0x" + bn(bn128.multiply(bn128.G1, 3)).hex()
    empty = await eth_call(chain, 0x08, b"")
    assert empty["result"] == "0x" + (1).to_bytes(32, "big").hex()
