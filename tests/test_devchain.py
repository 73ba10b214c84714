"""The embedded dev chain: a real child process serving JSON-RPC on 127.0.0.1, real py-evm."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from eth_account import Account
from web3 import AsyncHTTPProvider, AsyncWeb3

from utils.devchain.chain import DevChain
from utils.devchain.process import PROJECT_ROOT
from utils.errors import DevChainError

GWEI = 10**9
# Runtime: LOG1(topic = calldata[0:32], data = caller). Init code copies it and returns it.
LOGGER_RUNTIME = "3360005260003560206000a100"
# Runtime: revert with the 4 bytes 0xdeadbeef.
REVERTER_RUNTIME = "63deadbeef60005260046 01cfd".replace(" ", "")


def init_code(runtime: str) -> str:
    return "0x60" + f"{len(runtime) // 2:02x}" + "80600b6000396000f3" + runtime


@pytest.fixture(scope="module")
def chain() -> Iterator[DevChain]:
    with DevChain.start() as running:
        yield running


@contextlib.asynccontextmanager
async def web3_for(chain: DevChain) -> AsyncIterator[AsyncWeb3]:
    w3 = AsyncWeb3(AsyncHTTPProvider(chain.url, exception_retry_configuration=None))
    try:
        yield w3
    finally:
        await w3.provider.disconnect()


async def rpc(chain: DevChain, payload: Any, *, raw: bytes | None = None) -> Any:
    async with aiohttp.ClientSession() as session:
        body = raw if raw is not None else json.dumps(payload).encode()
        async with session.post(chain.url, data=body) as response:
            text = await response.text()
            return json.loads(text) if text else None


async def call(chain: DevChain, method: str, *params: Any) -> dict[str, Any]:
    reply: dict[str, Any] = await rpc(
        chain, {"jsonrpc": "2.0", "id": 7, "method": method, "params": list(params)}
    )
    return reply


def sign(key: bytes, **fields: Any) -> Any:
    tx = {"value": 0, "gas": 21000, "chainId": 1337, **fields}
    if "gasPrice" not in tx:
        tx.setdefault("maxFeePerGas", 100 * GWEI)
        tx.setdefault("maxPriorityFeePerGas", GWEI)
    return Account.sign_transaction(tx, key)


async def funder_nonce(w3: AsyncWeb3, chain: DevChain) -> int:
    return await w3.eth.get_transaction_count(chain.funder_address, "pending")


async def deploy(w3: AsyncWeb3, chain: DevChain, runtime: str) -> str:
    nonce = await funder_nonce(w3, chain)
    signed = sign(chain.funder_key, nonce=nonce, gas=200_000, data=init_code(runtime))
    await w3.eth.send_raw_transaction(signed.raw_transaction)
    receipt = await w3.eth.wait_for_transaction_receipt(signed.hash, timeout=10, poll_latency=0.05)
    assert receipt["status"] == 1
    return str(receipt["contractAddress"])


# -- JSON-RPC protocol -------------------------------------------------------------------------


async def test_single_and_batch_requests(chain: DevChain) -> None:
    single = await call(chain, "eth_chainId")
    assert single == {"jsonrpc": "2.0", "id": 7, "result": hex(1337)}
    batch = [
        {"jsonrpc": "2.0", "id": 1, "method": "net_version"},
        {"jsonrpc": "2.0", "id": 2, "method": "eth_syncing", "params": []},
        {"jsonrpc": "2.0", "id": 3, "method": "eth_accounts", "params": []},
        {"jsonrpc": "2.0", "id": 4, "method": "no_such_method", "params": []},
        {"jsonrpc": "2.0", "method": "eth_blockNumber", "params": []},  # notification
        {"jsonrpc": "2.0", "id": 5, "method": "web3_clientVersion"},
    ]
    replies = await rpc(chain, batch)
    assert [r["id"] for r in replies] == [1, 2, 3, 4, 5]
    assert replies[0]["result"] == "1337"
    assert replies[1]["result"] is False
    assert replies[2]["result"] == []
    assert replies[3]["error"]["code"] == -32601
    assert replies[4]["result"].startswith("kcdev/")


async def test_protocol_errors(chain: DevChain) -> None:
    assert (await rpc(chain, None, raw=b"{not json"))["error"]["code"] == -32700
    assert (await rpc(chain, []))["error"]["code"] == -32600
    assert (await rpc(chain, {"id": 1, "method": "eth_chainId"}))["error"]["code"] == -32600
    replies = await rpc(chain, [1, {"jsonrpc": "2.0", "id": 2, "method": "eth_chainId"}])
    assert replies[0]["error"]["code"] == -32600
    assert replies[1]["result"] == hex(1337)
    bad_address = await call(chain, "eth_getBalance", "0x1234", "latest")
    assert bad_address["error"]["code"] == -32602
    missing = await call(chain, "eth_getBalance")
    assert missing["error"]["code"] == -32602
    future = await call(chain, "eth_getBalance", chain.funder_address, hex(10**9))
    assert future["error"] == {"code": -32000, "message": "header not found"}
    assert (await call(chain, "eth_getBlockByNumber", hex(10**9), False))["result"] is None


# -- transactions through web3 -----------------------------------------------------------------


async def test_legacy_and_eip1559_transfers(chain: DevChain) -> None:
    recipient = Account.create().address
    async with web3_for(chain) as w3:
        nonce = await funder_nonce(w3, chain)
        legacy = sign(chain.funder_key, nonce=nonce, to=recipient, value=5, gasPrice=50 * GWEI)
        dynamic = sign(chain.funder_key, nonce=nonce + 1, to=recipient, value=7, type=2)
        assert await w3.eth.send_raw_transaction(legacy.raw_transaction) == legacy.hash
        assert await w3.eth.send_raw_transaction(dynamic.raw_transaction) == dynamic.hash
        r1 = await w3.eth.wait_for_transaction_receipt(legacy.hash, timeout=10, poll_latency=0.05)
        r2 = await w3.eth.wait_for_transaction_receipt(dynamic.hash, timeout=10, poll_latency=0.05)
        assert (r1["status"], r1["type"], r1["gasUsed"]) == (1, 0, 21000)
        assert (r2["status"], r2["type"], r2["gasUsed"]) == (1, 2, 21000)
        # Nitro drops the tip (TxProcessor.DropTip): both pay their block's base fee
        legacy_block = await w3.eth.get_block(r1["blockNumber"])
        assert r1["effectiveGasPrice"] == legacy_block["baseFeePerGas"] < 50 * GWEI
        block = await w3.eth.get_block(r2["blockNumber"], full_transactions=True)
        assert r2["effectiveGasPrice"] == block["baseFeePerGas"]
        assert dynamic.hash in [tx["hash"] for tx in block["transactions"]]
        tx = await w3.eth.get_transaction(dynamic.hash)
        assert (tx["from"], tx["to"], tx["value"], tx["nonce"]) == (
            chain.funder_address,
            recipient,
            7,
            nonce + 1,
        )
        assert await w3.eth.get_balance(recipient) == 12
        access_list = [{"address": recipient, "storageKeys": ["0x" + "00" * 31 + "01"]}]
        typed1 = sign(
            chain.funder_key,
            nonce=nonce + 2,
            to=recipient,
            value=1,
            gas=30000,
            gasPrice=50 * GWEI,
            accessList=access_list,
            type=1,
        )
        await w3.eth.send_raw_transaction(typed1.raw_transaction)
        r3 = await w3.eth.wait_for_transaction_receipt(typed1.hash, timeout=10, poll_latency=0.05)
        assert (r3["status"], r3["type"], r3["gasUsed"]) == (1, 1, 21000 + 2400 + 1900)
        tx1 = await w3.eth.get_transaction(typed1.hash)
        assert tx1["accessList"][0]["address"] == recipient and tx1["gasPrice"] == 50 * GWEI
        by_hash = await w3.eth.get_block(block["hash"])
        assert by_hash["number"] == block["number"]
        receipts = await w3.eth.get_block_receipts(block["number"])
        assert dynamic.hash in [r["transactionHash"] for r in receipts]


async def test_fee_history_and_batch_with_web3(chain: DevChain) -> None:
    async with web3_for(chain) as w3:
        head = await w3.eth.block_number
        history = await w3.eth.fee_history(3, "latest", [25, 75])
        assert history["oldestBlock"] == max(0, head - 2)
        assert len(history["baseFeePerGas"]) == len(history["gasUsedRatio"]) + 1
        assert len(history["reward"]) == len(history["gasUsedRatio"])
        assert await w3.eth.gas_price > 0
        assert await w3.eth.max_priority_fee == GWEI
        async with w3.batch_requests() as batch:
            batch.add(w3.eth.get_block(0))
            batch.add(w3.eth.get_balance(chain.funder_address))
            batch.add(w3.eth.get_transaction_count(chain.funder_address))
            genesis, balance, count = await batch.async_execute()
        assert genesis["number"] == 0 and genesis["gasLimit"] == 1_000_000_000
        assert 0 < balance < 10**30 and count >= 0


async def test_receipt_is_null_while_pending(chain: DevChain) -> None:
    sender = Account.create()
    async with web3_for(chain) as w3:
        nonce = await funder_nonce(w3, chain)
    signed = sign(chain.funder_key, nonce=nonce, to=sender.address, value=1)
    tx_hash = "0x" + signed.hash.hex()
    batch = [
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "eth_sendRawTransaction",
            "params": ["0x" + signed.raw_transaction.hex()],
        },
        {"jsonrpc": "2.0", "id": 2, "method": "eth_getTransactionReceipt", "params": [tx_hash]},
        {"jsonrpc": "2.0", "id": 3, "method": "eth_getTransactionByHash", "params": [tx_hash]},
        {
            "jsonrpc": "2.0",
            "id": 4,
            "method": "eth_getTransactionCount",
            "params": [chain.funder_address, "pending"],
        },
        {"jsonrpc": "2.0", "id": 5, "method": "kcdev_mine", "params": []},
        {"jsonrpc": "2.0", "id": 6, "method": "eth_getTransactionReceipt", "params": [tx_hash]},
    ]
    sent, receipt, pending_tx, pending_count, mined, final = await rpc(chain, batch)
    assert sent["result"] == tx_hash
    assert receipt["result"] is None
    assert pending_tx["result"]["blockNumber"] is None
    assert int(pending_count["result"], 16) == nonce + 1
    assert final["result"]["blockNumber"] == mined["result"]
    assert final["result"]["status"] == "0x1"


async def test_refused_transactions(chain: DevChain) -> None:
    broke = Account.create()
    async with web3_for(chain) as w3:
        nonce = await funder_nonce(w3, chain)

    async def send(signed: Any) -> dict[str, Any]:
        return await call(chain, "eth_sendRawTransaction", "0x" + signed.raw_transaction.hex())

    ok = sign(chain.funder_key, nonce=nonce, to=broke.address, value=1)
    assert "result" in await send(ok)
    duplicate = await send(ok)
    assert duplicate["error"] == {"code": -32000, "message": "already known"}
    await call(chain, "kcdev_mine")
    low = await send(sign(chain.funder_key, nonce=nonce, to=broke.address, value=2))
    assert low["error"]["code"] == -32000
    assert low["error"]["message"].startswith(f"nonce too low: next nonce {nonce + 1}")
    poor = await send(sign(broke.key, nonce=0, to=chain.funder_address, value=10))
    assert poor["error"]["message"].startswith("insufficient funds for gas * price + value")
    other_chain = await send(sign(chain.funder_key, nonce=nonce + 1, chainId=1, to=broke.address))
    assert "invalid chain id" in other_chain["error"]["message"]
    cheap = await send(
        sign(
            chain.funder_key,
            nonce=nonce + 1,
            to=broke.address,
            maxFeePerGas=1,
            maxPriorityFeePerGas=0,
        )
    )
    assert cheap["error"]["message"].startswith("max fee per gas less than block base fee")
    garbage = await call(chain, "eth_sendRawTransaction", "0xf8deadbeef")
    assert garbage["error"]["code"] == -32000
    assert garbage["error"]["message"].startswith("invalid transaction")
    too_far = await send(sign(chain.funder_key, nonce=nonce + 5000, to=broke.address))
    assert too_far["error"]["message"].startswith("nonce too high")


async def test_gapped_nonce_is_held_until_gap_fills(chain: DevChain) -> None:
    recipient = Account.create().address
    async with web3_for(chain) as w3:
        nonce = await funder_nonce(w3, chain)
        later = sign(chain.funder_key, nonce=nonce + 1, to=recipient, value=2)
        first = sign(chain.funder_key, nonce=nonce, to=recipient, value=1)
        await w3.eth.send_raw_transaction(later.raw_transaction)
        assert (await w3.eth.get_transaction(later.hash))["blockNumber"] is None
        await w3.eth.send_raw_transaction(first.raw_transaction)
        receipt = await w3.eth.wait_for_transaction_receipt(
            later.hash, timeout=10, poll_latency=0.05
        )
        assert receipt["status"] == 1
        assert await w3.eth.get_balance(recipient) == 3


# -- contracts: logs, calls, gas ---------------------------------------------------------------


async def test_logs_calls_and_estimates(chain: DevChain) -> None:
    topic = secrets.token_bytes(32)
    async with web3_for(chain) as w3:
        logger_address = await deploy(w3, chain, LOGGER_RUNTIME)
        reverter_address = await deploy(w3, chain, REVERTER_RUNTIME)
        assert (await w3.eth.get_code(logger_address)).hex() == LOGGER_RUNTIME
        call_obj = {"from": chain.funder_address, "to": logger_address, "data": topic}
        gas = await w3.eth.estimate_gas(call_obj)
        assert 21000 < gas < 40000
        nonce = await funder_nonce(w3, chain)
        signed = sign(chain.funder_key, nonce=nonce, to=logger_address, data=topic, gas=gas)
        await w3.eth.send_raw_transaction(signed.raw_transaction)
        receipt = await w3.eth.wait_for_transaction_receipt(
            signed.hash, timeout=10, poll_latency=0.05
        )
        assert receipt["status"] == 1 and receipt["gasUsed"] <= gas
        [log] = receipt["logs"]
        assert log["topics"] == [topic] and log["address"] == logger_address
        assert log["data"][-20:] == bytes.fromhex(chain.funder_address[2:])
        found = await w3.eth.get_logs(
            {"fromBlock": 0, "toBlock": "latest", "address": logger_address, "topics": [topic]}
        )
        assert [(entry["transactionHash"], entry["logIndex"]) for entry in found] == [
            (signed.hash, log["logIndex"])
        ]
        other = await w3.eth.get_logs({"fromBlock": 0, "topics": [secrets.token_bytes(32)]})
        assert other == []
        by_block = await w3.eth.get_logs({"blockHash": receipt["blockHash"]})
        assert signed.hash in [entry["transactionHash"] for entry in by_block]
        assert await w3.eth.estimate_gas(
                {"from": chain.funder_address, "to": Account.create().address, "value": 1}) == 21000
    reverted = await call(chain, "eth_call", {"to": reverter_address, "data": "0x"}, "latest")
    assert reverted["error"] == {"code": 3, "message": "execution reverted", "data": "0xdeadbeef"}
    estimate = await call(chain, "eth_estimateGas", {"to": reverter_address})
    assert estimate["error"]["data"] == "0xdeadbeef"
    storage = await call(chain, "eth_getStorageAt", logger_address, "0x0", "latest")
    assert storage["result"] == "0x" + "00" * 32


# -- admin methods, signals, lifecycle ----------------------------------------------------------


async def test_set_accepting_transactions(chain: DevChain) -> None:
    assert (await call(chain, "kcdev_setAcceptingTransactions", False))["result"] is True
    try:
        async with web3_for(chain) as w3:
            nonce = await funder_nonce(w3, chain)
        signed = sign(chain.funder_key, nonce=nonce, to=chain.funder_address)
        refused = await call(chain, "eth_sendRawTransaction", "0x" + signed.raw_transaction.hex())
        assert refused["error"] == {"code": -32000, "message": "node is not accepting transactions"}
        assert "result" in await call(chain, "eth_blockNumber")
    finally:
        await call(chain, "kcdev_setAcceptingTransactions", True)
    accepted = await call(chain, "eth_sendRawTransaction", "0x" + signed.raw_transaction.hex())
    assert accepted["result"] == "0x" + signed.hash.hex()


async def test_set_block_time(chain: DevChain) -> None:
    """kcdev_setBlockTime: a new interval starts at once, and the previous one comes back."""
    started = (await call(chain, "kcdev_setBlockTime", 3600))["result"]
    try:
        async with web3_for(chain) as w3:
            nonce = await funder_nonce(w3, chain)
        signed = sign(chain.funder_key, nonce=nonce, to=chain.funder_address)
        tx_hash = (await call(chain, "eth_sendRawTransaction",
                              "0x" + signed.raw_transaction.hex()))["result"]
        # the hour-long interval began with the call: the old 0.02 s one would have sealed the
        # transaction many times over by now, the new one cannot have (however slow the machine)
        await asyncio.sleep(0.6)
        assert (await call(chain, "eth_getTransactionReceipt", tx_hash))["result"] is None
        assert (await call(chain, "kcdev_setBlockTime", 0.02))["result"] == 3600
        for _ in range(1500):  # a bound against a hang (30 s and more), not a timing
            receipt = (await call(chain, "eth_getTransactionReceipt", tx_hash))["result"]
            if receipt is not None:
                break
            await asyncio.sleep(0.02)
        assert receipt is not None and receipt["status"] == "0x1"
        for bad in ([], [0], [-1], [True], ["0.5"], [7200], [1, 2]):
            error = (await call(chain, "kcdev_setBlockTime", *bad))["error"]
            assert error["code"] == -32602, bad
    finally:
        assert (await call(chain, "kcdev_setBlockTime", started))["result"] == 0.02


async def test_pause_resume_and_sigint_is_ignored(chain: DevChain) -> None:
    os.kill(chain.pid, signal.SIGINT)
    await asyncio.sleep(0.2)
    assert chain.is_alive()
    chain.pause()
    try:
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(call(chain, "eth_blockNumber"), timeout=0.5)
    finally:
        chain.resume()
    assert (await call(chain, "eth_chainId"))["result"] == hex(1337)
    assert "funder_key" not in repr(chain) and chain.funder_key.hex() not in repr(chain)


def test_start_failure_reports_stderr(chain: DevChain) -> None:
    with pytest.raises(DevChainError, match=r"(?s)exited during start-up.*address already in use"):
        DevChain.start(port=chain.port)


def test_stylus_hook() -> None:
    import importlib.util

    if importlib.util.find_spec("utils.devchain.stylus.host") is None:
        with pytest.raises(DevChainError, match=r"utils\.stylus\.host"):
            DevChain.start(stylus=True)
    else:
        with DevChain.start(stylus=True) as stylus_chain:
            to = Account.create().address
            signed = sign(stylus_chain.funder_key, nonce=0, to=to, value=3)
            raw = "0x" + signed.raw_transaction.hex()
            batch = [
                {"jsonrpc": "2.0", "id": 1, "method": "eth_sendRawTransaction", "params": [raw]},
                {"jsonrpc": "2.0", "id": 2, "method": "kcdev_mine", "params": []},
                {"jsonrpc": "2.0", "id": 3, "method": "eth_getBalance", "params": [to, "latest"]},
            ]
            replies = asyncio.run(rpc(stylus_chain, batch))
            assert [r.get("result") for r in replies] == ["0x" + signed.hash.hex(), "0x1", "0x3"]


def test_dead_child_is_reported_and_stop_is_idempotent(tmp_path: Path) -> None:
    chain = DevChain.start(log_path=tmp_path / "chain.log")
    os.kill(chain.pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while chain.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    with pytest.raises(DevChainError, match="exited with code -9"):
        chain.raise_if_dead()
    chain.stop()
    chain.stop()
    assert "dev chain serving" in (tmp_path / "chain.log").read_text()


def test_cli_help_and_generated_funder_key(tmp_path: Path) -> None:
    python = [sys.executable, "-m", "utils.devchain"]
    env = {k: v for k, v in os.environ.items() if k != "PRIVATE_KEY"}
    env["PYTHONPATH"] = str(PROJECT_ROOT)
    helptext = subprocess.run(
        [*python, "--help"], capture_output=True, text=True, env=env, check=True, cwd=tmp_path
    ).stdout
    for option in (
        "--port",
        "--host",
        "--block-time",
        "--chain-id",
        "--gas-limit",
        "--stylus",
        "--funder-key-file",
        "--funder-balance-wei",
        "--managed",
        "--log-level",
    ):
        assert option in helptext
    key_file = tmp_path / "funder.key"
    process = subprocess.Popen(
        [*python, "--port", "0", "--funder-key-file", str(key_file)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=tmp_path,
        text=True,
    )
    try:
        assert process.stdout is not None
        address_line = process.stdout.readline()
        ready = json.loads(process.stdout.readline())
    finally:
        process.send_signal(signal.SIGINT)  # standalone: Ctrl-C stops it cleanly
        out, err = process.communicate(timeout=10)
    assert process.returncode == 0
    assert key_file.stat().st_mode & 0o777 == 0o600
    key = bytes.fromhex(key_file.read_text().strip()[2:])
    address = Account.from_key(key).address
    assert address in address_line and ready["funder_address"] == address
    assert key.hex() not in address_line + out + err


# -- the child never outlives its parent --------------------------------------------------------

PARENT_SCRIPT = """
import json, sys, time
sys.path.insert(0, {root!r})
from pathlib import Path
from utils.devchain import DevChain
chain = DevChain.start(log_path=Path(sys.argv[2]))
print(json.dumps({{"pid": chain.pid}}), flush=True)
sys.stdin.readline()  # the test has seen the child alive: go on
print("going", flush=True)
mode = sys.argv[1]
if mode == "raise":
    raise RuntimeError("boom")
if mode == "sleep":
    time.sleep(60)
"""


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")


@pytest.mark.parametrize(
    ("mode", "parent_signal"),
    [
        ("exit", None),
        ("sleep", signal.SIGTERM),
        ("sleep", signal.SIGINT),
        ("raise", None),
        ("sleep", signal.SIGKILL),
    ],
    ids=["normal-exit", "sigterm", "sigint", "exception", "sigkill"],
)
def test_child_dies_with_parent(
    mode: str, parent_signal: signal.Signals | None, tmp_path: Path
) -> None:
    script = PARENT_SCRIPT.format(root=str(PROJECT_ROOT))
    parent = subprocess.Popen(
        [sys.executable, "-c", script, mode, str(tmp_path / "chain.log")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert parent.stdout is not None and parent.stdin is not None
        child_pid = json.loads(parent.stdout.readline())["pid"]
        assert not _gone(child_pid)
        parent.stdin.write("go\n")
        parent.stdin.flush()
        assert parent.stdout.readline().strip() == "going"  # a signal now finds it past stdin
        if parent_signal is not None:
            parent.send_signal(parent_signal)
        parent.wait(timeout=15)
        deadline = time.monotonic() + 5
        while not _gone(child_pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _gone(child_pid), f"dev chain {child_pid} outlived its parent ({mode})"
    finally:
        if parent.poll() is None:
            parent.kill()
        parent.communicate()
