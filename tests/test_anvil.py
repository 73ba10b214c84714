"""anvil (from npm, via scripts/install_anvil.sh) as a chain: the engine and a whole run on it."""

from __future__ import annotations

import asyncio
import csv
import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO, clean_env, main_cmd
from utils.chain.fees import FeePolicy
from utils.chain.rpc import Rpc, hex_int
from utils.chain.tx_engine import TxEngine, TxRequest
from utils.chain.wallets import WalletPool
from utils.clock import Clock
from utils.devchain.anvil import DEFAULT_BINARY, AnvilChain
from utils.observe.events import Outcome, TxEvent
from utils.observe.stats import StatsHub

#: anvil's block time for this module (tests/conftest.py: the anvil fixture)
ANVIL_BLOCK_TIME = 0.5


#: a contract: its constructor sets slot 0 to 1; called with calldata it clears slot 0 (a
#: refund), called without it reverts
RUNTIME = bytes.fromhex("3615600b576000600055005b600080fd")
INIT = bytes.fromhex("60016000556010601160003960106000f3") + RUNTIME


async def assert_matches_receipts(rpc: Rpc, events: list[TxEvent]) -> None:
    """Every event's outcome, block, gas and price are its receipt's."""
    for event in events:
        receipt = await rpc.call("eth_getTransactionReceipt", event.tx_hash)
        ok = hex_int(receipt["status"]) == 1
        assert event.outcome is (Outcome.SUCCESS if ok else Outcome.REVERTED), event
        assert hex_int(receipt["blockNumber"]) == event.block_number
        assert hex_int(receipt["gasUsed"]) == event.gas_used
        assert hex_int(receipt["effectiveGasPrice"]) == event.effective_gas_price > 0


@pytest.mark.asyncio(loop_scope="module")
async def test_engine_outcomes_match_anvils_receipts(anvil: AnvilChain, anvil_rpc: Rpc) -> None:
    """On anvil, plain transfers end from the block's traces: every outcome equals the
    receipt's (status, block, gas, price); nonces stay in order."""
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
        assert eng.follower.outcomes.traces is True
        assert eng.follower.outcomes.trace_outcomes == 204  # every transfer from the traces
        assert eng.follower.block_receipts is None  # no receipt asked
    assert [e.outcome for e in events] == [Outcome.SUCCESS] * 200
    for user in users:  # each sender's nonces 0..49, pipelined in order
        assert sorted(e.nonce for e in events if e.sender == user.address) == list(range(50))
        count = await anvil_rpc.call("eth_getTransactionCount", user.address, "latest")
        assert hex_int(count) == 50
    await assert_matches_receipts(anvil_rpc, funded + events)
    assert {e.gas_used for e in events} == {21_000}


@pytest.mark.asyncio(loop_scope="module")
async def test_what_traces_do_not_prove_comes_from_receipts(
    anvil: AnvilChain, anvil_rpc: Rpc
) -> None:
    """A creation, a call with a refund, a revert and a transfer with calldata (EIP-7623's
    floor) in one block with plain transfers: each outcome is its receipt's."""
    fees = await FeePolicy.detect(anvil_rpc)
    pool = WalletPool.derive(anvil.funder_key, 10, {"user": 2})
    funder, (a, b) = pool.funder, pool.role("user")
    async with TxEngine(anvil_rpc, StatsHub(), Clock(), fees, anvil.chain_id,
                        tx_timeout=20) as eng:
        await asyncio.gather(*(eng.submit(TxRequest("setup", "top_up", funder, w.address,
                                                    10**18)) for w in (a, b)))
        created = await eng.submit(TxRequest("t", "create", a, "", data=INIT, gas=200_000))
        receipt = await anvil_rpc.call("eth_getTransactionReceipt", created.tx_hash)
        target = receipt["contractAddress"]
        events = await asyncio.gather(
            eng.submit(TxRequest("t", "refund", a, target, data=b"\x01", gas=100_000)),
            eng.submit(TxRequest("t", "revert", a, target, gas=100_000)),
            eng.submit(TxRequest("t", "floor", a, b.address, 5, data=b"\x00\x01" * 30,
                                 gas=30_000)),
            *(eng.submit(TxRequest("t", "pay", b, a.address, 1)) for _ in range(5)))
    assert [e.outcome for e in events[:3]] == [Outcome.SUCCESS, Outcome.REVERTED,
                                               Outcome.SUCCESS]
    await assert_matches_receipts(anvil_rpc, [created, *events])
    assert events[0].gas_used == 21_240  # 21,016 intrinsic + 5,024 execution - 4,800 refund
    assert events[2].gas_used == 22_500  # 21,000 + 10 x 150 tokens: the floor


@pytest.mark.asyncio(loop_scope="module")
async def test_block_receipts_path_on_anvil(anvil: AnvilChain, anvil_rpc: Rpc) -> None:
    """``receipts="block"`` keeps anvil on eth_getBlockReceipts, with the same outcomes."""
    fees = await FeePolicy.detect(anvil_rpc)
    pool = WalletPool.derive(anvil.funder_key, 11, {"user": 1})
    funder, (a,) = pool.funder, pool.role("user")
    async with TxEngine(anvil_rpc, StatsHub(), Clock(), fees, anvil.chain_id, tx_timeout=20,
                        receipts="block") as eng:
        events = await asyncio.gather(*(eng.submit(TxRequest("t", "pay", funder, a.address,
                                                             1 + i)) for i in range(20)))
        assert eng.follower.outcomes.traces is False
        assert eng.follower.block_receipts is True
    await assert_matches_receipts(anvil_rpc, events)


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


def test_install_script_finds_the_installed_anvil(anvil_installed: Path) -> None:
    """Run again after `make tools`, scripts/install_anvil.sh installs nothing and prints the
    binary the tests use (so `make tools` is cheap on every `make test`)."""
    if anvil_installed != DEFAULT_BINARY:
        pytest.skip("KCSTRESS_ANVIL names another anvil")
    again = subprocess.run(["bash", str(REPO / "scripts" / "install_anvil.sh")],
                           capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert "installing" not in again.stderr
    assert Path(again.stdout.strip().splitlines()[-1]) == anvil_installed
