"""The built MVPIoTProcessor artifact on a real in-process EVM (py-evm via eth-tester).

Checks behaviour (store, read back, event, duplicate revert), the storage layout that
stylus_contracts/README.md documents for the Stylus / no_std WASM builds, the ABI
selectors, and that the artifact is not stale with respect to the Solidity source.
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from eth_abi.abi import decode as abi_decode
from eth_tester import EthereumTester, PyEVMBackend
from eth_tester.exceptions import TransactionFailed
from eth_typing import ChecksumAddress
from eth_utils.crypto import keccak
from web3 import EthereumTesterProvider, Web3
from web3.contract import Contract
from web3.types import TxParams, TxReceipt

from stylus_contracts import (
    ABI_DIR,
    ARTIFACTS_DIR,
    Artifact,
    ArtifactError,
    load_abi,
    load_artifact,
)
from tests.conftest import require_tool

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "stylus_contracts" / "evm" / "MVPIoTProcessor.sol"
RESULTS_SLOT = 0
COUNT_SLOT = 1


@pytest.fixture(scope="module")
def artifact() -> Artifact:
    return load_artifact()


@pytest.fixture(scope="module")
def tester() -> EthereumTester:
    return EthereumTester(PyEVMBackend())


@pytest.fixture(scope="module")
def w3(tester: EthereumTester) -> Web3:
    return Web3(EthereumTesterProvider(tester))


@pytest.fixture(scope="module")
def processor(w3: Web3, artifact: Artifact) -> Contract:
    factory = w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    tx_hash = factory.constructor().transact({"from": account(w3, 0)})
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash)
    assert receipt["status"] == 1
    address = receipt["contractAddress"]
    assert address is not None
    assert bytes(w3.eth.get_code(address)) == artifact.deployed_bytecode
    return w3.eth.contract(address=address, abi=artifact.abi)


def account(w3: Web3, index: int) -> ChecksumAddress:
    return list(w3.eth.accounts)[index]


def tx_from(w3: Web3, index: int) -> TxParams:
    return {"from": account(w3, index), "gas": 3_000_000}


def task(label: str) -> bytes:
    return keccak(text=f"task:{label}")


def submit(
    w3: Web3, processor: Contract, task_id: bytes, payload: bytes, sender: int = 0
) -> TxReceipt:
    proof = keccak(b"proof:" + payload)
    tx_hash = processor.functions.submitResult(task_id, payload, proof).transact(
        tx_from(w3, sender)
    )
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash)
    assert receipt["status"] == 1
    return receipt


def word(w3: Web3, address: ChecksumAddress, slot: int) -> bytes:
    return bytes(w3.eth.get_storage_at(address, slot)).rjust(32, b"\0")


def record_base(task_id: bytes) -> int:
    """README: base slot of results[taskId] = keccak256(taskId . uint256(0))."""
    return int.from_bytes(keccak(task_id + RESULTS_SLOT.to_bytes(32, "big")), "big")


def read_storage_bytes(w3: Web3, address: ChecksumAddress, slot: int) -> bytes:
    """Decode a Solidity `bytes` at `slot` exactly as the README describes it."""
    head = word(w3, address, slot)
    if head[31] & 1 == 0:  # short: data left-aligned, lowest byte = len * 2
        length = head[31] // 2
        assert length <= 31
        assert head[length:31] == b"\0" * (31 - length)
        return head[:length]
    length = (int.from_bytes(head, "big") - 1) // 2
    assert length >= 32
    data_start = int.from_bytes(keccak(slot.to_bytes(32, "big")), "big")
    chunks = [word(w3, address, data_start + i) for i in range((length + 31) // 32)]
    data = b"".join(chunks)
    assert data[length:] == b"\0" * (len(data) - length)  # last chunk zero-padded right
    return data[:length]


def test_submit_then_get_returns_exact_record(w3: Web3, processor: Contract) -> None:
    payload = bytes(range(256)) + b"\x00\xff" * 72  # 400 bytes, includes zero bytes
    task_id = task("roundtrip")
    count_before = processor.functions.resultCount().call()
    receipt = submit(w3, processor, task_id, payload, sender=1)
    block = w3.eth.get_block(receipt["blockNumber"])

    stored = processor.functions.getResult(task_id).call()

    assert stored == [payload, keccak(b"proof:" + payload), block["timestamp"], account(w3, 1)]
    assert len(payload) == 400
    assert processor.functions.resultCount().call() == count_before + 1
    assert 100_000 < receipt["gasUsed"] < 600_000


def test_event_is_emitted_with_args(w3: Web3, processor: Contract) -> None:
    payload = b"sensor-record" * 10
    task_id = task("event")
    receipt = submit(w3, processor, task_id, payload)

    events = processor.events.ResultSubmitted().process_receipt(receipt)

    assert len(events) == 1
    args = events[0]["args"]
    assert args["taskId"] == task_id
    assert args["submitter"] == account(w3, 0)
    assert args["proofHash"] == keccak(b"proof:" + payload)
    assert args["size"] == len(payload)
    raw_log = receipt["logs"][0]
    signature = "ResultSubmitted(bytes32,address,bytes32,uint256)"
    assert bytes(raw_log["topics"][0]) == keccak(text=signature)
    assert bytes(raw_log["topics"][1]) == task_id
    assert bytes(raw_log["topics"][2]) == bytes(12) + bytes.fromhex(account(w3, 0)[2:])


def test_duplicate_task_id_reverts_with_custom_error(
    tester: EthereumTester, w3: Web3, processor: Contract
) -> None:
    task_id = task("duplicate")
    submit(w3, processor, task_id, b"first")
    count_before = processor.functions.resultCount().call()

    second = processor.functions.submitResult(task_id, b"second", b"\x11" * 32)
    tx = second.build_transaction(tx_from(w3, 2))
    with pytest.raises(TransactionFailed) as excinfo:  # the EVM's own revert data, unparsed
        tester.call({key: tx[key] for key in ("from", "to", "data", "gas")})
    mined = w3.eth.wait_for_transaction_receipt(second.transact(tx_from(w3, 2)))

    assert mined["status"] == 0
    assert mined["logs"] == []
    # eth-tester passes py-evm's raw revert output on as its bytes repr (web3 parses it the same)
    revert_data = ast.literal_eval(str(excinfo.value.args[0]))
    assert isinstance(revert_data, bytes)
    assert len(revert_data) == 4 + 32
    assert revert_data[:4] == keccak(text="TaskAlreadySubmitted(bytes32)")[:4]
    assert abi_decode(["bytes32"], revert_data[4:]) == (task_id,)
    first = processor.functions.getResult(task_id).call()
    assert first[0] == b"first"
    assert first[3] == account(w3, 0)
    assert processor.functions.resultCount().call() == count_before


@pytest.mark.parametrize("size", [0, 1, 31, 32, 33, 2048])
def test_payload_sizes_round_trip(w3: Web3, processor: Contract, size: int) -> None:
    payload = bytes((i * 7 + 3) % 256 for i in range(size))
    task_id = task(f"size-{size}")
    submit(w3, processor, task_id, payload)

    stored = processor.functions.getResult(task_id).call()

    assert stored[0] == payload
    assert read_storage_bytes(w3, processor.address, record_base(task_id)) == payload


def test_unknown_task_reads_as_empty_record(processor: Contract) -> None:
    assert processor.functions.getResult(task("never")).call() == [
        b"",
        b"\0" * 32,
        0,
        "0x0000000000000000000000000000000000000000",
    ]


@pytest.mark.parametrize("size", [20, 31, 32, 100])
def test_storage_slots_match_documented_layout(w3: Web3, processor: Contract, size: int) -> None:
    payload = bytes(range(1, size + 1))
    task_id = task(f"layout-{size}")
    receipt = submit(w3, processor, task_id, payload, sender=3)
    block = w3.eth.get_block(receipt["blockNumber"])
    base = record_base(task_id)
    address = processor.address

    head = word(w3, address, base)
    if size <= 31:
        assert head == payload + b"\0" * (31 - size) + bytes([size * 2])
    else:
        assert int.from_bytes(head, "big") == size * 2 + 1
        data_start = int.from_bytes(keccak(base.to_bytes(32, "big")), "big")
        assert word(w3, address, data_start) == payload[:32]
    assert word(w3, address, base + 1) == keccak(b"proof:" + payload)
    assert int.from_bytes(word(w3, address, base + 2), "big") == block["timestamp"]
    submitter = word(w3, address, base + 3)
    assert submitter[:12] == b"\0" * 12
    assert Web3.to_checksum_address(submitter[12:]) == account(w3, 3)
    count = int.from_bytes(word(w3, address, COUNT_SLOT), "big")
    assert count == processor.functions.resultCount().call() > 0


def test_compiler_storage_layout_matches_readme() -> None:
    layout = json.loads((ARTIFACTS_DIR / "MVPIoTProcessor.json").read_text())["storageLayout"]
    top = [(e["label"], e["slot"], e["offset"]) for e in layout["storage"]]
    assert top == [("results", "0", 0), ("count", "1", 0), ("batches", "2", 0)]
    struct_type = layout["types"][layout["storage"][0]["type"]]["value"]
    members = [
        (m["label"], m["slot"], m["offset"]) for m in layout["types"][struct_type]["members"]
    ]
    assert members == [
        ("encryptedResult", "0", 0),
        ("proofHash", "1", 0),
        ("timestamp", "2", 0),
        ("submitter", "3", 0),
    ]
    batch_type = layout["types"][layout["storage"][2]["type"]]["value"]
    batch = [(m["label"], m["slot"], m["offset"]) for m in layout["types"][batch_type]["members"]]
    assert batch == [("size", "0", 0), ("timestamp", "1", 0), ("submitter", "2", 0)]


def selectors(abi: list[dict[str, Any]]) -> dict[str, bytes]:
    out = {}
    for entry in abi:
        if entry["type"] in {"function", "error"}:
            signature = f"{entry['name']}({','.join(i['type'] for i in entry['inputs'])})"
            out[signature] = keccak(text=signature)[:4]
    return out


def test_abi_selectors_equal_keccak_of_canonical_signatures(
    artifact: Artifact, processor: Contract
) -> None:
    found = selectors(artifact.abi)
    assert found == {
        "submitResult(bytes32,bytes,bytes32)": bytes.fromhex("d47a284d"),
        "getResult(bytes32)": bytes.fromhex("add4c784"),
        "resultCount()": bytes.fromhex("aa4fdefb"),
        "TaskAlreadySubmitted(bytes32)": bytes.fromhex("fcd61d04"),
        "commitBatch(bytes32,uint256)": bytes.fromhex("6dac073d"),
        "getBatch(bytes32)": bytes.fromhex("ed42136f"),
        "BatchAlreadyCommitted(bytes32)": bytes.fromhex("2ba1c714"),
    }
    for signature, selector in found.items():
        assert selector == keccak(text=signature)[:4]
    encoded = processor.encode_abi("submitResult", args=[b"\1" * 32, b"xy", b"\2" * 32])
    assert (
        bytes.fromhex(encoded.removeprefix("0x"))[:4]
        == found["submitResult(bytes32,bytes,bytes32)"]
    )


def test_legacy_abi_uses_uint8_array() -> None:
    legacy = load_abi(ABI_DIR / "MVPIoTProcessor.legacy.json")
    found = selectors(legacy)
    assert set(found) == {"submitResult(bytes32,uint8[],bytes32)", "getResult(bytes32)"}
    get_result = next(e for e in legacy if e["name"] == "getResult")
    assert [o["type"] for o in get_result["outputs"]] == ["uint8[]"]
    assert (
        found["submitResult(bytes32,uint8[],bytes32)"]
        != selectors(load_artifact().abi)["submitResult(bytes32,bytes,bytes32)"]
    )


def test_artifact_is_built_from_current_source() -> None:
    data = json.loads((ARTIFACTS_DIR / "MVPIoTProcessor.json").read_text())
    assert data["source"]["sha256"] == hashlib.sha256(SOURCE.read_bytes()).hexdigest()
    assert data["source"]["path"] == "stylus_contracts/evm/MVPIoTProcessor.sol"
    assert data["compiler"]["evmVersion"] == "paris"
    assert data["compiler"]["optimizer"] == {"enabled": True, "runs": 200}
    assert data["compiler"]["version"].startswith("0.8.28+")


def test_rebuild_gives_identical_artifact() -> None:
    """`make contracts` reproduces the committed artifact (with the solc `make tools` put in)."""
    require_tool("solc", "the pinned solcjs")
    result = subprocess.run(
        ["bash", str(ROOT / "scripts/build_contracts.sh"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_load_abi_accepts_artifact_objects_and_rejects_bad_files(tmp_path: Path) -> None:
    as_object = tmp_path / "hardhat.json"
    as_object.write_text(json.dumps({"contractName": "X", "abi": load_artifact().abi}))
    assert load_abi(as_object) == load_artifact().abi

    cases = {
        "missing.json": None,
        "broken.json": "{not json",
        "empty.json": "[]",
        "scalar.json": "42",
        "noabi.json": json.dumps({"bytecode": "0x00"}),
        "badentry.json": json.dumps([{"type": "function"}]),
        "badtype.json": json.dumps([{"type": "banana", "name": "x"}]),
    }
    for name, text in cases.items():
        path = tmp_path / name
        if text is not None:
            path.write_text(text)
        with pytest.raises(ValueError, match=re.escape(name)) as excinfo:
            load_abi(path)
        assert isinstance(excinfo.value, ArtifactError)
        assert excinfo.value.path == path


def test_load_artifact_unknown_name_is_a_clear_error() -> None:
    with pytest.raises(ArtifactError, match=r"NoSuchContract\.json"):
        load_artifact("NoSuchContract")
