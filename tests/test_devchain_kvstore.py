"""The embedded chain's key-value store on SQLite (utils.devchain.kvstore).

Real SQLite (the private temporary database the chain uses), a real py-evm chain in process:
the mapping behaves as the dict it replaces across flushes and evictions, its cache stays
within its budget, and a pruned chain over it keeps a correct, complete head state while the
live state has left memory for disk.
"""

from __future__ import annotations

import secrets

import pytest
from eth_account import Account
from eth_typing import Address
from eth_utils import keccak, to_canonical_address

from utils.devchain.backend import DevNode
from utils.devchain.genesis import build_chain
from utils.devchain.kvstore import DiskKV, DiskStore
from utils.devchain.retention import Retention

GWEI = 10**9
STORE_RUNTIME = "6020356000355500"  # SSTORE(calldata[0:32], calldata[32:64])
STORE_INIT = "6008600c60003960086000f3" + STORE_RUNTIME


def test_mapping_matches_a_dict_across_flushes_and_evictions() -> None:
    store = DiskStore(cache_mb=0.02)  # ~20 kB: most entries live on disk only
    kv, model = store.kv, {}
    for round_ in range(6):
        for i in range(400):
            key = keccak(f"{round_}-{i}".encode())
            value = secrets.token_bytes(1 + i % 90)
            kv[key] = model[key] = value
        for i in range(0, 400, 3):  # delete a third of the previous round's keys
            key = keccak(f"{round_ - 1}-{i}".encode())
            if round_:
                assert kv.pop(key) == model.pop(key)
        with pytest.raises(KeyError):
            del kv[keccak(b"never written")]
        if round_ % 2:
            store.flush()  # half the rounds read back through the write buffer, half from disk
        assert kv.cached_bytes <= kv.cache_bytes
        sample = list(model)[:: 37]
        assert all(kv[k] == model[k] for k in sample)
    store.flush()
    assert len(kv) == len(model) and set(kv) == set(model)
    assert kv.stored_bytes() == sum(len(k) + len(v) for k, v in model.items())
    assert {k: kv[k] for k in model} == model
    assert keccak(b"never written") not in kv
    assert kv.misses > 0 and kv.cached_bytes <= kv.cache_bytes
    counts: DiskKV[int] = store.refs
    counts[b"a" * 32] = 3
    store.flush()
    counts[b"a" * 32] += 1
    assert counts[b"a" * 32] == 4
    store.close()


def test_pruned_chain_on_disk_keeps_a_complete_state() -> None:
    key = secrets.token_bytes(32)
    sender = Account.from_key(key).address
    chain = build_chain(1337, 10**9, sender, 10**30)
    node = DevNode(chain, retention=Retention(history_blocks=16, state_blocks=4,
                                               state_cache_mb=0.05))  # fmt: skip
    assert node.store is not None and node.pruner is not None
    base = {"chainId": 1337, "maxFeePerGas": 100 * GWEI, "maxPriorityFeePerGas": GWEI}
    nonce = 0

    def send(**fields: object) -> None:
        nonce_fields = {**base, "value": 0, **fields, "nonce": nonce}
        node.send_raw(bytes(Account.sign_transaction(nonce_fields, key).raw_transaction))

    send(gas=100_000, data=bytes.fromhex(STORE_INIT))
    nonce += 1
    node.seal()
    contract = Address(keccak(b"\xd6\x94" + to_canonical_address(sender) + b"\x80")[12:])
    written: dict[int, int] = {}
    for block in range(50):
        for i in range(8):  # 8 fresh slots per block: the state grows as an IoT run's does
            slot, value = block * 8 + i, 1 + secrets.randbelow(2**64)
            send(to=contract, gas=60_000, data=slot.to_bytes(32, "big") + value.to_bytes(32, "big"))
            written[slot] = value
            nonce += 1
        node.seal()
    kv = node.store.kv
    assert kv.cached_bytes <= kv.cache_bytes
    assert len(kv) > 3 * kv.cached_entries  # most of the store is on disk only
    assert node.store.flushes >= 50
    stats = node.pruner.stats()
    assert (stats["headBlock"], stats["oldestBlock"], stats["oldestState"]) == (51, 36, 48)
    state = node.state_at(None)  # a fresh state object: every slot read back through the store
    assert all(state.get_storage(contract, slot) == value for slot, value in written.items())
    assert node.store.kv.misses > 0
