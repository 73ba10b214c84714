"""Records committed in blocks a reorg replaced are committed again (issue 20.4, IoT part).

On a real anvil (1 s blocks) with the real engine: an LcoreNode commits records, its
``on_reorg`` listens to the engine's block follower, and ``anvil_reorg`` replaces the blocks
holding some commits. The node reopens those records (status ``reorged``), checks them on
chain again, and ends with every record committed on chain, its stored block the block that
holds its commit transaction, and one ``commit`` event per record (none counted twice).
In batch mode, a Merkle batch found on chain again after the reorg has the block its
commitBatch transaction is in now (getBatch names no transaction: the hash sent for it, or
its ``BatchCommitted`` log, says where).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account

from lcore_node.batch_chain import EngineBatchCommitter
from lcore_node.chain import EngineCommitter
from lcore_node.node import LcoreNode
from stylus_contracts import load_artifact
from tests.test_lcore_support import DeviceKey, make_config, query, reading, wait_until
from utils.chain.connect import deploy
from utils.chain.fees import FeePolicy
from utils.chain.rpc import Rpc, hex_int
from utils.chain.tx_engine import TxEngine, TxRequest
from utils.chain.wallets import Wallet, WalletPool
from utils.clock import Clock
from utils.devchain.anvil import AnvilChain
from utils.observe.events import CommitStatusEvent, Event, IotEvent, Outcome
from utils.observe.stats import StatsHub

pytestmark = pytest.mark.asyncio(loop_scope="module")
RECORDS = 10
ROWS = ("SELECT id, task_id, data, proof_hash, commit_status, transaction_hash, block_number"
        " FROM data_submissions ORDER BY id")




async def _committer(engine: TxEngine, anvil: AnvilChain, rpc: Rpc) -> EngineCommitter:
    artifact = load_artifact()
    fees = await FeePolicy.detect(rpc)
    address, _ = await deploy(rpc, anvil.funder_key, anvil.chain_id, fees, artifact.bytecode)
    wallets = WalletPool.derive(anvil.funder_key, 53, {"committer": 2}).role("committer")
    funder = Wallet("funder", 0, Account.from_key(anvil.funder_key))
    for wallet in wallets:
        event = await engine.submit(TxRequest("setup", "top_up", funder, wallet.address,
                                              10**20))
        assert event.outcome is Outcome.SUCCESS
    committer = EngineCommitter(engine, rpc, address, artifact.abi, wallets)
    await committer.calibrate()
    return committer


def _all_committed(db: Path) -> bool:
    rows = query(db, ROWS)
    return len(rows) == RECORDS and all(r[4] == "committed" and r[6] is not None for r in rows)


async def test_records_in_replaced_blocks_are_committed_again_once(
    anvil: AnvilChain, anvil_rpc: Rpc, tmp_path: Path
) -> None:
    events: list[Event] = []
    hub = StatsHub()
    hub.tap(events.append)
    config = make_config(tmp_path, retry_base=0.2, retry_max=1.0, outbox_poll_interval=0.05)
    fees = await FeePolicy.detect(anvil_rpc)
    async with TxEngine(anvil_rpc, hub, Clock(), fees, anvil.chain_id, tx_timeout=30) as eng:
        committer = await _committer(eng, anvil, anvil_rpc)
        node = LcoreNode(config, hub=hub, committer=committer)
        await node.start()
        eng.follower.reorg_listeners.append(node.on_reorg)
        try:
            key = DeviceKey("dev-reorg")
            await node.register_device(key.device_id, key.public_hex)
            for n in range(RECORDS):  # spread over a few blocks
                data, now = reading(n), int(time.time())
                await node.submit_data(key.device_id, data, now, key.sign(now, data))
                await asyncio.sleep(0.3)
            await wait_until(lambda: _all_committed(config.db_path), 60)
            before = {r[0]: r[6] for r in query(config.db_path, ROWS)}
            blocks = sorted(set(before.values()))
            fork = blocks[len(blocks) // 2]
            head = hex_int(await anvil_rpc.call("eth_blockNumber"))
            reopened = {rid for rid, block in before.items() if block >= fork}
            assert reopened
            await anvil_rpc.call("anvil_reorg", head - fork + 1, [])

            def repaired() -> bool:
                reorged = {e.record_id for e in events
                           if isinstance(e, CommitStatusEvent) and e.status == "reorged"}
                return reorged == reopened and _all_committed(config.db_path)

            await wait_until(repaired, 90)
            assert [r.fork_block for r in eng.follower.reorgs] == [fork]
        finally:
            assert await node.close(drain_timeout=60) == 0
    rows = query(config.db_path, ROWS)
    await _check_on_chain(anvil_rpc, committer, rows)
    for rid, *_, block in rows:  # the reopened ones were re-included after the new head
        assert block > head if rid in reopened else block == before[rid], (rid, block)
    statuses = [e for e in events if isinstance(e, CommitStatusEvent)]
    assert Counter(e.record_id for e in statuses if e.status == "reorged") == Counter(reopened)
    commits = Counter(e.record_id for e in events
                      if isinstance(e, IotEvent) and e.stage == "commit")
    assert commits == Counter(r[0] for r in rows)  # one commit event per record, ever
    assert all(e.success for e in events if isinstance(e, IotEvent) and e.stage == "commit")


async def _check_on_chain(rpc: Rpc, committer: EngineCommitter,
                          rows: list[tuple[Any, ...]]) -> None:
    """Each record: getResult holds it, and its stored transaction succeeded in its stored
    block, a block of the chain as it is now."""
    for _rid, task, data, proof, status, tx_hash, block in rows:
        assert status == "committed"
        result = await committer.get_result(bytes(task))
        assert result is not None
        assert (result.envelope, result.proof_hash) == (bytes(data), bytes(proof))
        receipt = await rpc.call("eth_getTransactionReceipt", tx_hash)
        assert receipt is not None and hex_int(receipt["status"]) == 1, tx_hash
        assert hex_int(receipt["blockNumber"]) == block, tx_hash
        canonical = await rpc.call("eth_getBlockByNumber", hex(block), False)
        assert tx_hash in canonical["transactions"]
        assert receipt["blockHash"] == canonical["hash"]


BATCHES = ("SELECT id, status, transaction_hash, block_number FROM commit_batches ORDER BY id")


def _batches_committed(db: Path) -> bool:
    rows = query(db, BATCHES)
    members = query(db, "SELECT COUNT(*) FROM data_submissions WHERE commit_status = 'committed'"
                        " AND block_number IS NOT NULL")[0][0]
    return members == RECORDS and all(r[1] == "committed" and r[3] is not None for r in rows)


async def test_a_batch_in_a_replaced_block_gets_its_new_block(
    anvil: AnvilChain, anvil_rpc: Rpc, tmp_path: Path
) -> None:
    hub = StatsHub()
    config = make_config(tmp_path, retry_base=0.2, retry_max=1.0, outbox_poll_interval=0.05,
                         batch_size=2, batch_wait=0.1)
    fees = await FeePolicy.detect(anvil_rpc)
    async with TxEngine(anvil_rpc, hub, Clock(), fees, anvil.chain_id, tx_timeout=30) as eng:
        committer = await _committer(eng, anvil, anvil_rpc)
        batches = EngineBatchCommitter(eng, anvil_rpc, committer.address, committer.senders)
        await batches.calibrate()
        node = LcoreNode(config, hub=hub, committer=committer, batch_committer=batches)
        await node.start()
        eng.follower.reorg_listeners.append(node.on_reorg)
        try:
            key = DeviceKey("dev-batch-reorg")
            await node.register_device(key.device_id, key.public_hex)
            for n in range(RECORDS):
                data, now = reading(n), int(time.time())
                await node.submit_data(key.device_id, data, now, key.sign(now, data))
                await asyncio.sleep(0.3)
            await wait_until(lambda: _batches_committed(config.db_path), 60)
            before = {r[0]: r[3] for r in query(config.db_path, BATCHES)}
            fork = sorted(set(before.values()))[len(set(before.values())) // 2]
            head = hex_int(await anvil_rpc.call("eth_blockNumber"))
            moved = {bid for bid, block in before.items() if block >= fork}
            assert moved
            await anvil_rpc.call("anvil_reorg", head - fork + 1, [])
            await wait_until(lambda: bool(eng.follower.reorgs)
                             and _batches_committed(config.db_path)
                             and all(r[3] > head for r in query(config.db_path, BATCHES)
                                     if r[0] in moved), 90)
        finally:
            assert await node.close(drain_timeout=60) == 0
    for _bid, _status, tx_hash, block in query(config.db_path, BATCHES):
        receipt = await anvil_rpc.call("eth_getTransactionReceipt", tx_hash)
        assert receipt is not None and hex_int(receipt["status"]) == 1, tx_hash
        assert hex_int(receipt["blockNumber"]) == block, tx_hash
        canonical = await anvil_rpc.call("eth_getBlockByNumber", hex(block), False)
        assert receipt["blockHash"] == canonical["hash"]
    members = query(config.db_path, "SELECT d.block_number, b.block_number FROM data_submissions"
                                    " d JOIN commit_batches b ON d.batch_id = b.id")
    assert len(members) == RECORDS and all(a == b for a, b in members)
