"""Batched IoT commitments (issue 12.4) on the REAL embedded chain with Nitro L1 pricing.

An :class:`LcoreNode` with an :class:`EngineBatchCommitter` commits Merkle roots through
``commitBatch`` on MVPIoTProcessor (the EVM twin here; the Stylus program is identical by
the differential test). Checked: every record holds its leaf index and proof, the chain holds
each batch's root with its size, verify passes and catches a flipped byte, and a batch left
'submitted' by a crash is reconciled as a whole (on chain: committed without a resend;
absent: sent again).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from eth_account import Account

from lcore_node.batch_chain import BatchReader, EngineBatchCommitter
from lcore_node.batch_store import BATCHES, form_batch
from lcore_node.chain import EngineCommitter
from lcore_node.config import NodeConfig
from lcore_node.merkle import leaf_hash, merkle_root, proof_root
from lcore_node.node import LcoreNode
from lcore_node.outbox_store import UnitStore
from lcore_node.types import VerifyReport
from stylus_contracts import load_artifact
from utils.chain.connect import deploy
from utils.chain.fees import FeePolicy
from utils.chain.rpc import Rpc
from utils.chain.tx_engine import TxEngine, TxRequest
from utils.chain.wallets import Wallet, WalletPool
from utils.clock import Clock
from utils.devchain import DevChain
from utils.iot.devices import DeviceFleet
from utils.observe.events import CommitStatusEvent, Outcome, TxEvent
from utils.observe.stats import StatsHub

pytestmark = pytest.mark.asyncio(loop_scope="module")

L1_BASE_FEE_WEI = 2 * 10**9
FAST = {"retry_base": 0.2, "retry_max": 1.0, "outbox_poll_interval": 0.05, "drain_timeout": 20.0}


@pytest.fixture(scope="module")
def devchain() -> Iterator[DevChain]:
    with DevChain.start(block_time=0.25, l1_base_fee_wei=L1_BASE_FEE_WEI) as chain:
        yield chain


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def rig(devchain: DevChain) -> AsyncIterator[dict[str, Any]]:
    hub, events = StatsHub(), list[object]()
    hub.tap(events.append)
    async with Rpc(devchain.url) as rpc:
        fees = await FeePolicy.detect(rpc)
        artifact = load_artifact()
        address, _ = await deploy(rpc, devchain.funder_key, devchain.chain_id, fees,
                                  artifact.bytecode)
        async with TxEngine(rpc, hub, Clock(), fees, devchain.chain_id) as engine:
            wallets = WalletPool.derive(devchain.funder_key, 7, {"committer": 2}).role("committer")
            funder = Wallet("funder", 0, Account.from_key(devchain.funder_key))
            gas = 21_000 + 200_000  # the transfer's L1 charge on top (Nitro refuses 21,000)
            done = await asyncio.gather(*(engine.submit(
                TxRequest("setup", "top_up", funder, w.address, 10**20, gas=gas))
                for w in wallets))
            assert all(e.outcome is Outcome.SUCCESS for e in done), done
            committer = EngineCommitter(engine, rpc, address, artifact.abi, wallets)
            await committer.calibrate()
            batches = EngineBatchCommitter(engine, rpc, address, wallets)
            await batches.calibrate()
            yield {"rpc": rpc, "address": address, "committer": committer, "batches": batches,
                   "hub": hub, "events": events, "fleet": DeviceFleet(4, 7)}


def make_node(rig: dict[str, Any], tmp_path: Path, **overrides: Any) -> LcoreNode:
    config = NodeConfig(db_path=tmp_path / "lcore.db", key_dir=tmp_path / "keys",
                        **{**FAST, **overrides})
    return LcoreNode(config, hub=rig["hub"], committer=rig["committer"],
                     batch_committer=rig["batches"])


async def submit(node: LcoreNode, fleet: DeviceFleet, n: int) -> list[int]:
    for device in fleet:
        await node.register_device(device.device_id, device.public_key_hex, device.device_type)
    ids, now = [], time.time()
    for i in range(n):  # distinct timestamps: a device's identical reading would be a replay
        sub = fleet.pick().make_submission(now - n + i)
        ids.append((await node.submit_data(sub.device_id, sub.data, sub.timestamp,
                                           sub.signature)).record_id)
    return ids


async def verify_one(node: LcoreNode, record_id: int) -> VerifyReport:
    return next(r for r in [r async for r in node.verify_all(on_chain=True)]
                if r.record_id == record_id)


def rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return conn.execute(sql).fetchall()


async def test_batches_commit_roots_with_proofs_and_verify_catches_a_flipped_byte(
    rig: dict[str, Any], tmp_path: Path
) -> None:
    node = make_node(rig, tmp_path, batch_size=16, batch_wait=0.2)
    await node.start()
    try:
        ids = await submit(node, rig["fleet"], 40)
        assert await node.close() == 0  # drained: every record committed
    finally:
        await node.close(drain_timeout=0)
    db = tmp_path / "lcore.db"
    batches = rows(db, "SELECT id, root, size, status, transaction_hash FROM commit_batches")
    assert sum(b[2] for b in batches) == len(ids) and all(b[3] == "committed" for b in batches)
    assert max(b[2] for b in batches) == 16  # full batches form without waiting
    reader = BatchReader(rig["rpc"], rig["address"])
    for batch_id, root, size, _status, tx_hash in batches:
        members = rows(db, f"SELECT task_id, data, leaf_index, merkle_proof, commit_status,"
                           f" transaction_hash FROM data_submissions WHERE batch_id = {batch_id}"
                           " ORDER BY leaf_index")
        leaves = [leaf_hash(m[0], hashlib.sha256(m[1]).digest()) for m in members]
        assert merkle_root(leaves) == root  # independent recomputation of the root
        for index, member in enumerate(members):
            assert member[2] == index and member[4] == "committed" and member[5] == tx_hash
            assert proof_root(leaves[index], index, size, member[3]) == root
        on_chain = await reader.get_batch(root)
        assert on_chain is not None and on_chain.size == size
    # the batch transactions paid L1 data like Nitro: gasUsedForL1 > 0 in their receipts
    batch_txs = [e for e in rig["events"] if isinstance(e, TxEvent)
                 and e.operation == "commit_batch" and e.outcome is Outcome.SUCCESS]
    assert len(batch_txs) == len(batches) and all(e.l1_gas_used > 0 for e in batch_txs)
    assert all(e.fee_wei == e.gas_used * e.effective_gas_price > 0 for e in batch_txs)

    node = make_node(rig, tmp_path)
    await node.start()
    try:
        reports = [r async for r in node.verify_all(on_chain=True)]
        assert len(reports) == len(ids) and all(r.ok and r.on_chain for r in reports)
        victim = ids[5]
        data = rows(db, f"SELECT data FROM data_submissions WHERE id = {victim}")[0][0]
        middle = len(data) // 2  # one bit of the ciphertext
        flipped = data[:middle] + bytes([data[middle] ^ 0x01]) + data[middle + 1:]
        with contextlib.closing(sqlite3.connect(db)) as conn, conn:
            conn.execute("UPDATE data_submissions SET data = ? WHERE id = ?", (flipped, victim))
        report = await verify_one(node, victim)
        assert not report.ok and report.on_chain is False and not report.proof_matches
        proof_flip = rows(db, f"SELECT merkle_proof FROM data_submissions WHERE id = {ids[9]}")
        bad = bytearray(proof_flip[0][0])
        bad[3] ^= 0x80
        with contextlib.closing(sqlite3.connect(db)) as conn, conn:
            conn.execute("UPDATE data_submissions SET merkle_proof = ? WHERE id = ?",
                         (bytes(bad), ids[9]))
        report = await verify_one(node, ids[9])
        assert report.proof_matches and report.decrypts  # the record itself is intact
        assert report.on_chain is False and "root" in report.error
    finally:
        await node.close(drain_timeout=0)


async def test_a_batch_left_submitted_is_reconciled_as_a_whole(
    rig: dict[str, Any], tmp_path: Path
) -> None:
    """Crash after the send (kill -9): on restart a root already on chain is committed without
    a resend, an absent one is sent again; no record is lost or committed twice."""
    config = NodeConfig(db_path=tmp_path / "lcore.db", key_dir=tmp_path / "keys",
                        outbox_enabled=False, **FAST)
    offline = LcoreNode(config, hub=rig["hub"])
    await offline.start()
    try:
        await submit(offline, rig["fleet"], 10)
        landed, _ = await form_batch(offline.storage, 5, 0.0, time.time())
        lost, _ = await form_batch(offline.storage, 5, 0.0, time.time())
        assert landed is not None and lost is not None
        sent = await rig["batches"].commit_batch(landed.payload.root, landed.payload.size,
                                                 lambda _h: None)
        assert sent.ok
        store = UnitStore(offline.storage, BATCHES)
        store.mark_submitted(landed.unit_id, sent.tx_hash)  # durable once the node closes
        store.mark_submitted(lost.unit_id, "0x" + "ab" * 32)
    finally:
        await offline.close(drain_timeout=0)
    before = sum(1 for e in rig["events"] if isinstance(e, TxEvent)
                 and e.operation == "commit_batch")
    node = make_node(rig, tmp_path, batch_size=5, batch_wait=0.1)
    await node.start()
    try:
        assert await node.close() == 0
    finally:
        await node.close(drain_timeout=0)
    db = tmp_path / "lcore.db"
    status = dict(rows(db, "SELECT id, status FROM commit_batches"))
    assert set(status.values()) == {"committed"} and len(status) == 2
    assert rows(db, "SELECT COUNT(*) FROM data_submissions WHERE commit_status = 'committed'"
                )[0][0] == 10
    landed_tx = rows(db, f"SELECT transaction_hash FROM commit_batches WHERE id = "
                         f"{landed.unit_id}")[0][0]
    assert landed_tx == sent.tx_hash  # reconciled, not re-sent
    after = sum(1 for e in rig["events"] if isinstance(e, TxEvent)
                and e.operation == "commit_batch")
    assert after - before == 1  # only the lost batch went out again
    reader = BatchReader(rig["rpc"], rig["address"])
    assert (await reader.get_batch(lost.payload.root)) is not None


async def test_a_refusing_chain_is_probed_and_the_backlog_released_when_it_accepts(
    rig: dict[str, Any], tmp_path: Path
) -> None:
    """The chain refuses every transaction (``kcdev_setAcceptingTransactions(false)``): one
    probe batch at a time goes out, and the first one that commits releases every backed-off
    batch at once. A batch's own backoff is an hour here: nothing but that release can
    commit the backlog before the test ends."""
    rpc: Rpc = rig["rpc"]
    node = make_node(rig, tmp_path, batch_size=3, batch_wait=0.1, retry_base=3600.0,
                     retry_max=7200.0, commit_probe_interval=0.2)
    db = tmp_path / "lcore.db"
    await rpc.call("kcdev_setAcceptingTransactions", False)
    try:
        await node.start()
        await submit(node, rig["fleet"], 9)
        await until(lambda: one(db, "SELECT COUNT(*) FROM commit_batches WHERE attempts >= 2"
                                    " AND status = 'pending'") >= 1)  # a probe was refused
        assert one(db, "SELECT COUNT(*) FROM data_submissions WHERE commit_status"
                       " = 'committed'") == 0
        assert one(db, "SELECT MIN(next_attempt_at) FROM commit_batches WHERE attempts >= 1"
                       ) > time.time() + 600  # backed off far past the end of this test
    finally:
        await rpc.call("kcdev_setAcceptingTransactions", True)
    try:
        await until(lambda: one(db, "SELECT COUNT(*) FROM data_submissions"
                                    " WHERE commit_status != 'committed'") == 0)
        reports = [r async for r in node.verify_all(on_chain=True)]
        assert len(reports) == 9 and all(r.ok for r in reports), reports
    finally:
        await node.close(drain_timeout=5)
    ids = {i for (i,) in rows(db, "SELECT id FROM data_submissions")}
    statuses = [e for e in rig["events"] if isinstance(e, CommitStatusEvent)
                and e.record_id in ids]
    assert sum(e.status == "pending" for e in statuses) > 9  # retries, as retries
    assert not [e for e in statuses if e.status == "failed"]


def one(db: Path, sql: str) -> Any:
    return rows(db, sql)[0][0]


async def until(predicate: Callable[[], bool], within: float = 30.0) -> None:
    """Wait for ``predicate`` (``within``: a bound for a hung test, not a speed check)."""
    for _ in range(int(within / 0.05)):
        if predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not reached")
