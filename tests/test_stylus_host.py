"""The MVPIoTProcessor Stylus program on an in-process py-evm chain with the Stylus host."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from eth_abi import decode, encode
from eth_tester import EthereumTester
from eth_tester.exceptions import TransactionFailed
from eth_utils import keccak, to_checksum_address

from tests.stylus_tester import ARB_WASM, Deployment, deploy_program, new_stylus_tester
from utils.chain.stylus_code import (
    ERROR_NOT_ACTIVATED,
    ERROR_UP_TO_DATE,
    EVENT_ACTIVATED,
    activate_calldata,
    default_program_wasm,
    stylus_code,
)
from utils.devchain.stylus.runtime import StylusRuntime

SUBMIT = keccak(text="submitResult(bytes32,bytes,bytes32)")[:4]
GET = keccak(text="getResult(bytes32)")[:4]
COUNT = keccak(text="resultCount()")[:4]
EVENT = keccak(text="ResultSubmitted(bytes32,address,bytes32,uint256)")
ALREADY = keccak(text="TaskAlreadySubmitted(bytes32)")[:4]


@dataclass
class Env:
    tester: EthereumTester
    program: Deployment
    accounts: list[str]


@pytest.fixture(scope="module")
def env() -> Iterator[Env]:
    tester = new_stylus_tester()
    accounts = list(tester.get_accounts())
    yield Env(tester, deploy_program(tester, default_program_wasm(), accounts[0]), accounts)


def submit_data(task: bytes, payload: bytes, proof: bytes) -> bytes:
    return SUBMIT + encode(["bytes32", "bytes", "bytes32"], [task, payload, proof])


def send(env: Env, data: bytes, sender: int = 0, value: int = 0) -> dict:
    tx = env.tester.send_transaction({
        "from": env.accounts[sender], "to": env.program.address, "data": "0x" + data.hex(),
        "gas": 2_000_000, "value": value,
    })
    return dict(env.tester.get_transaction_receipt(tx))


def call(env: Env, data: bytes) -> bytes:
    out = env.tester.call({"from": env.accounts[0], "to": env.program.address,
                           "data": "0x" + data.hex()})
    return bytes.fromhex(out[2:])


def slot(env: Env, index: int) -> int:
    return int(env.tester.get_storage_at(env.program.address, hex(index)), 16)


def code_of(env: Env, address: str) -> bytes:
    return bytes.fromhex(env.tester.get_code(address)[2:])


def revert_data(exc: TransactionFailed) -> bytes:
    """eth-tester puts ``str(revert_bytes)`` (or a decoded Error(string)) in args[0]."""
    text = exc.args[0]
    return bytes(ast.literal_eval(text)) if isinstance(text, str) and text[:2] == "b'" else b""


def test_deployed_code_is_the_prefixed_brotli_program(env: Env) -> None:
    code = code_of(env, env.program.address)
    assert code[:4] == b"\xef\xf0\x00\x00"
    assert code == stylus_code(default_program_wasm())
    assert env.program.activate_gas > 1_000_000


def test_activating_twice_reverts_program_up_to_date(env: Env) -> None:
    with pytest.raises(TransactionFailed) as info:
        env.tester.call({"from": env.accounts[0], "to": ARB_WASM,
                         "data": "0x" + activate_calldata(env.program.address).hex()})
    assert revert_data(info.value) == ERROR_UP_TO_DATE


def test_activation_logs_program_activated(env: Env) -> None:
    logs = env.tester.get_logs(address=ARB_WASM)
    assert logs, "no ProgramActivated log"
    code = code_of(env, env.program.address)
    topics = [bytes.fromhex(t[2:]) for t in logs[0]["topics"]]
    assert topics == [EVENT_ACTIVATED, keccak(code)]


def test_submit_then_get_round_trip_short_payload(env: Env) -> None:
    task, proof, payload = b"\x01" * 32, b"\xaa" * 32, b"sensor:21.5C"
    receipt = send(env, submit_data(task, payload, proof), sender=1)
    assert receipt["status"] == 1
    (log,) = receipt["logs"]
    assert [bytes.fromhex(t[2:]) for t in log["topics"]] == [
        EVENT, task, bytes.fromhex(env.accounts[1][2:].lower()).rjust(32, b"\x00")]
    assert bytes.fromhex(log["data"][2:]) == proof + len(payload).to_bytes(32, "big")
    got = decode(["bytes", "bytes32", "uint256", "address"], call(env, GET + task))
    block = env.tester.get_block_by_number(receipt["block_number"])
    assert got == (payload, proof, block["timestamp"], env.accounts[1].lower())
    base = int.from_bytes(keccak(task + b"\x00" * 32), "big")
    assert slot(env, base) == int.from_bytes(payload.ljust(31, b"\x00") + bytes([24]), "big")
    assert slot(env, base + 1) == int.from_bytes(proof, "big")
    assert slot(env, base + 3) == int(env.accounts[1], 16)


def test_long_payload_uses_solidity_out_of_place_encoding(env: Env) -> None:
    task, proof, payload = b"\x02" * 32, b"\xbb" * 32, bytes(range(200)) * 2
    assert send(env, submit_data(task, payload, proof))["status"] == 1
    base = int.from_bytes(keccak(task + b"\x00" * 32), "big")
    assert slot(env, base) == len(payload) * 2 + 1
    first = int.from_bytes(keccak(base.to_bytes(32, "big")), "big")
    stored = b"".join(slot(env, first + i).to_bytes(32, "big") for i in range(13))
    assert stored == payload.ljust(13 * 32, b"\x00")
    assert decode(["bytes", "bytes32", "uint256", "address"], call(env, GET + task))[0] == payload


def test_duplicate_task_reverts_with_custom_error_and_keeps_state(env: Env) -> None:
    task = b"\x03" * 32
    assert send(env, submit_data(task, b"first", b"\x01" * 32))["status"] == 1
    count = slot(env, 1)
    receipt = send(env, submit_data(task, b"second", b"\x02" * 32))
    assert receipt["status"] == 0 and receipt["logs"] == []
    with pytest.raises(TransactionFailed) as info:
        call(env, submit_data(task, b"second", b"\x02" * 32))
    assert revert_data(info.value) == ALREADY + task
    assert slot(env, 1) == count
    assert decode(["bytes", "bytes32", "uint256", "address"], call(env, GET + task))[0] == b"first"


def test_count_unknown_selector_and_value_are_handled_like_solidity(env: Env) -> None:
    before = int.from_bytes(call(env, COUNT), "big")
    send(env, submit_data(b"\x04" * 32, b"", b"\x00" * 32))
    assert int.from_bytes(call(env, COUNT), "big") == before + 1
    assert send(env, b"\xde\xad\xbe\xef")["status"] == 0
    assert send(env, b"\x01")["status"] == 0
    assert send(env, submit_data(b"\x05" * 32, b"x", b"\x00" * 32), value=1)["status"] == 0
    missing = decode(["bytes", "bytes32", "uint256", "address"], call(env, GET + b"\x77" * 32))
    assert missing == (b"", b"\x00" * 32, 0, "0x" + "00" * 20)


def test_program_must_be_activated_before_it_runs(env: Env) -> None:
    wasm = default_program_wasm() + b"\x00\x0a\x08kcstress\x01"  # + a custom section
    fresh = deploy_program(env.tester, wasm, env.accounts[0], activate=False)
    with pytest.raises(TransactionFailed) as info:
        env.tester.call({"from": env.accounts[0], "to": fresh.address, "data": "0x" + COUNT.hex()})
    assert revert_data(info.value) == ERROR_NOT_ACTIVATED
    tx = env.tester.send_transaction({
        "from": env.accounts[0], "to": to_checksum_address(ARB_WASM),
        "data": "0x" + activate_calldata(fresh.address).hex(), "gas": 5_000_000,
        "value": 10**16})  # the data fee; the excess is returned
    assert env.tester.get_transaction_receipt(tx)["status"] == 1
    assert env.tester.call({"from": env.accounts[0], "to": fresh.address,
                            "data": "0x" + COUNT.hex()}) == "0x" + "00" * 32


def test_each_program_is_compiled_once() -> None:
    runtime = StylusRuntime()
    tester = new_stylus_tester(runtime)
    sender = tester.get_accounts()[0]
    address = deploy_program(tester, default_program_wasm(), sender).address
    for index in range(5):
        tx = tester.send_transaction({"from": sender, "to": address, "gas": 2_000_000,
                                      "data": "0x" + submit_data(bytes([index]) * 32, b"p",
                                                                 b"\x00" * 32).hex()})
        assert tester.get_transaction_receipt(tx)["status"] == 1
    assert runtime.compilations == 1
