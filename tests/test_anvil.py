"""anvil (from npm, via scripts/install_anvil.sh) as a chain: the engine and a whole run on it."""

from __future__ import annotations

import asyncio
import csv
import json
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from tests.conftest import REPO, clean_env, main_cmd
from utils.chain.fees import FeePolicy
from utils.chain.rpc import Rpc, hex_int
from utils.chain.tx_engine import TxEngine, TxRequest
from utils.chain.wallets import WalletPool
from utils.clock import Clock
from utils.devchain.anvil import AnvilChain
from utils.observe.events import Outcome
from utils.observe.stats import StatsHub


@pytest.fixture(scope="module")
def anvil(anvil_installed: Path) -> Iterator[AnvilChain]:
    with AnvilChain.start(block_time=0.5) as chain:
        yield chain
    assert not chain.is_alive()


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def anvil_rpc(anvil: AnvilChain) -> AsyncIterator[Rpc]:
    async with Rpc(anvil.url) as rpc:
        yield rpc


@pytest.mark.asyncio(loop_scope="module")
async def test_engine_outcomes_match_anvils_receipts(anvil: AnvilChain, anvil_rpc: Rpc) -> None:
    assert "anvil" in await anvil_rpc.call("web3_clientVersion")
    fees = await FeePolicy.detect(anvil_rpc)
    hub = StatsHub()
    pool = WalletPool.derive(anvil.funder_key, 9, {"user": 4})
    funder = pool.funder
    async with TxEngine(anvil_rpc, hub, Clock(), fees, anvil.chain_id, tx_timeout=20) as eng:
        funded = await asyncio.gather(*(eng.submit(TxRequest("setup", "top_up", funder,
                                                             w.address, 10**18))
                                        for w in pool.role("user")))
        assert all(e.outcome is Outcome.SUCCESS for e in funded)
        users = pool.role("user")
        events = await asyncio.gather(*(
            eng.submit(TxRequest("payment_app", "payment", users[i % 4], funder.address, 1 + i))
            for i in range(200)))
        assert eng.follower.block_receipts is True  # anvil serves eth_getBlockReceipts
    assert [e.outcome for e in events] == [Outcome.SUCCESS] * 200
    for user in users:  # each sender's nonces 0..49, pipelined in order
        assert sorted(e.nonce for e in events if e.sender == user.address) == list(range(50))
        count = await anvil_rpc.call("eth_getTransactionCount", user.address, "latest")
        assert hex_int(count) == 50
    for event in events[::20]:
        receipt = await anvil_rpc.call("eth_getTransactionReceipt", event.tx_hash)
        assert hex_int(receipt["blockNumber"]) == event.block_number
        assert hex_int(receipt["gasUsed"]) == event.gas_used == 21_000


def test_a_run_on_anvil(anvil_installed: Path, tmp_path: Path) -> None:
    args = ["--chain", "anvil", "--duration", "3", "--seed", "5", "--port", "0",
            "--out", str(tmp_path), "--rate", "payment=20", "--rate", "iot=0",
            "--rate", "registration=0", "--drain-timeout", "10"]
    done = subprocess.run(main_cmd(*args), capture_output=True, text=True, timeout=120,
                          env=clean_env(), cwd=REPO, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    run_dir = tmp_path / "latest"
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["chain"]["client"].startswith("anvil/")
    assert summary["chain"]["embedded"] is False
    with open(run_dir / "tx_metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    payments = [r for r in rows if r["module"] == "payment_app"]
    assert len(payments) >= 50
    assert all(r["status"] == "success" for r in payments), {r["status"] for r in payments}
