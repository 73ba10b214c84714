"""A provider that lags, garbles and loses answers, between the engine and a real anvil
(1 s blocks): a small aiohttp proxy of this test's own. Receipts served only some blocks after
their block, block reads answered with bodies the follower cannot parse, sends answered
-32603 (after the node took them, or without passing them on): every recorded outcome is the
chain's, every transaction of the run's wallets on chain is recorded.
"""

from __future__ import annotations

import asyncio
import csv
import io
import itertools
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from tests.test_reorgs import Books, check_against_chain, funded_users, offer_load
from utils.chain.fees import FeePolicy
from utils.chain.rpc import Rpc, hex_int
from utils.chain.signer import keccak256
from utils.chain.tx_engine import TxEngine
from utils.clock import Clock
from utils.devchain.anvil import AnvilChain
from utils.observe.aggregate import RunAggregate
from utils.observe.csv_sinks import TxCsvSink
from utils.observe.events import Outcome, TxEvent
from utils.observe.stats import StatsHub

pytestmark = pytest.mark.asyncio(loop_scope="module")
HIDDEN_UNTIL_PAST = {"eth_getBlockReceipts", "trace_block"}  # param: a block number


class FaultyProvider:
    """``async with FaultyProvider(url, ...) as proxy``: ``proxy.url`` forwards to ``url``.

    ``lag``: receipts (by hash, by block, traces) answer null until the head is ``lag`` blocks
    past their block. ``garble``: every ``garble``-th request reading blocks gets an HTML page
    or a block whose number is not hex. ``fail_sends(tx_hash)``, asked while ``armed``:
    "forward" (passed on, answer replaced by -32603) or "drop" (-32603, not passed on) or
    None; a transaction it chose gets that fault on every send of it, armed or not."""

    def __init__(self, upstream: str, *, lag: int = 0, garble: int = 0,
                 fail_sends: Any = None) -> None:
        self.upstream, self.lag, self.garble, self.fail_sends = upstream, lag, garble, fail_sends
        self.armed = False
        self.url = ""
        self.hidden = self.garbled = self.block_reads = 0
        self.failed: dict[str, str] = {}  # tx hash -> how its sends failed

    async def __aenter__(self) -> FaultyProvider:
        self._session = aiohttp.ClientSession()
        app = web.Application()
        app.router.add_post("/", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._runner.cleanup()
        await self._session.close()

    async def _post(self, body: Any) -> Any:
        async with self._session.post(self.upstream, json=body) as response:
            return await response.json()

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        calls = body if isinstance(body, list) else [body]
        if self.garble and any(c["method"] == "eth_getBlockByNumber" for c in calls):
            self.block_reads += 1
            if self.block_reads % self.garble == 0:
                self.garbled += 1
                if self.garbled % 2:
                    return web.Response(text="<html>502 Bad Gateway</html>",
                                        content_type="text/html")
                return web.json_response([{"jsonrpc": "2.0", "id": c["id"],
                                           "result": {"number": "0xzz"}} for c in calls])
        faults = {c["id"]: self._send_fault(c) for c in calls}
        forward = [c for c in calls if faults[c["id"]] != "drop"]
        replies = {r["id"]: r for r in (await self._post(forward) if forward else [])}
        head = hex_int((await self._post({"jsonrpc": "2.0", "id": 0,
                                          "method": "eth_blockNumber"}))["result"])
        out = []
        for c in calls:
            if faults[c["id"]]:
                out.append({"jsonrpc": "2.0", "id": c["id"],
                            "error": {"code": -32603, "message": "internal error"}})
            else:
                out.append(self._lagged(c, replies[c["id"]], head))
        return web.json_response(out if isinstance(body, list) else out[0])

    def _send_fault(self, call: dict[str, Any]) -> str | None:
        if call["method"] != "eth_sendRawTransaction" or self.fail_sends is None:
            return None
        tx_hash = "0x" + keccak256(bytes.fromhex(call["params"][0][2:])).hex()
        fault: str | None = self.failed.get(tx_hash)
        if fault is None and self.armed:
            fault = self.fail_sends(tx_hash)
            if fault:
                self.failed[tx_hash] = fault
        return fault

    def _lagged(self, call: dict[str, Any], reply: dict[str, Any], head: int) -> dict[str, Any]:
        result, method = reply.get("result"), call["method"]
        if not self.lag or result is None:
            return reply
        if method == "eth_getTransactionReceipt":
            block = hex_int(result["blockNumber"])
        elif method in HIDDEN_UNTIL_PAST:
            block = hex_int(call["params"][0])
        else:
            return reply
        if block > head - self.lag:
            self.hidden += 1
            return {**reply, "result": None}
        return reply




async def run_through(proxy: FaultyProvider, anvil: AnvilChain, anvil_rpc: Rpc, seed: int,
                      rate: float = 40, seconds: float = 8,
                      faulty_for: float = 60.0) -> tuple[Books, TxEngine]:
    """A load through ``proxy`` (its send faults for the load's first ``faulty_for`` s); the
    books, checked against the node (directly)."""
    books, hub = Books(), StatsHub()
    async with Rpc(proxy.url, hub) as rpc:
        fees = await FeePolicy.detect(rpc)
        async with TxEngine(rpc, hub, Clock(), fees, anvil.chain_id, tx_timeout=40) as eng:
            users = await funded_users(eng, anvil.funder_key, seed, 6)
            proxy.armed = True  # the set-up went through
            asyncio.get_running_loop().call_later(faulty_for, setattr, proxy, "armed", False)
            first = hex_int(await anvil_rpc.call("eth_blockNumber")) + 1
            hub.tap(books.events.append)
            await asyncio.gather(*await offer_load(eng, users, rate, seconds))
            assert await eng.drain(60) == 0
    books.tally()
    await check_against_chain(anvil_rpc, books, {u.address.lower() for u in users}, first)
    return books, eng


async def test_lagging_receipts_give_no_wrong_outcome(anvil: AnvilChain, anvil_rpc: Rpc) -> None:
    """Receipts served 4 blocks (4 s) after their block: no drop, no timeout, all success."""
    async with FaultyProvider(anvil.url, lag=4) as proxy:
        books, eng = await run_through(proxy, anvil, anvil_rpc, 41)
    assert proxy.hidden > 0  # the lag was real: receipts were asked and hidden
    assert books.tally() == {"success": len(books.now)} and len(books.now) == 320
    assert eng.follower.corrections == 0  # nothing decided too early


async def test_the_follower_survives_replies_it_cannot_parse(
    anvil: AnvilChain, anvil_rpc: Rpc
) -> None:
    async with FaultyProvider(anvil.url, garble=3) as proxy:
        books, eng = await run_through(proxy, anvil, anvil_rpc, 42)
    assert proxy.garbled >= 4 and eng.follower.errors >= proxy.garbled
    assert books.tally() == {"success": 320}


async def test_sends_answered_internal_error(anvil: AnvilChain, anvil_rpc: Rpc) -> None:
    """Every send of some transactions (chosen in the load's first 3 s) answered -32603,
    through the transport's retries and the engine's: taken by the node (followed to its
    receipt, never 'rejected'), or
    never passed on (rejected, its nonce handed back: the sender's later transactions land
    once the next transaction fills the gap: the load goes on after the ~25 s the transport
    and the engine take to give up on a send)."""
    picks = itertools.count()

    def fail(tx_hash: str) -> str | None:  # every 8th new transaction, in turns
        n = next(picks)
        return None if n % 8 else ("forward", "drop")[n // 8 % 2]

    async with FaultyProvider(anvil.url, fail_sends=fail) as proxy:
        books, _ = await run_through(proxy, anvil, anvil_rpc, 43, rate=10, seconds=32,
                                     faulty_for=3)
    taken = {h for h, how in proxy.failed.items() if how == "forward"}
    lost = {h for h, how in proxy.failed.items() if how == "drop"}
    assert taken and lost
    assert all(books.now[h][0] == "success" for h in taken)
    rejected = [e for e in books.events if getattr(e, "outcome", None) == "rejected"]
    assert len(rejected) == len(lost), [e for e in books.events if isinstance(e, TxEvent)
                                        and e.outcome is not Outcome.SUCCESS]
    assert books.tally() == {"success": 320 - len(lost)}


async def test_a_late_receipt_corrects_a_timeout(anvil: AnvilChain, anvil_rpc: Rpc,
                                                 tmp_path: Path) -> None:
    """Deadlines shorter than a block: transactions end as timeouts (once the follower has
    read the blocks up to their deadline), then their block comes; each is corrected to its
    receipt, in the aggregate and in tx_corrections.csv."""
    books, hub = Books(), StatsHub()
    aggregate = RunAggregate({})
    csv_sink = TxCsvSink(tmp_path)
    hub.listen(aggregate)
    hub.add_sink(csv_sink)
    fees = await FeePolicy.detect(anvil_rpc)
    async with TxEngine(anvil_rpc, hub, Clock(), fees, anvil.chain_id, tx_timeout=30) as eng:
        users = await funded_users(eng, anvil.funder_key, 44, 2)
    async with TxEngine(anvil_rpc, hub, Clock(), fees, anvil.chain_id, tx_timeout=0.2) as eng:
        hub.tap(books.events.append)
        first = hex_int(await anvil_rpc.call("eth_blockNumber")) + 1
        events = await asyncio.gather(*await offer_load(eng, users, 20, 2))
        timeouts = sorted(e.tx_hash for e in events if e.outcome is Outcome.TIMEOUT)
        assert await eng.drain(30) == 0
        for _ in range(100):  # the blocks after the last timeout
            if eng.follower.corrections == len(timeouts):
                break
            await asyncio.sleep(0.1)
    hub.close()
    assert len(timeouts) > 20  # most first said timeout (within 0.2 s: no block yet)
    assert books.tally() == {"success": 40}  # then each was corrected
    await check_against_chain(anvil_rpc, books, {u.address.lower() for u in users}, first)
    assert aggregate.workloads["payment_app"].outcomes == {Outcome.SUCCESS: 40,
                                                           Outcome.TIMEOUT: 0}
    rows = list(csv.DictReader(io.StringIO((tmp_path / "tx_corrections.csv").read_text())))
    assert {(r["old_status"], r["new_status"], r["reason"]) for r in rows} == {
        ("timeout", "success", "late receipt")}
    assert sorted(r["tx_hash"] for r in rows) == timeouts
