"""The embedded chain keeps a bounded window of history and state (utils.devchain.pruning).

In process: the store stops growing once the windows are full, every entry left is
accounted for (no leak), and the head state is complete and correct. Over JSON-RPC on a real
child: pruned blocks, receipts, logs and states answer as a pruned geth does, recent ones work.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
from eth.db.schema import SchemaV1
from eth_account import Account
from eth_utils import keccak, to_canonical_address

from utils.devchain.backend import DevNode
from utils.devchain.chain import DevChain
from utils.devchain.genesis import build_chain
from utils.devchain.pruning import ACCOUNTS, ChainPruner, children
from utils.devchain.retention import Retention

GWEI = 10**9
# Runtime: SSTORE(calldata[0:32], calldata[32:64]). Init code copies the 8 bytes and returns them.
STORE_RUNTIME = "6020356000355500"
STORE_INIT = "6008600c60003960086000f3" + STORE_RUNTIME


class Signer:
    def __init__(self, key: bytes) -> None:
        self.key, self.nonce = key, 0
        self.address = Account.from_key(key).address

    def sign(self, **fields: Any) -> bytes:
        tx = {"value": 0, "gas": 21000, "chainId": 1337, "maxFeePerGas": 100 * GWEI,
              "maxPriorityFeePerGas": GWEI, "nonce": self.nonce, **fields}  # fmt: skip
        self.nonce += 1
        return bytes(Account.sign_transaction(tx, self.key).raw_transaction)


def _history_keys(pruner: ChainPruner) -> set[bytes]:
    keys: set[bytes] = set()
    for kept in pruner._history:
        keys |= {kept.block_hash,
                 SchemaV1.make_block_hash_to_score_lookup_key(kept.block_hash),  # type: ignore[arg-type]
                 SchemaV1.make_block_number_to_hash_lookup_key(kept.number),  # type: ignore[arg-type]
                 *(SchemaV1.make_transaction_hash_to_block_lookup_key(h)  # type: ignore[arg-type]
                   for h in kept.tx_hashes)}  # fmt: skip
    return keys


def _missing_under(store: dict[bytes, bytes], root: bytes) -> int:
    """Nodes reachable from state ``root`` that are not in the store."""
    missing, seen, todo = 0, set(), [(root, ACCOUNTS)]
    while todo:
        key, kind = todo.pop()
        if key in seen:
            continue
        seen.add(key)
        if key not in store:
            missing += 1
            continue
        todo.extend(children(store[key], kind))
    return missing


def _block(node: DevNode, funder: Signer, contract: bytes, receivers: list[str], n: int) -> None:
    """One block: 4 transfers and 3 storage writes (a slot set, later cleared)."""
    for i in range(4):
        node.send_raw(funder.sign(to=receivers[(n + i) % len(receivers)], value=1))
    for i in range(3):
        slot, value = (n * 3 + i) % 40, (n + 1) if n % 2 == 0 else 0
        data = slot.to_bytes(32, "big") + value.to_bytes(32, "big")
        node.send_raw(funder.sign(to=contract, gas=60_000, data=data))
    node.seal()


def test_store_is_bounded_complete_and_correct() -> None:
    funder = Signer(secrets.token_bytes(32))
    chain = build_chain(1337, 10**9, funder.address, 10**30)
    node = DevNode(chain, retention=Retention(history_blocks=30, state_blocks=6))
    node.send_raw(funder.sign(gas=100_000, data=bytes.fromhex(STORE_INIT)))
    node.seal()
    contract = keccak(b"\xd6\x94" + to_canonical_address(funder.address) + b"\x80")[12:]
    assert node.state_at(None).get_code(contract) == bytes.fromhex(STORE_RUNTIME)
    receivers = [Account.create().address for _ in range(12)]
    assert node.pruner is not None
    entries = []
    for n in range(120):
        _block(node, funder, contract, receivers, n)
        if n in (59, 119):
            entries.append(node.pruner.stats()["dbEntries"])
    stats = node.pruner.stats()
    assert (stats["headBlock"], stats["oldestBlock"], stats["oldestState"]) == (121, 92, 116)
    assert abs(entries[1] - entries[0]) <= 0.05 * entries[0], entries  # flat once full
    assert stats["prunedEntries"] > 3 * stats["dbEntries"]
    store = node.pruner.store
    unaccounted = set(store) - set(node.pruner.refs.counts) - _history_keys(node.pruner)
    # genesis header, its score and number, the chain's head/gap records, the empty code
    assert len(unaccounted) <= 8, [k[:40] for k in unaccounted]
    assert _missing_under(store, bytes(node.head().state_root)) == 0
    state = node.state_at(None)
    assert sum(state.get_balance(to_canonical_address(r)) for r in receivers) == 480
    for slot in range(40):  # the last write of each slot: block n = (last index // 3)
        last = max(n for n in range(120) for i in range(3) if (n * 3 + i) % 40 == slot)
        assert state.get_storage(contract, slot) == ((last + 1) if last % 2 == 0 else 0)


@pytest.fixture(scope="module")
def pruned_chain() -> Iterator[DevChain]:
    with DevChain.start(block_time=0, history_blocks=20, state_blocks=5) as running:
        yield running


async def _call(chain: DevChain, method: str, *params: Any) -> dict[str, Any]:
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
    async with aiohttp.ClientSession() as session, session.post(chain.url, json=body) as reply:
        answer: dict[str, Any] = json.loads(await reply.text())
    return answer


async def test_pruned_blocks_answer_like_a_pruned_node(pruned_chain: DevChain) -> None:
    funder = Signer(pruned_chain.funder_key)
    receiver = Account.create().address
    hashes = []
    for _ in range(40):  # block time 0: a block per transaction
        reply = await _call(pruned_chain, "eth_sendRawTransaction",
                            "0x" + funder.sign(to=receiver, value=5).hex())
        hashes.append(reply["result"])
    stats = (await _call(pruned_chain, "kcdev_chainStats"))["result"]
    assert (stats["headBlock"], stats["oldestBlock"], stats["oldestState"]) == (40, 21, 36)
    old = await _call(pruned_chain, "eth_getBlockByNumber", "0x5", False)
    assert old["error"]["code"] == 4444 and "pruned history" in old["error"]["message"]
    logs = await _call(pruned_chain, "eth_getLogs", {"fromBlock": "0x0", "toBlock": "latest"})
    assert logs["error"]["code"] == 4444
    genesis = await _call(pruned_chain, "eth_getBlockByNumber", "0x0", False)
    assert genesis["result"]["number"] == "0x0"  # genesis history is kept
    recent = await _call(pruned_chain, "eth_getBlockByNumber", "0x15", False)
    assert recent["result"]["number"] == "0x15"
    assert (await _call(pruned_chain, "eth_getTransactionReceipt", hashes[3]))["result"] is None
    receipt = (await _call(pruned_chain, "eth_getTransactionReceipt", hashes[-1]))["result"]
    assert receipt["status"] == "0x1" and receipt["blockNumber"] == "0x28"
    balance = await _call(pruned_chain, "eth_getBalance", receiver, "0x10")
    assert balance["error"]["code"] == -32000 and "missing trie node" in balance["error"]["message"]
    assert (await _call(pruned_chain, "eth_getBalance", receiver, "0x24"))["result"] == hex(36 * 5)
    assert (await _call(pruned_chain, "eth_getBalance", receiver, "latest"))["result"] == hex(200)
    history = (await _call(pruned_chain, "eth_feeHistory", "0x40", "latest", []))["result"]
    assert history["oldestBlock"] == "0x15" and len(history["gasUsedRatio"]) == 20
