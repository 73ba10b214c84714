"""Reorgs on a real anvil (``anvil_reorg``, 1 s blocks) during a real engine load: every
recorded outcome ends as the chain shows it, every transaction of the run's wallets on chain
is recorded, the removed transactions are sent again and re-included in new blocks (anvil
does not put them back in its pool), no wallet is left behind a nonce gap (no timeout), and
the reorgs are counted with their depths (aggregate and /metrics).

The helpers here (a run's outcomes with its corrections applied, and the check against the
node) serve tests/test_receipt_lag.py as well.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field

import pytest
from prometheus_client import CollectorRegistry

from utils.chain.fees import FeePolicy
from utils.chain.rpc import Rpc, hex_int
from utils.chain.tx_engine import TxEngine, TxRequest
from utils.chain.wallets import Wallet, WalletPool
from utils.clock import Clock
from utils.devchain.anvil import AnvilChain
from utils.observe.aggregate import RunAggregate
from utils.observe.events import Event, ReorgEvent, TxCorrectionEvent, TxEvent
from utils.observe.metrics import PrometheusSink
from utils.observe.stats import StatsHub

pytestmark = pytest.mark.asyncio(loop_scope="module")
RECIPIENT = "0x" + "5a" * 20




@dataclass
class Books:
    """What a run recorded: each hash's outcome as its corrections leave it."""

    events: list[Event] = field(default_factory=list)
    now: dict[str, tuple[str, int | None, int]] = field(default_factory=dict)  # outcome, block, gas

    def tally(self) -> Counter[str]:
        self.now = {}
        for e in self.events:
            if isinstance(e, TxEvent) and e.tx_hash:
                assert e.tx_hash not in self.now, f"{e.tx_hash} recorded twice"
                self.now[e.tx_hash] = (e.outcome.value, e.block_number, e.gas_used)
            elif isinstance(e, TxCorrectionEvent):
                assert self.now[e.tx_hash][0] == e.old_outcome, e
                self.now[e.tx_hash] = (e.new_outcome, e.new_block, e.new_gas_used)
        return Counter(outcome for outcome, _, _ in self.now.values())


async def check_against_chain(rpc: Rpc, books: Books, senders: set[str], first: int) -> None:
    """Every recorded hash: success/reverted has that receipt (status, block, gas); any other
    outcome has none. Every transaction of ``senders`` in blocks ``first``.. is recorded."""
    hashes = list(books.now)
    for at in range(0, len(hashes), 500):
        part = hashes[at:at + 500]
        receipts = await rpc.batch([("eth_getTransactionReceipt", [h]) for h in part])
        for tx_hash, receipt in zip(part, receipts, strict=True):
            outcome, block, gas = books.now[tx_hash]
            if outcome in ("success", "reverted"):
                assert receipt is not None, (tx_hash, outcome, block)
                assert hex_int(receipt["status"]) == (outcome == "success")
                assert (hex_int(receipt["blockNumber"]), hex_int(receipt["gasUsed"])) == (
                    block, gas), tx_hash
            else:
                assert receipt is None, (tx_hash, outcome, receipt["blockNumber"])
    head = hex_int(await rpc.call("eth_blockNumber"))
    blocks = await rpc.batch([("eth_getBlockByNumber", [hex(n), True])
                              for n in range(first, head + 1)])
    on_chain = [(tx["hash"], hex_int(b["number"])) for b in blocks for tx in b["transactions"]
                if tx["from"].lower() in senders]
    assert on_chain
    for tx_hash, number in on_chain:
        assert books.now.get(tx_hash)[:2] == ("success", number), tx_hash  # type: ignore[index]


async def offer_load(engine: TxEngine, users: list[Wallet], rate: float,
                     seconds: float) -> list[asyncio.Future[TxEvent]]:
    """``rate`` transfers a second for ``seconds``, round robin over ``users``."""
    futures = []
    for i in range(int(rate * seconds)):
        req = TxRequest("payment_app", "payment", users[i % len(users)], RECIPIENT, 1 + i)
        futures.append(engine.start(req, on_sent=lambda: None))
        await asyncio.sleep(1 / rate)
    return futures


async def funded_users(engine: TxEngine, funder_key: bytes, seed: int, n: int) -> list[Wallet]:
    pool = WalletPool.derive(funder_key, seed, {"user": n})
    events = await asyncio.gather(*(engine.submit(TxRequest(
        "setup", "top_up", pool.funder, w.address, 10**19)) for w in pool.role("user")))
    assert {e.outcome.value for e in events} == {"success"}
    return pool.role("user")


async def reorg_later(rpc: Rpc, after: float, depth: int) -> None:
    await asyncio.sleep(after)
    await rpc.call("anvil_reorg", depth, [])


async def test_reorgs_during_load_are_repaired_and_counted(
    anvil: AnvilChain, anvil_rpc: Rpc
) -> None:
    fees = await FeePolicy.detect(anvil_rpc)
    hub, books, registry = StatsHub(), Books(), CollectorRegistry()
    aggregate = RunAggregate({"payment_app": 80.0})
    prom = PrometheusSink(registry, run_id="r", chain_id=anvil.chain_id, version="t",
                          targets={"payment_app": 80.0})
    hub.listen(aggregate)
    hub.add_sink(prom)
    async with TxEngine(anvil_rpc, hub, Clock(), fees, anvil.chain_id, tx_timeout=30) as eng:
        users = await funded_users(eng, anvil.funder_key, 31, 8)
        first = hex_int(await anvil_rpc.call("eth_blockNumber")) + 1
        hub.tap(books.events.append)
        reorgs = [asyncio.ensure_future(reorg_later(anvil_rpc, at, depth))
                  for at, depth in ((3.2, 3), (6.7, 2), (10.2, 5))]
        futures = await offer_load(eng, users, 80, 14)
        await asyncio.gather(*reorgs)
        await asyncio.gather(*futures)
        assert await eng.drain(60) == 0
        follower = eng.follower
        assert [r.depth for r in follower.reorgs] == [3, 2, 5]
        assert follower.corrections > 0  # outcomes in the replaced blocks were corrected
    hub.flush()
    outcomes = books.tally()
    assert set(outcomes) <= {"success", "reorged", "dropped", "rejected"}, outcomes
    moved = [e for e in books.events if isinstance(e, TxCorrectionEvent)
             and (e.old_outcome, e.new_outcome) == ("success", "success")]
    assert moved and all(e.new_block != e.old_block for e in moved)  # sent again, re-included
    assert outcomes["success"] > outcomes["dropped"] + outcomes["reorged"] + outcomes["rejected"]
    await check_against_chain(anvil_rpc, books, {u.address.lower() for u in users}, first)
    # the books of every sink agree with the chain
    wl = aggregate.workloads["payment_app"]
    assert {o.value: n for o, n in wl.outcomes.items() if n} == dict(outcomes)
    assert sorted(aggregate.reorgs.values()) == [2, 3, 5]
    assert registry.get_sample_value("kcstress_reorgs_total") == 3
    assert registry.get_sample_value("kcstress_reorg_blocks_total") == 10
    assert registry.get_sample_value("kcstress_reorg_max_depth_blocks") == 5
    for outcome in ("success", "dropped"):
        labels = {"workload": "payment_app", "outcome": outcome}
        now = registry.get_sample_value("kcstress_transactions_total", labels) - (
            registry.get_sample_value("kcstress_transactions_superseded_total", labels) or 0)
        assert now == outcomes[outcome]
    assert any(isinstance(e, ReorgEvent) and e.fork_block >= first for e in books.events)


async def test_a_commit_in_a_replaced_block_counts_pending_again() -> None:
    """The lcore outbox reports a record committed in a block a reorg replaced as status
    'reorged': the aggregate's (and /metrics') record counts move it back to pending."""
    from utils.observe.events import CommitStatusEvent

    hub, aggregate, registry = StatsHub(), RunAggregate({}), CollectorRegistry()
    hub.listen(aggregate)
    hub.add_sink(PrometheusSink(registry, run_id="r", chain_id=1, version="t", targets={}))
    for status in ("pending", "submitted", "committed", "reorged", "submitted", "committed"):
        hub.emit(CommitStatusEvent(0.0, 7, status))
        hub.flush()
        counts = {s: n for s, n in aggregate.commits.counts.items() if n}
        gauge = {s: registry.get_sample_value("kcstress_iot_records", {"status": s})
                 for s in counts}
        assert counts == {"reorged": {"pending": 1}}.get(status, {status: 1}) == gauge
    assert aggregate.commits.reorged == 1 and aggregate.commits.retries == 0


async def test_reorgs_that_removed_transactions_for_good_are_a_condition_of_the_verdict() -> None:
    from utils.observe.verdict import Reason, Verdict, reorg_condition

    assert reorg_condition([], 0) is None and reorg_condition([2, 3], 0) is None  # repaired
    condition = reorg_condition([2, 3], 4)
    assert condition is not None and condition.reason is Reason.REORGED
    assert condition.line() == ("chain reorganised (2 reorg(s), depth 2, 3: 4 transaction(s) "
                                "removed and not included again)")
    verdict = Verdict((), (condition,))
    assert (verdict.code, verdict.headline()) == (1, f"targets NOT met: {condition.line()}")
