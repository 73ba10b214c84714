"""A commit that fails for good is counted the same in every commit mode (issue 19.2).

On the REAL embedded chain, the processor address holds a contract that reverts every
call: each ``submitResult`` (record mode) and each ``commitBatch`` (batch mode) is mined and
reverts, which is not retryable, and the chain holds nothing for the record or the batch.
Every record must then end ``failed`` and be counted as a failure, one per record, in the
events (a failed ``commit`` IotEvent and a ``failed`` CommitStatusEvent) and through the
real sinks: the health monitor (``/health``), ``iot_metrics.csv``, Prometheus and the
summary built from the run aggregate (summary.json).
"""

from __future__ import annotations

import asyncio
import csv
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from eth_account import Account
from prometheus_client import CollectorRegistry

from lcore_node.batch_chain import EngineBatchCommitter
from lcore_node.chain import EngineCommitter
from lcore_node.config import NodeConfig
from lcore_node.node import LcoreNode
from lcore_node.types import CommitOutcome, OnChainResult
from stylus_contracts import load_artifact
from utils.chain.connect import deploy
from utils.chain.fees import FeePolicy
from utils.chain.rpc import Rpc
from utils.chain.tx_engine import TxEngine, TxRequest
from utils.chain.wallets import Wallet, WalletPool
from utils.clock import Clock
from utils.devchain import DevChain
from utils.iot.devices import DeviceFleet
from utils.observe.aggregate import RunAggregate
from utils.observe.csv_sinks import IotCsvSink
from utils.observe.events import CommitStatusEvent, IotEvent, Outcome
from utils.observe.health import LCORE_FAILING_AFTER, HealthMonitor
from utils.observe.metrics import PrometheusSink
from utils.observe.stats import StatsHub
from utils.observe.verdict import Targets
from utils.report.summary import build_summary

pytestmark = pytest.mark.asyncio(loop_scope="module")

RECORDS = LCORE_FAILING_AFTER + 1  # enough failures in a row for /health to say so
#: init code returning the runtime PUSH1 0 PUSH1 0 REVERT: every call to it reverts
REVERTER = bytes.fromhex("600580600b6000396000f3" + "60006000fd")
GAS = 300_000  # fixed: a reverting contract cannot be estimated
FAST: dict[str, Any] = {"retry_base": 0.2, "retry_max": 1.0, "outbox_poll_interval": 0.05,
                        "drain_timeout": 5.0}


@dataclass
class Rig:
    rpc: Rpc
    chain_id: int
    committer: EngineCommitter
    batches: EngineBatchCommitter


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def rig(devchain: DevChain, rpc: Rpc) -> AsyncIterator[Rig]:
    fees = await FeePolicy.detect(rpc)
    address, _ = await deploy(rpc, devchain.funder_key, devchain.chain_id, fees, REVERTER)
    assert await rpc.call("eth_getCode", address, "latest") == "0x60006000fd"
    async with TxEngine(rpc, StatsHub(), Clock(), fees, devchain.chain_id) as engine:
        wallets = WalletPool.derive(devchain.funder_key, 1919, {"committer": 2}).role("committer")
        funder = Wallet("funder", 0, Account.from_key(devchain.funder_key))
        done = await asyncio.gather(*(engine.submit(
            TxRequest("setup", "top_up", funder, w.address, 10**20)) for w in wallets))
        assert all(e.outcome is Outcome.SUCCESS for e in done), done
        abi = load_artifact().abi
        yield Rig(rpc, devchain.chain_id,
                  EngineCommitter(engine, rpc, address, abi, wallets, gas_limit=GAS),
                  EngineBatchCommitter(engine, rpc, address, wallets, gas_limit=GAS))


class Held:
    """The real record committer, each send held until ``release``: every submission is
    done before the first commit fails (a health streak counts events in order)."""

    def __init__(self, inner: EngineCommitter) -> None:
        self.inner = inner
        self.released = asyncio.Event()

    async def commit(self, task_id: bytes, envelope: bytes, proof_hash: bytes,
                     on_sent: Callable[[str], None]) -> CommitOutcome:
        await self.released.wait()
        return await self.inner.commit(task_id, envelope, proof_hash, on_sent)

    async def get_result(self, task_id: bytes) -> OnChainResult | None:
        return await self.inner.get_result(task_id)


@dataclass
class Sinks:
    events: list[object]
    aggregate: RunAggregate
    health: HealthMonitor
    csv: IotCsvSink
    prometheus: PrometheusSink


def wire(hub: StatsHub, run_dir: Path, chain_id: int) -> Sinks:
    sinks = Sinks([], RunAggregate({}), HealthMonitor(Clock()), IotCsvSink(run_dir),
                  PrometheusSink(CollectorRegistry(), run_id="t", chain_id=chain_id,
                                 version="test", targets={}))
    hub.tap(sinks.events.append)
    hub.listen(sinks.aggregate)
    hub.listen(sinks.health)
    hub.add_sink(sinks.csv)
    hub.add_sink(sinks.prometheus)
    return sinks


def node_for(mode: str, rig: Rig, hub: StatsHub, tmp_path: Path) -> tuple[LcoreNode, Held]:
    held = Held(rig.committer)
    batch: dict[str, Any] = {"batch_size": RECORDS, "batch_wait": 600.0} if mode == "batch" else {}
    config = NodeConfig(db_path=tmp_path / "lcore.db", key_dir=tmp_path / "keys",
                        **FAST, **batch)
    return LcoreNode(config, hub=hub, committer=held,
                     batch_committer=rig.batches if mode == "batch" else None), held


def rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(db)) as conn:
        return conn.execute(sql).fetchall()


def csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


async def until(predicate: Callable[[], bool], within: float = 60.0) -> None:
    """Wait for ``predicate`` (``within``: a bound for a hung test, not a speed check)."""
    for _ in range(int(within / 0.05)):
        if predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not reached")


@pytest.mark.parametrize("mode", ["record", "batch"])
async def test_a_commit_failing_for_good_is_counted_as_a_record_failure(
    rig: Rig, tmp_path: Path, mode: str
) -> None:
    hub = StatsHub()
    sinks = wire(hub, tmp_path, rig.chain_id)
    db = tmp_path / "lcore.db"
    node, held = node_for(mode, rig, hub, tmp_path)
    fleet = DeviceFleet(3, 19)
    async with node:
        for device in fleet:
            await node.register_device(device.device_id, device.public_key_hex,
                                       device.device_type)
        ids = []
        for i in range(RECORDS):  # distinct timestamps: identical readings would be replays
            sub = fleet.pick().make_submission(time.time() - RECORDS + i)
            ids.append((await node.submit_data(sub.device_id, sub.data, sub.timestamp,
                                               sub.signature)).record_id)
        held.released.set()
        await until(lambda: rows(db, "SELECT COUNT(*) FROM data_submissions"
                                     " WHERE commit_status = 'failed'")[0][0] == RECORDS)
        assert await node.close() == 0  # nothing left outstanding: failed is final
    hub.close()  # hands the last tally on, closes the CSV

    errors = {e for (e,) in rows(db, "SELECT last_error FROM data_submissions")}
    assert len(errors) == 1 and "reverted" in errors.pop()
    if mode == "batch":
        assert rows(db, "SELECT size, status FROM commit_batches") == [(RECORDS, "failed")]

    commits = [e for e in sinks.events if isinstance(e, IotEvent) and e.stage == "commit"]
    assert sorted(e.record_id for e in commits if e.record_id is not None) == ids
    assert not any(e.success for e in commits) and all("reverted" in e.error for e in commits)
    ends = [(e.record_id, e.status) for e in sinks.events if isinstance(e, CommitStatusEvent)
            and e.status in ("committed", "failed")]
    assert sorted(ends) == [(i, "failed") for i in ids]

    ok, details = sinks.health.check()  # /health
    assert not ok and sinks.health.consecutive_iot_failures == RECORDS
    assert "lcore node failing" in details["reason"] and "reverted" in details["reason"]

    table = [r for r in csv_rows(tmp_path / IotCsvSink.FILENAME)  # iot_metrics.csv
             if r["operation"] == "data_submission"]
    assert sorted(int(r["record_id"]) for r in table) == ids
    assert {r["commit_status"] for r in table} == {"failed"}
    assert all("reverted" in r["error_details"] for r in table)

    registry = sinks.prometheus.registry  # /metrics
    assert registry.get_sample_value("kcstress_iot_operations_total", {
        "operation": "submit", "stage": "commit", "outcome": "failure"}) == RECORDS
    assert registry.get_sample_value("kcstress_iot_operations_total", {
        "operation": "submit", "stage": "commit", "outcome": "success"}) == 0
    assert registry.get_sample_value("kcstress_iot_records", {"status": "failed"}) == RECORDS

    kpis = build_summary(sinks.aggregate, run_id="t", targets=Targets(), settings={},
                         seed=None, chain_id=rig.chain_id)["kpis"]  # summary.json
    assert kpis["iot_records"]["failed"] == RECORDS and kpis["on_chain_commitments"] == 0
    assert sinks.aggregate.iot_ops[("submit", "commit", False)] == RECORDS
