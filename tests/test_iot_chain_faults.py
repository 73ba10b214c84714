"""The IoT pipeline against the REAL embedded chain when the chain fails (issue 3: 7, 8, 9, 12).

An :class:`LcoreNode` commits through an :class:`EngineCommitter` on a real DevChain
with MVPIoTProcessor (EVM twin) deployed, while the chain is paused (SIGSTOP) or
refuses transactions; nodes restart with pending and 'submitted' records; the
database is tampered with. Each record must end committed exactly once: one
``ResultSubmitted`` log per task id, ``getResult`` returning the stored envelope
and proof hash, and ``python main.py verify`` (a subprocess) agreeing.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from eth_account import Account
from eth_utils import keccak

from lcore_node.chain import EngineCommitter
from lcore_node.config import NodeConfig
from lcore_node.node import LcoreNode
from lcore_node.types import CommitOutcome, OnChainResult
from stylus_contracts import load_artifact
from tests.conftest import clean_env, main_cmd
from utils.chain.connect import deploy
from utils.chain.fees import FeePolicy
from utils.chain.rpc import Rpc, hex_int
from utils.chain.tx_engine import TxEngine, TxRequest
from utils.chain.wallets import Wallet, WalletPool
from utils.clock import Clock
from utils.devchain import DevChain
from utils.iot.devices import DeviceFleet
from utils.observe.events import CommitStatusEvent, Outcome, TxEvent
from utils.observe.stats import StatsHub

pytestmark = pytest.mark.asyncio(loop_scope="module")

TX_TIMEOUT = 1.5  # engine deadline: a commit sent into a paused chain times out quickly
FAST = {"retry_base": 0.2, "retry_max": 1.0, "outbox_poll_interval": 0.05, "drain_timeout": 10.0}
RESULT_SUBMITTED = "0x" + keccak(text="ResultSubmitted(bytes32,address,bytes32,uint256)").hex()


@dataclass(frozen=True)
class Processor:
    address: str
    abi: list[dict[str, Any]]


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def processor(devchain: DevChain, rpc: Rpc) -> Processor:
    artifact = load_artifact()
    fees = await FeePolicy.detect(rpc)
    address, _ = await deploy(rpc, devchain.funder_key, devchain.chain_id, fees, artifact.bytecode)
    return Processor(address, artifact.abi)


@dataclass
class Rig:
    """A short-deadline engine, funded committer wallets and a device fleet."""

    devchain: DevChain
    rpc: Rpc
    processor: Processor
    engine: TxEngine
    committer: EngineCommitter
    fleet: DeviceFleet
    hub: StatsHub
    events: list[object] = field(default_factory=list)

    def node(self, tmp_path: Path, *, committer: Any = None, **overrides: Any) -> LcoreNode:
        config = NodeConfig(db_path=tmp_path / "lcore.db", key_dir=tmp_path / "keys",
                            **{**FAST, **overrides})
        return LcoreNode(config, hub=self.hub, committer=committer)


@contextlib.asynccontextmanager
async def open_rig(devchain: DevChain, rpc: Rpc, processor: Processor,
                   seed: int) -> AsyncIterator[Rig]:
    hub, events = StatsHub(), list[object]()
    hub.tap(events.append)
    fees = await FeePolicy.detect(rpc)
    async with TxEngine(rpc, hub, Clock(), fees, devchain.chain_id,
                        tx_timeout=TX_TIMEOUT) as engine:
        wallets = WalletPool.derive(devchain.funder_key, seed, {"committer": 2}).role("committer")
        await fund(engine, devchain, wallets)
        committer = EngineCommitter(engine, rpc, processor.address, processor.abi, wallets)
        await committer.calibrate()
        yield Rig(devchain, rpc, processor, engine, committer, DeviceFleet(4, seed), hub, events)


async def fund(engine: TxEngine, devchain: DevChain, wallets: list[Wallet]) -> None:
    funder = Wallet("funder", 0, Account.from_key(devchain.funder_key))
    done = await asyncio.gather(*(
        engine.submit(TxRequest("setup", "top_up", funder, w.address, 10**20)) for w in wallets
    ))
    assert all(e.outcome is Outcome.SUCCESS for e in done), done


async def submit(node: LcoreNode, fleet: DeviceFleet, n: int) -> list[int]:
    """Register the fleet (idempotent) and store ``n`` signed readings; their record ids."""
    for device in fleet:
        await node.register_device(device.device_id, device.public_key_hex, device.device_type)
    ids = []
    for _ in range(n):
        sub = fleet.pick().make_submission(time.time())
        accepted = await node.submit_data(sub.device_id, sub.data, sub.timestamp, sub.signature)
        ids.append(accepted.record_id)
    return ids


def rows(db: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def execute(db: Path, sql: str, params: tuple[Any, ...] = ()) -> None:
    conn = sqlite3.connect(db)
    try:
        with conn:
            conn.execute(sql, params)
    finally:
        conn.close()


def statuses(db: Path) -> dict[int, str]:
    return {i: s for i, s in rows(db, "SELECT id, commit_status FROM data_submissions")}


async def wait_for(predicate: Callable[[], bool], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached within {within} s: {what}")
        await asyncio.sleep(0.05)


async def commit_logs(rpc: Rpc, address: str) -> dict[bytes, list[tuple[str, int]]]:
    """Every ResultSubmitted log of the contract: task id -> [(tx hash, block)]."""
    logs = await rpc.call("eth_getLogs", {"address": address, "fromBlock": "0x0",
                                          "toBlock": "latest", "topics": [RESULT_SUBMITTED]})
    found: dict[bytes, list[tuple[str, int]]] = {}
    for log in logs:
        task = bytes.fromhex(log["topics"][1][2:])
        found.setdefault(task, []).append((log["transactionHash"].lower(),
                                           hex_int(log["blockNumber"])))
    return found


async def assert_each_committed_once(rig: Rig, db: Path, record_ids: list[int]) -> None:
    """DB rows committed with the tx and block of the one ResultSubmitted log of their task id,
    and getResult returns the stored envelope and proof hash."""
    logs = await commit_logs(rig.rpc, rig.processor.address)
    table = {r[0]: r[1:] for r in rows(
        db, "SELECT id, commit_status, transaction_hash, block_number, task_id, data, proof_hash"
            " FROM data_submissions")}
    assert sorted(table) == sorted(record_ids)
    for record_id, (status, tx_hash, block, task, envelope, proof) in table.items():
        assert status == "committed", (record_id, status)
        assert logs.get(bytes(task), []) == [(tx_hash.lower(), block)], record_id
        receipt = await rig.rpc.call("eth_getTransactionReceipt", tx_hash)
        assert hex_int(receipt["status"]) == 1 and hex_int(receipt["blockNumber"]) == block
        on_chain = await rig.committer.get_result(bytes(task))
        assert on_chain is not None
        assert (on_chain.envelope, on_chain.proof_hash) == (bytes(envelope), bytes(proof))
        assert on_chain.submitter in {w.address for w in rig.committer.senders}
    ours = {bytes(t) for (t,) in rows(db, "SELECT task_id FROM data_submissions")}
    assert sum(len(v) for k, v in logs.items() if k in ours) == len(record_ids)  # no duplicate


async def run_verify(rig: Rig, tmp_path: Path, db: Path | None = None) -> tuple[int, str]:
    """``python main.py verify`` against the dev chain, as a user runs it."""
    proc = await asyncio.create_subprocess_exec(
        *main_cmd("verify", "--db", str(db or tmp_path / "lcore.db"), "--key-dir",
                  str(tmp_path / "keys"), "--rpc-url", rig.devchain.url, "--contract-address",
                  rig.processor.address),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=clean_env(),
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    return proc.returncode, out.decode()


def committed_events(rig: Rig) -> set[int]:
    return {e.record_id for e in rig.events
            if isinstance(e, CommitStatusEvent) and e.status == "committed"}


async def test_chain_paused_mid_run_then_resumed(devchain: DevChain, rpc: Rpc,
                                                 processor: Processor, tmp_path: Path) -> None:
    db = tmp_path / "lcore.db"
    async with open_rig(devchain, rpc, processor, seed=7001) as rig:
        async with rig.node(tmp_path, committer=rig.committer) as node:
            before = await submit(node, rig.fleet, 4)
            await wait_for(lambda: set(statuses(db).values()) == {"committed"}, 15, "warm-up")
            devchain.pause()
            try:
                during = await submit(node, rig.fleet, 6)  # the node keeps accepting
                await asyncio.sleep(TX_TIMEOUT + 2.0)  # sends and receipts time out
                down = statuses(db)
                assert all(down[i] in ("pending", "submitted") for i in during), down
                assert not committed_events(rig) & set(during)
            finally:
                devchain.resume()
            after = await submit(node, rig.fleet, 2)
            everything = before + during + after
            await wait_for(lambda: set(statuses(db).values()) == {"committed"}, 20, "recovery")
        timeouts = [e for e in rig.events if isinstance(e, TxEvent)
                    and e.operation == "submit_result" and e.outcome is Outcome.TIMEOUT]
        assert timeouts  # the pause was felt by the engine, not skipped
        assert max(r for (r,) in rows(db, "SELECT attempts FROM data_submissions")) >= 2
        await assert_each_committed_once(rig, db, everything)
        # sends that timed out in the paused chain landed after the resume; their records'
        # retries reverted (TaskAlreadySubmitted) and the rows name the late tx, not the revert
        stored = {h for (h,) in rows(db, "SELECT transaction_hash FROM data_submissions")}
        assert {e.tx_hash for e in timeouts if e.tx_hash} & stored
        code, out = await run_verify(rig, tmp_path)
    assert code == 0, out
    assert "12 ok, 0 mismatch" in out and "0 missing on chain" in out


async def test_chain_refusing_transactions_then_accepting(
    devchain: DevChain, rpc: Rpc, processor: Processor, tmp_path: Path
) -> None:
    db = tmp_path / "lcore.db"
    async with open_rig(devchain, rpc, processor, seed=7002) as rig:
        async with rig.node(tmp_path, committer=rig.committer) as node:
            before = await submit(node, rig.fleet, 3)
            await wait_for(lambda: set(statuses(db).values()) == {"committed"}, 15, "warm-up")
            assert await rpc.call("kcdev_setAcceptingTransactions", False) is True
            try:
                during = await submit(node, rig.fleet, 6)
                refused = f"attempts >= 2 AND id IN ({','.join(map(str, during))})"
                await wait_for(lambda: len(rows(db, "SELECT id FROM data_submissions WHERE "
                                                + refused)) == 6, 15, "refused twice each")
                down = statuses(db)
                assert all(down[i] == "pending" for i in during), down
                assert not committed_events(rig) & set(during)
                errors = {e for (e,) in rows(db, "SELECT last_error FROM data_submissions"
                                                 " WHERE commit_status = 'pending'")}
                assert all("not accepting transactions" in e for e in errors), errors
            finally:
                await rpc.call("kcdev_setAcceptingTransactions", True)
            await wait_for(lambda: set(statuses(db).values()) == {"committed"}, 20, "recovery")
        await assert_each_committed_once(rig, db, before + during)
        code, out = await run_verify(rig, tmp_path)
    assert code == 0, out
    assert "9 ok, 0 mismatch" in out


async def test_restarted_node_commits_records_stored_without_a_chain(
    devchain: DevChain, rpc: Rpc, processor: Processor, tmp_path: Path
) -> None:
    db = tmp_path / "lcore.db"
    async with open_rig(devchain, rpc, processor, seed=7003) as rig:
        async with rig.node(tmp_path) as node_a:  # no committer: records stay pending
            stored = await submit(node_a, rig.fleet, 5)
        assert set(statuses(db).values()) == {"pending"}
        async with rig.node(tmp_path, committer=rig.committer):
            await wait_for(lambda: set(statuses(db).values()) == {"committed"}, 20, "node B")
        await assert_each_committed_once(rig, db, stored)
        code, out = await run_verify(rig, tmp_path)
    assert code == 0, out
    assert "5 ok, 0 mismatch" in out


class DiesAfterSend:
    """Wraps the real committer: the node 'dies' right after a send (its task is cancelled
    once ``on_sent`` has recorded the tx hash), before any receipt."""

    def __init__(self, inner: EngineCommitter) -> None:
        self.inner = inner
        self.sent: list[str] = []
        self.died = asyncio.Event()

    async def commit(self, task_id: bytes, envelope: bytes, proof_hash: bytes,
                     on_sent: Callable[[str], None]) -> CommitOutcome:
        task = asyncio.current_task()
        assert task is not None

        def sent_then_die(tx_hash: str) -> None:
            on_sent(tx_hash)
            self.sent.append(tx_hash)
            self.died.set()
            task.cancel()

        return await self.inner.commit(task_id, envelope, proof_hash, sent_then_die)

    async def get_result(self, task_id: bytes) -> OnChainResult | None:
        return await self.inner.get_result(task_id)


class LegacyView:
    """The real committer seen as through a legacy (``uint8[]``) ABI: getResult returns the
    payload alone, no proof hash (what ProcessorReader yields for such a deployment)."""

    def __init__(self, inner: EngineCommitter) -> None:
        self.inner = inner

    async def commit(self, task_id: bytes, envelope: bytes, proof_hash: bytes,
                     on_sent: Callable[[str], None]) -> CommitOutcome:
        return await self.inner.commit(task_id, envelope, proof_hash, on_sent)

    async def get_result(self, task_id: bytes) -> OnChainResult | None:
        found = await self.inner.get_result(task_id)
        return None if found is None else OnChainResult(found.envelope, b"", 0, "")

    async def find_commit(self, task_id: bytes,
                          candidates: Sequence[str] = ()) -> tuple[str, int] | None:
        return await self.inner.find_commit(task_id, candidates)


@pytest.mark.parametrize("legacy", [False, True], ids=["abi", "legacy-abi"])
async def test_restart_rechecks_a_submitted_record_and_does_not_resend(
    devchain: DevChain, rpc: Rpc, processor: Processor, tmp_path: Path, legacy: bool
) -> None:
    db = tmp_path / "lcore.db"
    async with open_rig(devchain, rpc, processor, seed=7004 + 100 * legacy) as rig:
        dying = DiesAfterSend(rig.committer)
        async with rig.node(tmp_path, committer=dying, commit_concurrency=1) as node_a:
            (record,) = await submit(node_a, rig.fleet, 1)
            await asyncio.wait_for(dying.died.wait(), 10)
            await node_a.close(drain_timeout=0)
        ((status, tx_hash),) = rows(db, "SELECT commit_status, transaction_hash"
                                        " FROM data_submissions")
        assert (status, tx_hash) == ("submitted", dying.sent[0])
        receipt = None
        for _ in range(100):  # the chain mines it although nobody waits any more
            receipt = await rpc.call("eth_getTransactionReceipt", tx_hash)
            if receipt is not None:
                break
            await asyncio.sleep(0.05)
        assert receipt is not None and hex_int(receipt["status"]) == 1
        nonces = {w.address: hex_int(await rpc.call("eth_getTransactionCount", w.address,
                                                    "latest")) for w in rig.committer.senders}
        node_b_committer = LegacyView(rig.committer) if legacy else rig.committer
        async with rig.node(tmp_path, committer=node_b_committer):
            await wait_for(lambda: statuses(db) == {record: "committed"}, 10, "recheck")
        # settled by getResult: the only submitResult ever sent is the first one (the engine
        # still reports its receipt, though the node that sent it is gone)
        assert {e.tx_hash for e in rig.events if isinstance(e, TxEvent)
                and e.operation == "submit_result"} == {tx_hash}
        for w in rig.committer.senders:
            assert hex_int(await rpc.call("eth_getTransactionCount", w.address,
                                          "latest")) == nonces[w.address]
        await assert_each_committed_once(rig, db, [record])
        code, out = await run_verify(rig, tmp_path)
    assert code == 0, out
    assert "1 ok, 0 mismatch" in out


async def test_verify_detects_tampering_against_the_chain(
    devchain: DevChain, rpc: Rpc, processor: Processor, tmp_path: Path
) -> None:
    db = tmp_path / "lcore.db"
    async with open_rig(devchain, rpc, processor, seed=7005) as rig:
        async with rig.node(tmp_path, committer=rig.committer) as node:
            first, second, _ = await submit(node, rig.fleet, 3)
            await wait_for(lambda: set(statuses(db).values()) == {"committed"}, 15, "commit")
        ((envelope,),) = rows(db, "SELECT data FROM data_submissions WHERE id = ?", (first,))
        flipped = bytearray(envelope)
        flipped[len(flipped) // 2] ^= 0x01
        execute(db, "UPDATE data_submissions SET data = ? WHERE id = ?", (bytes(flipped), first))
        code, out = await run_verify(rig, tmp_path)
        assert code == 1, out
        assert f"record {first}:" in out and "1 mismatch" in out and "2 ok" in out
        execute(db, "UPDATE data_submissions SET data = ? WHERE id = ?", (envelope, first))
        ((task,),) = rows(db, "SELECT task_id FROM data_submissions WHERE id = ?", (second,))
        altered = bytes(keccak(bytes(task)))
        assert await rig.committer.get_result(altered) is None
        execute(db, "UPDATE data_submissions SET task_id = ? WHERE id = ?", (altered, second))
        code, out = await run_verify(rig, tmp_path)
    assert code == 1, out
    assert f"record {second}: nothing on chain under the task id" in out
    assert "0 mismatch" in out and "1 missing on chain" in out and "2 ok" in out
