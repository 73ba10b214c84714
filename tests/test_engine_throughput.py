"""The engine throughput bench and the RPC cancellation it found, against the real dev chain."""

from __future__ import annotations

import argparse
import asyncio

import pytest
from eth_account import Account

from bench.engine_throughput import HeadWatch, run_side
from utils.chain.rpc import Rpc, hex_int
from utils.chain.tx_engine import TxEngine, TxRequest
from utils.chain.wallets import Wallet, WalletPool
from utils.devchain import DevChain
from utils.observe.events import Outcome

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_cancelled_calls_leave_every_connection_usable(devchain: DevChain) -> None:
    """web3's provider leaked a process-wide lock when a request was cancelled while
    waiting for it (web3.py #3867): every later request of every provider hung."""
    async with Rpc(devchain.url) as rpc, Rpc(devchain.url) as other:
        for ticks in range(1, 6):  # cancel at different points of the request
            calls = [asyncio.create_task(rpc.call("eth_blockNumber")) for _ in range(100)]
            for _ in range(ticks):
                await asyncio.sleep(0)
            for call in calls:
                call.cancel()
            await asyncio.gather(*calls, return_exceptions=True)
        head = hex_int(await asyncio.wait_for(rpc.call("eth_blockNumber"), 5))
        assert head >= 0
        batch = await asyncio.wait_for(
            other.batch([("eth_chainId", []), ("eth_blockNumber", [])]), 5
        )
        assert [hex_int(v) for v in batch] == [devchain.chain_id, head]


async def test_window_counts_the_senders_transactions_only(
    devchain: DevChain, rpc: Rpc, engine: TxEngine
) -> None:
    users = WalletPool.derive(devchain.funder_key, 77, {"user": 2}).role("user")
    funder = Wallet("funder", 0, Account.from_key(devchain.funder_key))
    top = [TxRequest("setup", "top_up", funder, u.address, 10**18) for u in users]
    assert all(e.outcome is Outcome.SUCCESS
               for e in await asyncio.gather(*map(engine.submit, top)))
    first = hex_int(await rpc.call("eth_blockNumber"))
    mixed = [TxRequest("bench", "payment", users[i % 2], funder.address, 1 + i) for i in range(6)]
    mixed += [TxRequest("other", "payment", funder, users[0].address, 5) for _ in range(3)]
    events = await asyncio.gather(*map(engine.submit, mixed))
    assert all(e.outcome is Outcome.SUCCESS for e in events)
    last = max(e.block_number or 0 for e in events)
    senders = {u.address.lower() for u in users}
    window = await HeadWatch(rpc).count(first, last, senders, 2.0, 0.5)
    assert (window.first, window.last, window.included) == (first, last, 6)
    assert window.rate == 3.0
    block = await rpc.call("eth_getBlockByNumber", hex(last), False)
    assert window.last_hash == block["hash"]


@pytest.mark.parametrize("side", ["engine", "bare"])
async def test_each_side_fills_blocks_and_stops(devchain: DevChain, side: str) -> None:
    """A short over-capacity run per side: included txs counted from blocks, and the
    engine's backlog is cancelled without hanging (the bench used to hang there)."""
    args = argparse.Namespace(seconds=1.0, senders=2, offered=400.0, inflight=4, rounds=1)
    result = await asyncio.wait_for(run_side(side, devchain, args), 30)
    window = result.window
    assert result.side == side
    assert window.last > window.first and window.seconds >= 0.9  # at least what was asked
    assert window.included > 0
    assert window.rate == window.included / window.seconds
    if side == "engine":
        assert "success" in result.client
