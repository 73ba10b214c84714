"""Differential test: the Stylus program against its Solidity twin, call for call.

Both contracts live on one py-evm chain with the Stylus host. Every random call (new and
duplicate task ids, empty / short / long payloads, several senders, reads, malformed
calldata, value sent to non-payable functions) is applied to both through the VM's own
``apply_message`` on the same state; status, return data, logs and every storage slot the
call may touch must be identical, and so must both contracts' storage roots.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from eth.vm.message import Message
from eth_abi import encode
from eth_typing import Address
from eth_utils import keccak, to_canonical_address

from stylus_contracts import load_artifact
from tests.stylus_tester import deploy_program, new_stylus_tester
from utils.chain.stylus_code import default_program_wasm

SUBMIT = keccak(text="submitResult(bytes32,bytes,bytes32)")[:4]
GET = keccak(text="getResult(bytes32)")[:4]
COUNT = keccak(text="resultCount()")[:4]
COMMIT_BATCH = keccak(text="commitBatch(bytes32,uint256)")[:4]
GET_BATCH = keccak(text="getBatch(bytes32)")[:4]
CALLS = 1200
SEED = 20240517


@dataclass
class Twin:
    state: Any
    stylus: bytes
    evm: bytes
    senders: list[bytes]
    tasks: list[bytes] = field(default_factory=list)
    roots: list[bytes] = field(default_factory=list)
    gas: dict[str, list[int]] = field(default_factory=lambda: {"stylus": [], "evm": []})


@pytest.fixture(scope="module")
def twin() -> Iterator[Twin]:
    tester = new_stylus_tester()
    accounts = tester.get_accounts()
    stylus = deploy_program(tester, default_program_wasm(), accounts[0]).address
    tx = tester.send_transaction(
        {"from": accounts[0], "data": "0x" + load_artifact().bytecode.hex(), "gas": 3_000_000})
    evm = tester.get_transaction_receipt(tx)["contract_address"]
    state = tester.backend.chain.get_vm().state
    yield Twin(state, to_canonical_address(stylus), to_canonical_address(evm),
               [to_canonical_address(a) for a in accounts[:5]])


def apply(twin: Twin, target: bytes, sender: bytes, data: bytes, value: int) -> tuple:
    state = twin.state
    context = state.get_transaction_context_class()(gas_price=10**9, origin=sender)
    state.mark_address_warm(sender)
    state.mark_address_warm(target)
    message = Message(gas=2_000_000, to=Address(target), sender=Address(sender), value=value,
                      data=data, code=state.get_code(target))
    computation = state.computation_class.apply_message(state, message, context)
    state.lock_changes()
    logs = [(topics, body) for _address, topics, body in computation.get_log_entries()]
    return computation.is_success, computation.output, logs, computation.get_gas_used()


def random_payload(rng: random.Random) -> bytes:
    size = rng.choice([0, 1, rng.randint(2, 30), 31, 32, 33, rng.randint(34, 120),
                       rng.randint(121, 700)])
    return rng.randbytes(size)


def malformed(rng: random.Random, valid: bytes) -> bytes:
    kind = rng.randrange(6)
    if kind == 0:
        return valid[: rng.randrange(len(valid))]
    if kind == 1:  # offset of the bytes argument
        offset = rng.choice([0, 0x20, 0x40, 0x80, 2**64 - 1, 2**64, 2**255, len(valid)])
        return valid[:36] + offset.to_bytes(32, "big") + valid[68:]
    if kind == 2:  # length of the bytes argument
        length = rng.choice([len(valid), 2**64 - 1, 2**64, 2**200, 1 + len(valid) - 132])
        return valid[:100] + max(length, 0).to_bytes(32, "big") + valid[132:]
    if kind == 3:
        return valid + rng.randbytes(rng.randint(1, 40))  # trailing bytes are ignored
    if kind == 4:
        return rng.randbytes(rng.randint(0, 3))
    return rng.randbytes(4) + valid[4:]


def batch_call(rng: random.Random, twin: Twin) -> tuple[bytes, int]:
    """commitBatch (new and repeated roots, any size), getBatch, short or paid calls."""
    roll = rng.random()
    if roll < 0.4 or not twin.roots:
        root = rng.randbytes(32)
        twin.roots.append(root)
        size = rng.choice([0, 1, rng.randint(2, 4096), 2**64, 2**256 - 1])
        return COMMIT_BATCH + encode(["bytes32", "uint256"], [root, size]), 0
    if roll < 0.55:
        return COMMIT_BATCH + encode(["bytes32", "uint256"], [rng.choice(twin.roots), 7]), 0
    if roll < 0.8:
        root = rng.choice(twin.roots) if rng.random() < 0.8 else rng.randbytes(32)
        return GET_BATCH + root, 0
    if roll < 0.9:
        selector = rng.choice([COMMIT_BATCH, GET_BATCH])
        return selector + rng.randbytes(rng.randint(0, 63)), 0
    return COMMIT_BATCH + rng.randbytes(64), rng.randint(1, 10**6)


def next_call(rng: random.Random, twin: Twin) -> tuple[bytes, int]:
    if rng.random() < 0.2:
        return batch_call(rng, twin)
    roll = rng.random()
    if roll < 0.42 or not twin.tasks:
        task = rng.randbytes(32)
        twin.tasks.append(task)
        args = [task, random_payload(rng), rng.randbytes(32)]
        return SUBMIT + encode(["bytes32", "bytes", "bytes32"], args), 0
    if roll < 0.57:
        task = rng.choice(twin.tasks)
        return SUBMIT + encode(["bytes32", "bytes", "bytes32"],
                               [task, random_payload(rng), rng.randbytes(32)]), 0
    if roll < 0.80:
        task = rng.choice(twin.tasks) if rng.random() < 0.8 else rng.randbytes(32)
        return GET + task + (rng.randbytes(rng.randint(0, 8)) if rng.random() < 0.1 else b""), 0
    if roll < 0.84:
        return COUNT, 0
    if roll < 0.88:
        return GET + rng.randbytes(rng.randint(0, 31)), 0
    if roll < 0.92:
        return rng.choice([COUNT, GET + rng.randbytes(32)]), rng.randint(1, 10**6)
    valid = SUBMIT + encode(["bytes32", "bytes", "bytes32"],
                            [rng.randbytes(32), random_payload(rng), rng.randbytes(32)])
    return malformed(rng, valid), 0


def touched_slots(data: bytes) -> list[int]:
    """Slots a call may write: a submitResult's record, its out-of-place bytes, the count;
    a commitBatch's three batch words."""
    if data[:4] == COMMIT_BATCH and len(data) >= 36:
        base = int.from_bytes(keccak(data[4:36] + (2).to_bytes(32, "big")), "big")
        return [1, base, base + 1, base + 2]
    if data[:4] != SUBMIT or len(data) < 4 + 96:
        return [1]
    base = int.from_bytes(keccak(data[4:36] + b"\x00" * 32), "big")
    slots = [1, base, base + 1, base + 2, base + 3]
    first = int.from_bytes(keccak(base.to_bytes(32, "big")), "big")
    return slots + [first + i for i in range(24)]


def storage_root(twin: Twin, address: bytes) -> bytes:
    twin.state.make_state_root()
    return bytes(twin.state._account_db._get_storage_root(address))


def test_stylus_and_solidity_twin_agree_on_every_call(twin: Twin) -> None:
    rng = random.Random(SEED)
    outcomes = {"success": 0, "revert": 0}
    for index in range(CALLS):
        data, value = next_call(rng, twin)
        sender = rng.choice(twin.senders)
        got = apply(twin, twin.stylus, sender, data, value)
        want = apply(twin, twin.evm, sender, data, value)
        assert got[:3] == want[:3], f"call {index}: data={data.hex()} value={value}"
        for slot in touched_slots(data):
            assert twin.state.get_storage(twin.stylus, slot) == \
                twin.state.get_storage(twin.evm, slot), f"call {index}: slot {slot:#x}"
        twin.gas["stylus"].append(got[3])
        twin.gas["evm"].append(want[3])
        outcomes["success" if got[0] else "revert"] += 1
    assert outcomes["success"] > CALLS // 3 and outcomes["revert"] > CALLS // 10
    assert storage_root(twin, twin.stylus) == storage_root(twin, twin.evm)
    count = twin.state.get_storage(twin.stylus, 1)
    assert 0 < count == twin.state.get_storage(twin.evm, 1)
    committed = [r for r in twin.roots if twin.state.get_storage(
        twin.stylus, int.from_bytes(keccak(r + (2).to_bytes(32, "big")), "big") + 2)]
    assert len(committed) > 20  # the batch entry point was exercised, not only refused
