"""Deploy + activate + call the Stylus program over JSON-RPC on the embedded dev chain."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from eth_abi import decode, encode
from eth_account import Account
from eth_utils import keccak
from web3 import HTTPProvider, Web3

from utils.chain.stylus_code import (
    ARB_WASM_ADDRESS,
    activate_calldata,
    default_program_wasm,
    stylus_init_code,
)
from utils.devchain import DevChain

SUBMIT = keccak(text="submitResult(bytes32,bytes,bytes32)")[:4]
GET = keccak(text="getResult(bytes32)")[:4]


@pytest.fixture(scope="module")
def chain() -> Iterator[DevChain]:
    with DevChain.start(stylus=True) as devchain:
        yield devchain


def test_program_deploys_activates_and_runs_over_json_rpc(chain: DevChain) -> None:
    w3 = Web3(HTTPProvider(chain.url))
    account = Account.from_key(chain.funder_key)
    nonce = int(w3.eth.get_transaction_count(account.address))

    def send(fields: dict[str, Any]) -> Any:
        nonlocal nonce
        tx = {"chainId": chain.chain_id, "nonce": nonce, "gas": 6_000_000,
              "gasPrice": w3.eth.gas_price, **fields}
        nonce += 1
        tx_hash = w3.eth.send_raw_transaction(account.sign_transaction(tx).raw_transaction)
        return w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30)

    deployed = send({"data": stylus_init_code(default_program_wasm())})
    assert deployed.status == 1
    program = deployed.contractAddress
    arb_wasm = Web3.to_checksum_address(ARB_WASM_ADDRESS)
    # ArbWasm charges Nitro's data fee; the excess value comes back
    assert send({"to": arb_wasm, "data": activate_calldata(program), "value": 10**16}).status == 1
    task, payload, proof = b"\x42" * 32, b"r" * 400, b"\x01" * 32
    args = encode(["bytes32", "bytes", "bytes32"], [task, payload, proof])
    receipt = send({"to": program, "data": SUBMIT + args})
    assert receipt.status == 1 and len(receipt.logs) == 1
    out = w3.eth.call({"to": program, "data": GET + task})
    got = decode(["bytes", "bytes32", "uint256", "address"], out)
    assert got[0] == payload and got[1] == proof
    assert got[3] == account.address.lower()
