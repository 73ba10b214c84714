"""IoT records through Cartesi's InputBox (issue 24) on the REAL embedded chain (Nitro L1
pricing): the real InputBox bytecode of @cartesi/rollups 2.2.0 (stylus_contracts/cartesi),
the one outbox in inputbox mode, the input reader and the in-process application.

Checked: every record ends committed in exactly one input; each input's index and
keccak(EvmAdvance) match ``getInputHash``; the reader hands every input to the application,
which keeps each record once and emits its notice; batched payloads carry N records; a
record whose input would pass 64 KiB is refused at intake; an input sent just before a
crash (its 'submitted' mark never written) is found on chain, not sent again; the run's
deployment path puts up the InputBox with an Application and Authority as a Cartesi node
reads them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from eth_abi import decode
from eth_account import Account
from eth_utils import keccak, to_checksum_address
from prometheus_client import CollectorRegistry

from lcore_node.config import NodeConfig
from lcore_node.errors import TooLargeError
from lcore_node.inputbox_app import InputApp
from lcore_node.inputbox_binding import write_inputbox
from lcore_node.inputbox_chain import EngineInputBoxCommitter
from lcore_node.inputbox_host import CartesiSide
from lcore_node.inputbox_payload import INPUT_MAX_SIZE, encode_evm_advance
from lcore_node.inputbox_reader import InputReader
from lcore_node.inputbox_store import form_input
from lcore_node.inputbox_verify import APP_DB_NAME
from lcore_node.node import LcoreNode
from stylus_contracts import CARTESI_DIR, load_artifact
from utils.chain.connect import deploy
from utils.chain.fees import FeePolicy
from utils.chain.inputbox_deploy import (
    EPOCH_LENGTH,
    TEMPLATE_HASH,
    InputBoxDeployment,
    ensure_inputbox,
)
from utils.chain.rpc import Rpc
from utils.chain.session import ChainSession, open_session
from utils.chain.tx_engine import TxEngine, TxRequest
from utils.chain.wallets import Wallet, WalletPool
from utils.clock import Clock
from utils.devchain import DevChain
from utils.iot.devices import DeviceFleet
from utils.iot.verify_cli import verify_command
from utils.observe.aggregate import RunAggregate
from utils.observe.events import Outcome, TxEvent
from utils.observe.metrics import PrometheusSink
from utils.observe.stats import StatsHub
from utils.settings import load_settings

pytestmark = pytest.mark.asyncio(loop_scope="module")

FAST = {"retry_base": 0.2, "retry_max": 1.0, "outbox_poll_interval": 0.05, "drain_timeout": 20.0}
APP = "0x" + "a5" * 20


@pytest.fixture(scope="module")
def devchain() -> Iterator[DevChain]:
    with DevChain.start(block_time=0.25, l1_base_fee_wei=2 * 10**9) as chain:
        yield chain


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def rig(devchain: DevChain) -> AsyncIterator[dict[str, Any]]:
    hub, events = StatsHub(), list[object]()
    hub.tap(events.append)
    async with Rpc(devchain.url) as rpc:
        fees = await FeePolicy.detect(rpc)
        inputbox, _ = await deploy(rpc, devchain.funder_key, devchain.chain_id, fees,
                                   load_artifact("InputBox", CARTESI_DIR).bytecode)
        async with TxEngine(rpc, hub, Clock(), fees, devchain.chain_id) as engine:
            wallets = WalletPool.derive(devchain.funder_key, 7, {"committer": 2}).role("committer")
            funder = Wallet("funder", 0, Account.from_key(devchain.funder_key))
            done = await asyncio.gather(*(engine.submit(
                TxRequest("setup", "top_up", funder, w.address, 10**20, gas=221_000))
                for w in wallets))
            assert all(e.outcome is Outcome.SUCCESS for e in done), done
            yield {"rpc": rpc, "engine": engine, "wallets": wallets, "inputbox": inputbox,
                   "hub": hub, "events": events, "fleet": DeviceFleet(4, 7)}


async def committer_for(rig: dict[str, Any], app: str) -> EngineInputBoxCommitter:
    committer = EngineInputBoxCommitter(rig["engine"], rig["rpc"], rig["inputbox"], app,
                                        rig["wallets"])
    await committer.load_deployment_block()
    await committer.calibrate()
    return committer


def make_node(rig: dict[str, Any], tmp_path: Path, inputbox: Any, **overrides: Any) -> LcoreNode:
    config = NodeConfig(db_path=tmp_path / "lcore.db", key_dir=tmp_path / "keys",
                        **{**FAST, **overrides})
    return LcoreNode(config, hub=rig["hub"], inputbox=inputbox)


async def submit(node: LcoreNode, fleet: DeviceFleet, n: int) -> list[int]:
    for device in fleet:
        await node.register_device(device.device_id, device.public_key_hex, device.device_type)
    ids, now = [], time.time()
    for i in range(n):
        sub = fleet.pick().make_submission(now - n + i)
        ids.append((await node.submit_data(sub.device_id, sub.data, sub.timestamp,
                                           sub.signature)).record_id)
    return ids


def rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return conn.execute(sql).fetchall()


async def run_app(node: LcoreNode, committer: EngineInputBoxCommitter, db: Path,
                  inputs: int) -> InputApp:
    known = {d.device_id for d in await node.storage.devices()}
    app = InputApp(db, node.cipher, known.__contains__)
    app.open()
    reader = InputReader(committer, app, poll=0.05)
    assert await reader.catch_up(inputs, 30)
    return app


async def test_records_become_inputs_the_application_keeps(
    rig: dict[str, Any], tmp_path: Path
) -> None:
    app_address = "0x" + keccak(text=str(tmp_path)).hex()[:40]
    committer = await committer_for(rig, app_address)
    node = make_node(rig, tmp_path, committer)
    await node.start()
    try:
        ids = await submit(node, rig["fleet"], 12)
        assert await node.close() == 0
        db = tmp_path / "lcore.db"
        assert rows(db, "SELECT commit_status, COUNT(*) FROM data_submissions"
                        " GROUP BY commit_status") == [("committed", 12)]
        inputs = rows(db, "SELECT id, input_index, input_hash, payload, size, transaction_hash"
                          " FROM inputbox_inputs ORDER BY input_index")
        assert [i[1] for i in inputs] == list(range(12)) and all(i[4] == 1 for i in inputs)
        assert await committer.number_of_inputs() == 12
        for _id, index, input_hash, payload, _size, tx_hash in inputs:
            assert await committer.input_hash(index) == input_hash
            added = await committer.in_receipt(tx_hash)
            assert added is not None and added.advance.payload == payload
            assert keccak(encode_evm_advance(added.advance)) == input_hash
            assert added.advance.app_contract.lower() == app_address
        await node.start()  # the cipher again, for the application
        app_db = tmp_path / APP_DB_NAME
        app = await run_app(node, committer, app_db, 12)
        kept = rows(app_db, "SELECT record_id FROM app_records ORDER BY record_id")
        assert [k[0] for k in kept] == sorted(ids)
        assert rows(app_db, "SELECT COUNT(*) FROM app_notices") == [(12,)]
        assert rows(app_db, "SELECT COUNT(*) FROM app_rejections") == [(0,)]
        app.close()
    finally:
        await node.close(drain_timeout=0)
    await write_inputbox(db, InputBoxDeployment(rig["inputbox"], app_address,
                                                committer.deployment_block, True))
    argv = ["--db", str(db), "--key-dir", str(tmp_path / "keys"), "--rpc-url",
            rig["rpc"].url, "--contract-address", rig["inputbox"]]
    counts, on_chain = await verify_command(argv)
    assert on_chain and counts.ok == 12 and counts.passed and counts.app_compared == 12
    with contextlib.closing(sqlite3.connect(db)) as conn, conn:  # the node's kept hash
        conn.execute("UPDATE inputbox_inputs SET input_hash = ? WHERE input_index = 3",
                     (b"\x01" * 32,))
    with contextlib.closing(sqlite3.connect(app_db)) as conn, conn:
        conn.execute("UPDATE app_records SET proof_hash = ? WHERE record_id = ?",
                     (b"\x02" * 32, ids[5]))
    counts, _ = await verify_command(argv)
    assert counts.mismatch == 1 and not counts.passed
    assert "not the hash the node kept" in counts.problems[0].error
    assert counts.app_problems == [f"record {ids[5]}: the application holds another proof hash"]
    adds = [e for e in rig["events"] if isinstance(e, TxEvent) and e.operation == "add_input"]
    assert all(e.l1_gas_used > 0 for e in adds)  # Nitro-priced L1 data


async def test_batched_payloads_and_the_size_limit(rig: dict[str, Any], tmp_path: Path) -> None:
    committer = await committer_for(rig, APP)
    node = make_node(rig, tmp_path, committer, inputbox_batch=5, batch_wait=0.2)
    await node.start()
    try:
        await submit(node, rig["fleet"], 12)
        device = rig["fleet"].devices[0]
        big = json.dumps({"blob": "x" * (INPUT_MAX_SIZE - 200)})
        sub_time = int(time.time())
        with pytest.raises(TooLargeError, match="InputBox input would be"):
            await node.submit_data(device.device_id, big, sub_time,
                                   device.sign_submission(big, sub_time))
        assert await node.close() == 0
    finally:
        await node.close(drain_timeout=0)
    sizes = [r[0] for r in rows(tmp_path / "lcore.db",
                                "SELECT size FROM inputbox_inputs ORDER BY id")]
    assert sorted(sizes, reverse=True) == [5, 5, 2] and sum(sizes) == 12


async def test_an_input_sent_before_a_crash_is_not_sent_again(
    rig: dict[str, Any], tmp_path: Path
) -> None:
    """kill -9 after the node answered addInput but before 'submitted' was written: the
    restarted outbox finds the input on chain and commits its records without a resend."""
    app_address = "0x" + keccak(text="crash" + str(tmp_path)).hex()[:40]
    committer = await committer_for(rig, app_address)
    offline = make_node(rig, tmp_path, None, outbox_enabled=False)
    await offline.start()
    try:
        await submit(offline, rig["fleet"], 4)
        unit, _ = await form_input(offline.storage, 4, 0.0, time.time())
        assert unit is not None and unit.payload.size == 4
        sent = await committer.add_input(unit.payload.payload, lambda _h: None)
        assert sent.ok
    finally:
        await offline.close(drain_timeout=0)
    node = make_node(rig, tmp_path, committer, inputbox_batch=4)
    await node.start()
    try:
        assert await node.close() == 0
    finally:
        await node.close(drain_timeout=0)
    assert await committer.number_of_inputs() == 1  # the one input, not a second copy
    assert rows(tmp_path / "lcore.db", "SELECT status, input_index, transaction_hash FROM"
                " inputbox_inputs") == [("committed", 0, sent.tx_hash)]


async def test_the_cartesi_side_measures_every_input_in_one_place(
    rig: dict[str, Any], tmp_path: Path
) -> None:
    """CartesiSide (what a run starts) emits one InputEvent per input: the aggregate and
    /metrics count the same inputs, records and end-to-end observations."""
    hub = StatsHub()
    aggregate = RunAggregate({})
    registry = CollectorRegistry()
    hub.listen(aggregate)
    hub.add_sink(PrometheusSink(registry, run_id="r", chain_id=None, version="0", targets={}))
    committer = await committer_for(rig, "0x" + keccak(text="side" + str(tmp_path)).hex()[:40])
    config = NodeConfig(db_path=tmp_path / "lcore.db", key_dir=tmp_path / "keys",
                        inputbox_batch=3, batch_wait=0.1, **FAST)
    node = LcoreNode(config, hub=hub, inputbox=committer)
    await node.start()
    side = CartesiSide(node, committer, tmp_path / APP_DB_NAME, hub=hub, clock=time.time,
                       poll=0.05)
    await side.start()
    try:
        await submit(node, rig["fleet"], 9)
        assert await node.outbox.drain(20) == 0 if node.outbox else False
        assert await side.finish(20)
    finally:
        await node.close(drain_timeout=0)
    hub.flush()
    stats = aggregate.inputs
    assert (stats.inputs, stats.records, stats.rejected) == (3, 9, 0)
    assert stats.end_to_end.count == 9 and stats.end_to_end.min > 0
    assert stats.input_lag.count == 3 and stats.input_lag.min > 0  # from the block's sighting
    assert stats.input_lag.max <= stats.end_to_end.max
    summary = stats.summary()
    assert summary["end_to_end_s"]["count"] == 9 and summary["input_lag_s"]["count"] == 3
    assert registry.get_sample_value("kcstress_inputbox_inputs_total") == 3
    assert registry.get_sample_value("kcstress_inputbox_records_total", {"outcome": "kept"}) == 9
    assert registry.get_sample_value("kcstress_inputbox_latency_seconds_count",
                                     {"measure": "end_to_end"}) == 9


async def call(session: ChainSession, to: str, signature: str) -> bytes:
    raw = await session.rpc.call("eth_call", {
        "to": to, "data": "0x" + keccak(text=signature)[:4].hex()}, "latest")
    return bytes.fromhex(str(raw)[2:])


async def test_inputbox_authority_and_application(devchain: DevChain) -> None:
    """A run without CARTESI_* addresses deploys Cartesi's InputBox, Authority and Application
    from the package's bytecode through the run's own path: the Application names the
    InputBox as its data availability and the Authority as its consensus, as a Cartesi node
    reads them; a given InputBox gets an Application of its own."""
    settings = load_settings({"rpc_url": devchain.url,
                              "private_key": devchain.funder_key.hex()})
    async with AsyncExitStack() as stack:
        session = await open_session(settings, StatsHub(), Clock(), stack)
        fresh = await ensure_inputbox(session, None, None)
        assert fresh.deployed and fresh.deploy_gas > 0
        for box, app in ((fresh.address, fresh.app),
                         ((again := await ensure_inputbox(session, fresh.address, None)).address,
                          again.app)):
            (availability,) = decode(["bytes"], await call(session, app,
                                                           "getDataAvailability()"))
            assert availability == keccak(text="InputBox(address)")[:4] + bytes(12) + \
                bytes.fromhex(box[2:])
            assert await call(session, app, "getTemplateHash()") == TEMPLATE_HASH
            (consensus,) = decode(["address"], await call(session, app,
                                                          "getOutputsMerkleRootValidator()"))
            (epoch,) = decode(["uint256"], await call(session, consensus, "getEpochLength()"))
            assert epoch == EPOCH_LENGTH
        assert again.app != fresh.app and not again.deployed
        given = await ensure_inputbox(session, fresh.address, "0x" + "ab" * 20)
        assert given.app == to_checksum_address("0x" + "ab" * 20) and given.deploy_gas == 0


async def test_a_refusing_chain_then_every_input_once(rig: dict[str, Any], tmp_path: Path) -> None:
    """The chain refuses every transaction for a while: the inputs go back to pending (the
    chain searched: absent, nothing of theirs in the pool), then each lands exactly once."""
    rpc: Rpc = rig["rpc"]
    app_address = "0x" + keccak(text="refuse" + str(tmp_path)).hex()[:40]
    committer = await committer_for(rig, app_address)
    node = make_node(rig, tmp_path, committer, inputbox_batch=2, batch_wait=0.1,
                     commit_probe_interval=0.2)
    db = tmp_path / "lcore.db"
    await rpc.call("kcdev_setAcceptingTransactions", False)
    try:
        await node.start()
        await submit(node, rig["fleet"], 6)
        for _ in range(100):  # a refused attempt settled (checked on chain: absent)
            if rows(db, "SELECT COUNT(*) FROM inputbox_inputs WHERE attempts >= 1")[0][0]:
                break
            await asyncio.sleep(0.1)
        assert rows(db, "SELECT COUNT(*) FROM inputbox_inputs WHERE attempts >= 1")[0][0]
    finally:
        await rpc.call("kcdev_setAcceptingTransactions", True)
    try:
        assert await node.close() == 0
    finally:
        await node.close(drain_timeout=0)
    payloads = [bytes(p) for (p,) in rows(db, "SELECT payload FROM inputbox_inputs")]
    assert len(payloads) == 3 and await committer.number_of_inputs() == 3
    found = [await committer.find_payload(p) for p in payloads]
    assert sorted(f.index for f in found if f is not None) == [0, 1, 2]
