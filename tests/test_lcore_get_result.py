"""A coded JSON-RPC error from ``getResult`` is "cannot tell", never "absent" (issue 20).

On the real embedded chain, through a small proxy (an aiohttp server on 127.0.0.1 in the
test's loop) that answers chosen ``getResult`` calls with a JSON-RPC error: the reader
raises (the outbox reads "unknown" and retries), a revert still reads as absent, and a
record whose repeated send reverts because it is already on chain ends committed with the
transaction that put it there, not 'failed' while on chain.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from eth_account import Account

from lcore_node.chain import AbiFunction, EngineCommitter, ProcessorReader
from lcore_node.config import NodeConfig
from lcore_node.node import LcoreNode
from lcore_node.outbox_store import Unit
from lcore_node.record_mode import RecordMode, RecordPayload
from stylus_contracts import load_artifact
from tests.test_lcore_support import DeviceKey, reading, wait_until
from utils.chain.connect import deploy
from utils.chain.fees import FeePolicy
from utils.chain.rpc import Rpc
from utils.chain.tx_engine import TxEngine, TxRequest
from utils.chain.wallets import Wallet, WalletPool
from utils.clock import Clock
from utils.devchain import DevChain
from utils.errors import RpcError
from utils.observe.events import CommitStatusEvent, Outcome
from utils.observe.stats import StatsHub

pytestmark = pytest.mark.asyncio(loop_scope="module")

#: geth's answer for a state it no longer holds: coded, not a revert, not retried by the
#: transport (a throttled or internal error is, until its attempts run out, then the same)
MISSING_STATE = {"code": -32000, "message": "missing trie node 3f2a (path )"}
REVERTED = {"code": 3, "message": "execution reverted", "data": "0x"}


class GetResultFaults:
    """Answers the next ``count`` getResult eth_calls with ``error``."""

    def __init__(self, selector: bytes) -> None:
        self.selector = "0x" + selector.hex()
        self.count = 0
        self.error: dict[str, Any] = MISSING_STATE
        self.answered = 0

    def __call__(self, body: Any) -> tuple[int, Any] | None:
        if isinstance(body, dict) and body.get("method") == "eth_call" and self.count > 0 and \
                str(body["params"][0].get("data", "")).startswith(self.selector):
            self.count -= 1
            self.answered += 1
            return 200, {"jsonrpc": "2.0", "id": body["id"], "error": self.error}
        return None


async def _serve_proxy(upstream: str, faults: GetResultFaults) -> AsyncIterator[str]:
    """Forwards every POST to ``upstream`` unless ``faults`` answers; yields its URL."""
    async with aiohttp.ClientSession() as session:
        async def handle(request: web.Request) -> web.Response:
            body = await request.read()
            answer = faults(json.loads(body))
            if answer is not None:
                return web.json_response(answer[1], status=answer[0])
            async with session.post(upstream, data=body, headers={
                    "Content-Type": "application/json"}) as resp:
                return web.Response(status=resp.status, body=await resp.read(),
                                    content_type="application/json")

        app = web.Application()
        app.router.add_post("/", handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        try:
            yield f"http://127.0.0.1:{runner.addresses[0][1]}"
        finally:
            await runner.cleanup()


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def processor(devchain: DevChain, rpc: Rpc) -> tuple[str, list[dict[str, Any]]]:
    artifact = load_artifact()
    fees = await FeePolicy.detect(rpc)
    address, _ = await deploy(rpc, devchain.funder_key, devchain.chain_id, fees,
                              artifact.bytecode)
    return address, artifact.abi


@pytest_asyncio.fixture(loop_scope="module")
async def faulty(devchain: DevChain, processor: tuple[str, list[dict[str, Any]]]
                 ) -> AsyncIterator[tuple[Rpc, GetResultFaults]]:
    faults = GetResultFaults(AbiFunction.find(processor[1], "getResult").selector)
    async for url in _serve_proxy(devchain.url, faults):
        async with Rpc(url) as conn:
            yield conn, faults


async def test_a_coded_error_raises_and_a_revert_is_absent(
    faulty: tuple[Rpc, GetResultFaults], processor: tuple[str, list[dict[str, Any]]]
) -> None:
    conn, faults = faulty
    reader = ProcessorReader(conn, *processor)
    task = os.urandom(32)
    assert await reader.get_result(task) is None  # a successful call: nothing there
    faults.count = 1
    with pytest.raises(RpcError) as raised:
        await reader.get_result(task)
    assert raised.value.code == -32000
    unit = Unit(1, 0, None, (), RecordPayload(task, b"x", bytes(32)))
    faults.count = 1
    with pytest.raises(RpcError):  # the outbox maps a raising check to "unknown"
        await RecordMode(reader).check(unit)  # type: ignore[arg-type]
    faults.count, faults.error = 1, REVERTED
    assert await reader.get_result(task) is None  # a revert is the contract's answer
    faults.error = MISSING_STATE


async def _funded_committer(engine: TxEngine, devchain: DevChain, conn: Rpc,
                            processor: tuple[str, list[dict[str, Any]]],
                            seed: int) -> EngineCommitter:
    wallets = WalletPool.derive(devchain.funder_key, seed, {"committer": 1}).role("committer")
    funder = Wallet("funder", 0, Account.from_key(devchain.funder_key))
    event = await engine.submit(TxRequest("setup", "top_up", funder, wallets[0].address,
                                          10**20))
    assert event.outcome is Outcome.SUCCESS
    committer = EngineCommitter(engine, conn, processor[0], processor[1], wallets)
    await committer.calibrate()
    return committer


def _row(db: Path) -> tuple[Any, ...]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        row: tuple[Any, ...] = conn.execute(
            "SELECT task_id, data, proof_hash, commit_status, transaction_hash"
            " FROM data_submissions").fetchone()
        return row
    finally:
        conn.close()


async def test_a_record_on_chain_is_not_failed_by_a_coded_error(
    devchain: DevChain, faulty: tuple[Rpc, GetResultFaults],
    processor: tuple[str, list[dict[str, Any]]], tmp_path: Path,
) -> None:
    conn, faults = faulty
    config = NodeConfig(db_path=tmp_path / "lcore.db", key_dir=tmp_path / "keys",
                        retry_base=0.2, retry_max=1.0, outbox_poll_interval=0.05,
                        commit_probe_interval=0.2)
    key, now = DeviceKey("dev-1"), int(time.time())
    async with LcoreNode(config) as node:  # no chain: the record waits, pending
        await node.register_device(key.device_id, key.public_hex)
        data = reading(1)
        await node.submit_data(key.device_id, data, now, key.sign(now, data))
    task, envelope, proof, _, _ = _row(config.db_path)
    hub, statuses = StatsHub(), list[str]()
    hub.tap(lambda e: statuses.append(e.status) if isinstance(e, CommitStatusEvent) else None)
    fees = await FeePolicy.detect(conn)
    async with TxEngine(conn, hub, Clock(), fees, devchain.chain_id, tx_timeout=30) as engine:
        committer = await _funded_committer(engine, devchain, conn, processor, seed=41)
        # the record reaches the chain by a send whose outcome the node never heard of
        first = await committer.commit(bytes(task), bytes(envelope), bytes(proof),
                                       lambda _h: None)
        assert first.ok
        faults.count = 2  # the checks after the next reverted sends cannot tell
        async with LcoreNode(config, hub=hub, committer=committer):
            await wait_until(lambda: _row(config.db_path)[3] in ("committed", "failed"), 60)
    _, _, _, status, tx_hash = _row(config.db_path)
    assert faults.answered >= 2 and faults.count == 0
    assert status == "committed" and tx_hash == first.tx_hash
    assert "failed" not in statuses
