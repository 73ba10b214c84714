"""The fault-injecting proxy's own tests, against a real anvil over real HTTP: each fault does
what tests/rpc_proxy.py says, the faults are the same for the same seed, and the counters
count what reached the node."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from eth_account import Account

from tests.nodes import Node, require_node, rpc, start_node
from tests.rpc_proxy import (
    DIALECTS,
    FAULT_MODES,
    OPTIONAL_METHODS,
    Faults,
    RpcProxy,
    proxied,
    tx_hash_of,
)


@pytest.fixture(scope="module")
def anvil() -> Iterator[Node]:
    require_node("anvil")
    with start_node("anvil", block_time=0.25) as node:
        yield node
    assert not node.is_alive()


def post(url: str, body: Any, timeout: float = 10.0) -> tuple[int, dict[str, str], Any]:
    """(HTTP status, headers, decoded body or text) of one POST."""
    request = urllib.request.Request(url, json.dumps(body).encode(),
                                     {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as exc:
        text = exc.read().decode(errors="replace")
        try:
            return exc.code, dict(exc.headers), json.loads(text)
        except ValueError:
            return exc.code, dict(exc.headers), text


def call(method: str, *params: Any, id_: int = 1) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": id_, "method": method, "params": list(params)}


def signed_transfer(node: Node, nonce: int) -> str:
    """A signed 1-wei transfer from the node's funded key, as 0x-hex."""
    tx = {"to": "0x000000000000000000000000000000000000dEaD", "value": 1, "gas": 21_000,
          "maxFeePerGas": 10**11, "maxPriorityFeePerGas": 10**9, "nonce": nonce,
          "chainId": node.chain_id, "type": 2}
    signed = Account.sign_transaction(tx, bytes.fromhex(node.key))
    return "0x" + bytes(signed.raw_transaction).hex()


def next_nonce(node: Node) -> int:
    address = Account.from_key(bytes.fromhex(node.key)).address
    return int(rpc(node.url, "eth_getTransactionCount", address, "pending"), 16)


def wait_receipt(url: str, tx_hash: str, timeout: float = 20.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        receipt = rpc(url, "eth_getTransactionReceipt", tx_hash)
        if receipt is not None:
            return dict(receipt)
        time.sleep(0.05)
    raise AssertionError(f"no receipt for {tx_hash}")


def test_forwards_single_calls_and_batches_and_counts_them(anvil: Node) -> None:
    with proxied(anvil.url) as proxy:
        status, _, reply = post(proxy.url, call("eth_chainId", id_=7))
        assert status == 200 and reply["id"] == 7 and int(reply["result"], 16) == anvil.chain_id
        batch = [call("eth_chainId", id_=1), call("web3_clientVersion", id_=2),
                 call("eth_getBalance", "0x" + "00" * 20, "latest", id_=3)]
        status, _, replies = post(proxy.url, batch)
        assert status == 200 and [r["id"] for r in replies] == [1, 2, 3]
        assert replies[1]["result"].startswith("anvil/")
    assert proxy.forwarded == {"eth_chainId": 2, "web3_clientVersion": 1, "eth_getBalance": 1}
    assert proxy.http_forwarded == 2 and proxy.requests_to_node == 4
    assert not proxy.injected and not proxy.errors


def test_http_429_with_retry_after_forwards_nothing(anvil: Node) -> None:
    with proxied(anvil.url, Faults("t", http_429=1.0, retry_after=3)) as proxy:
        status, headers, body = post(proxy.url, call("eth_blockNumber"))
    assert status == 429 and headers["Retry-After"] == "3"
    assert body["error"]["code"] == 429
    assert proxy.requests_to_node == 0 and proxy.injected == {"http429": 1}


@pytest.mark.parametrize(("fault", "code"), [("limit_32005", -32005),
                                             ("internal_32603", -32603)])
def test_json_rpc_errors_hit_batch_items_one_by_one(anvil: Node, fault: str, code: int) -> None:
    """Each item of a batch is drawn alone: the errored ones are not forwarded, the others
    are, and every answer keeps its id and place."""
    faults = (Faults("t", seed=3, limit_32005=0.5) if fault == "limit_32005"
              else Faults("t", seed=3, internal_32603=0.5))
    batch = [call("eth_chainId", id_=i) for i in range(40)]
    with proxied(anvil.url, faults) as proxy:
        status, _, replies = post(proxy.url, batch)
    assert status == 200 and [r["id"] for r in replies] == list(range(40))
    errored = [r for r in replies if "error" in r]
    assert {r["error"]["code"] for r in errored} == {code}
    assert 0 < len(errored) < 40
    assert proxy.forwarded["eth_chainId"] == 40 - len(errored)
    assert all(int(r["result"], 16) == anvil.chain_id for r in replies if "result" in r)


def test_the_same_seed_gives_the_same_faults(anvil: Node) -> None:
    faults = Faults("t", seed=11, limit_32005=0.3, internal_32603=0.2)
    patterns = []
    for _ in range(2):
        with proxied(anvil.url, faults) as proxy:
            pattern = []
            for i in range(30):
                _, _, reply = post(proxy.url, call("eth_chainId", id_=i))
                pattern.append(reply.get("error", {}).get("code"))
            patterns.append(pattern)
    assert patterns[0] == patterns[1]
    assert {-32005, -32603, None} == set(patterns[0])
    with proxied(anvil.url, faults.with_seed(12)) as proxy:
        other = [post(proxy.url, call("eth_chainId", id_=i))[2].get("error", {}).get("code")
                 for i in range(30)]
    assert other != patterns[0]


def test_dropped_connection_forwards_nothing(anvil: Node) -> None:
    with (proxied(anvil.url, Faults("t", drop=1.0)) as proxy,
          pytest.raises((ConnectionError, urllib.error.URLError))):
        post(proxy.url, call("eth_blockNumber"))
    assert proxy.requests_to_node == 0 and proxy.injected == {"drop": 1}


def test_dropped_after_a_send_the_transaction_lands(anvil: Node) -> None:
    """The send is forwarded and the node takes it; the client gets no answer."""
    raw = signed_transfer(anvil, next_nonce(anvil))
    with proxied(anvil.url, Faults("t", drop_after_send=1.0)) as proxy:
        # a call without a send is answered
        assert post(proxy.url, call("eth_chainId"))[0] == 200
        with pytest.raises((ConnectionError, urllib.error.URLError)):
            post(proxy.url, call("eth_sendRawTransaction", raw))
    assert proxy.forwarded["eth_sendRawTransaction"] == 1
    assert proxy.injected == {"drop_after_send": 1}
    receipt = wait_receipt(anvil.url, tx_hash_of(raw))
    assert int(receipt["status"], 16) == 1
    assert proxy.sent_hashes() == {tx_hash_of(raw)}


def test_latency_holds_a_request_then_answers_it(anvil: Node) -> None:
    with proxied(anvil.url, Faults("t", latency=1.0, latency_s=(1.0, 1.2))) as proxy:
        status, _, reply = post(proxy.url, call("eth_chainId"))
    assert status == 200 and int(reply["result"], 16) == anvil.chain_id
    assert proxy.injected == {"latency": 1} and proxy.forwarded == {"eth_chainId": 1}


def test_stale_head_answers_blocks_behind(anvil: Node) -> None:
    time.sleep(1.2)  # at least 4 blocks exist
    with proxied(anvil.url, Faults("t", stale_head=1.0, stale_lag=3)) as proxy:
        before = int(rpc(anvil.url, "eth_blockNumber"), 16)
        stale = int(post(proxy.url, call("eth_blockNumber"))[2]["result"], 16)
        after = int(rpc(anvil.url, "eth_blockNumber"), 16)
    assert before - 3 <= stale <= after - 3
    assert proxy.injected == {"stale_head": 1}


def test_late_receipts_wait_for_blocks(anvil: Node) -> None:
    """A receipt (single and by block) is null through the proxy until the head it has seen
    is 12 blocks past the receipt's block; the node itself has it at once."""
    raw = signed_transfer(anvil, next_nonce(anvil))
    tx_hash = rpc(anvil.url, "eth_sendRawTransaction", raw)
    block = int(wait_receipt(anvil.url, tx_hash)["blockNumber"], 16)
    answers = []
    with proxied(anvil.url, Faults("t", late_receipts_blocks=12)) as proxy:
        deadline = time.monotonic() + 30
        receipt = None
        while receipt is None and time.monotonic() < deadline:
            head = int(post(proxy.url, call("eth_blockNumber"))[2]["result"], 16)
            receipt = post(proxy.url, call("eth_getTransactionReceipt", tx_hash))[2]["result"]
            by_block = post(proxy.url, call("eth_getBlockReceipts", hex(block)))[2]["result"]
            answers.append((head, receipt is not None, by_block is not None))
            time.sleep(0.05)
    assert receipt is not None and receipt["transactionHash"] == tx_hash
    assert answers[0][1:] == (False, False)  # hidden at first
    for head, has_receipt, has_block_receipts in answers:
        assert has_receipt == has_block_receipts == (head >= block + 12)
    assert proxy.injected["late_receipts"] == 2 * (len(answers) - 1)


def test_late_receipts_wait_for_seconds(anvil: Node) -> None:
    """With a delay in seconds, a receipt is hidden from the moment the proxy first sees its
    block; the node's answer comes through afterwards."""
    raw = signed_transfer(anvil, next_nonce(anvil))
    tx_hash = rpc(anvil.url, "eth_sendRawTransaction", raw)
    wait_receipt(anvil.url, tx_hash)
    with proxied(anvil.url, Faults("t", late_receipts_s=1.0)) as proxy:
        first = post(proxy.url, call("eth_getTransactionReceipt", tx_hash))[2]["result"]
        deadline = time.monotonic() + 20
        later = None
        while later is None and time.monotonic() < deadline:
            time.sleep(0.1)
            later = post(proxy.url, call("eth_getTransactionReceipt", tx_hash))[2]["result"]
    assert first is None and later is not None
    assert later["transactionHash"] == tx_hash


@pytest.mark.parametrize("dialect", list(DIALECTS))
def test_each_not_supported_dialect(anvil: Node, dialect: str) -> None:
    """The optional methods answer in the dialect; other calls are forwarded as ever."""
    with proxied(anvil.url, Faults("t", unsupported=dialect)) as proxy:
        for method in OPTIONAL_METHODS:
            status, _, body = post(proxy.url, call(method, "latest"))
            if dialect in ("405", "400"):
                assert status == int(dialect)
                assert isinstance(body, str) and body.lstrip().startswith("<html>")
            else:
                assert status == 200 and body["error"]["code"] == int(dialect)
                if dialect in ("-32700", "-32000", "-32004"):
                    assert method in body["error"]["message"]
        status, _, body = post(proxy.url, [call("eth_chainId", id_=1),
                                           call("trace_block", "latest", id_=2)])
        if dialect in ("405", "400"):
            assert status == int(dialect)
        else:
            assert int(body[0]["result"], 16) == anvil.chain_id
            assert body[1]["error"]["code"] == int(dialect)
        assert post(proxy.url, call("eth_chainId"))[0] == 200
    assert not any(m in proxy.forwarded for m in OPTIONAL_METHODS)
    assert proxy.injected[f"unsupported{dialect}"] == len(OPTIONAL_METHODS) + 1


def test_reorg_removes_the_last_blocks_transactions(anvil: Node) -> None:
    """anvil_reorg through the proxy: the transaction of the last blocks is gone from the node
    (anvil does not put it back in its pool: the measured fact the engine must cope with)."""
    raw = signed_transfer(anvil, next_nonce(anvil))
    tx_hash = rpc(anvil.url, "eth_sendRawTransaction", raw)
    wait_receipt(anvil.url, tx_hash)
    with proxied(anvil.url) as proxy:
        reorg = proxy.reorg_now(12)  # 3 s of 0.25 s blocks: the transaction's block is in them
    assert not reorg.error and tx_hash in reorg.removed
    assert rpc(anvil.url, "eth_getTransactionReceipt", tx_hash) is None
    time.sleep(1.0)  # blocks go on; the transaction does not come back
    assert rpc(anvil.url, "eth_getTransactionReceipt", tx_hash) is None
    assert proxy.injected == {"reorg": 1}


def test_every_fault_mode_is_a_valid_setting() -> None:
    assert {"none", "http429", "limit32005", "internal32603", "drop", "drop_after_send",
            "latency", "stale_head", "late_receipts_s", "late_receipts_blocks", "reorg",
            *(f"unsupported{d}" for d in DIALECTS)} == set(FAULT_MODES)
    assert all(mode.name == name for name, mode in FAULT_MODES.items())
    with pytest.raises(ValueError, match="unknown dialect"):
        Faults("t", unsupported="-1")


def test_stop_frees_the_port(anvil: Node) -> None:
    proxy = RpcProxy.start(anvil.url)
    url = proxy.url
    proxy.stop()
    with pytest.raises((ConnectionError, urllib.error.URLError)):
        post(url, call("eth_chainId"), timeout=2)
