"""The transaction engine against the real embedded chain."""

from __future__ import annotations

import asyncio
import functools

import pytest
from eth_account import Account

from utils.chain.rpc import Rpc, hex_int
from utils.chain.tx_engine import TxEngine, TxRequest
from utils.chain.wallets import Wallet, WalletPool
from utils.devchain import DevChain
from utils.observe.events import Outcome, TxEvent, TxSentEvent
from utils.observe.stats import StatsHub

pytestmark = pytest.mark.asyncio(loop_scope="module")


def fresh_wallets(devchain: DevChain, seed: int, n: int = 2) -> list[Wallet]:
    return WalletPool.derive(devchain.funder_key, seed, {"user": n}).role("user")


async def fund(engine: TxEngine, devchain: DevChain, wallets: list[Wallet]) -> None:
    funder = Wallet("funder", 0, Account.from_key(devchain.funder_key))
    events = await asyncio.gather(*(
        engine.submit(TxRequest("setup", "top_up", funder, w.address, 10**18)) for w in wallets
    ))
    assert all(e.outcome is Outcome.SUCCESS for e in events)


def collect(hub: StatsHub) -> list[object]:
    seen: list[object] = []
    hub.tap(seen.append)
    return seen


async def test_events_match_the_chain(devchain: DevChain, rpc: Rpc, engine: TxEngine,
                                      hub: StatsHub) -> None:
    a, b = fresh_wallets(devchain, 101)
    await fund(engine, devchain, [a])
    seen = collect(hub)
    events = await asyncio.gather(*(
        engine.submit(TxRequest("payment_app", "payment", a, b.address, 1000 + i))
        for i in range(20)
    ))
    assert [e.nonce for e in events] == list(range(20))
    assert sum(isinstance(e, TxSentEvent) for e in seen) == 20
    assert [e for e in seen if isinstance(e, TxEvent)] == events  # emitted once each
    for event in events:
        assert event.outcome is Outcome.SUCCESS
        receipt = await rpc.call("eth_getTransactionReceipt", event.tx_hash)
        assert hex_int(receipt["blockNumber"]) == event.block_number
        assert hex_int(receipt["gasUsed"]) == event.gas_used == 21_000
        assert event.sent_at is not None and event.intended_at <= event.sent_at
        assert event.finished_at >= event.sent_at
    assert hex_int(await rpc.call("eth_getBalance", b.address, "latest")) == sum(
        1000 + i for i in range(20))


async def test_nonce_resync_after_a_send_behind_the_engines_back(
    devchain: DevChain, rpc: Rpc, engine: TxEngine
) -> None:
    a, b = fresh_wallets(devchain, 202)
    await fund(engine, devchain, [a])
    first = await engine.submit(TxRequest("payment_app", "payment", a, b.address, 1))
    assert first.nonce == 0
    # another client uses nonce 1 of the same account
    fees = engine.fees.fields()
    stray = Account.sign_transaction({"chainId": devchain.chain_id, "nonce": 1, "to": b.address,
                                      "value": 7, "gas": 21_000, **fees}, a.account.key)
    await rpc.call("eth_sendRawTransaction", "0x" + stray.raw_transaction.hex())
    resyncs = engine.nonce_resyncs
    second = await engine.submit(TxRequest("payment_app", "payment", a, b.address, 2))
    assert second.outcome is Outcome.SUCCESS
    assert second.nonce == 2
    assert engine.nonce_resyncs == resyncs + 1
    assert hex_int(await rpc.call("eth_getTransactionCount", a.address, "latest")) == 3


async def test_rejected_and_reverted_are_classified(devchain: DevChain, engine: TxEngine) -> None:
    (poor,) = fresh_wallets(devchain, 303, 1)  # never funded
    rejected = await engine.submit(TxRequest("payment_app", "payment", poor, poor.address, 1))
    assert rejected.outcome is Outcome.REJECTED
    assert rejected.sent_at is None and rejected.tx_hash == ""
    assert "fund" in rejected.error.lower() or "balance" in rejected.error.lower()
    (rich,) = fresh_wallets(devchain, 304, 1)
    await fund(engine, devchain, [rich])
    # a call that runs out of gas inside the ecrecover precompile: included, status 0
    reverted = await engine.submit(TxRequest(
        "payment_app", "payment", rich, "0x" + "00" * 19 + "01",  # ecrecover precompile
        value=0, data=b"\x00" * 128, gas=21_000 + 128 * 16 + 10,  # out of gas inside the call
    ))
    assert reverted.outcome is Outcome.REVERTED
    assert reverted.block_number is not None and reverted.gas_used > 0


async def test_timeout_when_the_chain_stalls(devchain: DevChain, rpc: Rpc, hub: StatsHub) -> None:
    from utils.chain.fees import FeePolicy
    from utils.clock import Clock

    fees = await FeePolicy.detect(rpc)
    async with TxEngine(rpc, hub, Clock(), fees, devchain.chain_id, tx_timeout=1.0) as eng:
        a, b = fresh_wallets(devchain, 405, 2)
        await fund(eng, devchain, [a])
        warm = await eng.submit(TxRequest("payment_app", "payment", a, a.address, 1))
        assert warm.outcome is Outcome.SUCCESS  # the engine knows a's nonce now
        devchain.pause()
        try:
            sent = eng.submit(TxRequest("payment_app", "payment", a, a.address, 1))
            unsent = eng.submit(TxRequest("payment_app", "payment", b, a.address, 1))
            events = await asyncio.wait_for(asyncio.gather(sent, unsent), 20)
        finally:
            devchain.resume()
    for event in events:
        assert event.outcome is Outcome.TIMEOUT
        assert event.block_number is None and event.latency < 3
    # the first got as far as a send (its hash is known), the second never had a nonce
    assert events[0].tx_hash and events[0].nonce == 1
    assert events[1].tx_hash == "" and events[1].sent_at is None


async def test_legacy_fees_when_the_chain_has_no_base_fee_policy(
    devchain: DevChain, rpc: Rpc, hub: StatsHub
) -> None:
    from utils.chain.fees import FeePolicy
    from utils.clock import Clock

    fixed = await FeePolicy.detect(rpc, fixed_gas_price=7 * 10**9)  # FIXED_GAS_PRICE_WEI
    assert not fixed.eip1559
    dynamic = await FeePolicy.detect(rpc)
    assert dynamic.eip1559 and dynamic.base_fee > 0
    async with TxEngine(rpc, hub, Clock(), fixed, devchain.chain_id) as eng:
        a, b = fresh_wallets(devchain, 506, 2)
        await fund(eng, devchain, [a])
        event = await eng.submit(TxRequest("payment_app", "payment", a, b.address, 5))
    tx = await rpc.call("eth_getTransactionByHash", event.tx_hash)
    assert event.outcome is Outcome.SUCCESS
    assert hex_int(tx["type"]) == 0 and hex_int(tx["gasPrice"]) == 7 * 10**9


async def test_a_tx_whose_nonce_another_tx_used_ends_dropped(
    devchain: DevChain, rpc: Rpc, engine: TxEngine, hub: StatsHub
) -> None:
    """The node lost our tx (never included) and the sender's nonce moved on: dropped."""
    from utils.chain.block_follower import Pending

    a, b = fresh_wallets(devchain, 607, 2)
    await fund(engine, devchain, [a])
    used = await engine.submit(TxRequest("payment_app", "payment", a, b.address, 1))
    assert used.nonce == 0 and used.outcome is Outcome.SUCCESS
    lost = Pending(workload="payment_app", module="payment_app", operation="payment",
                   tx_hash="0x" + "ab" * 32, sender=a.address, nonce=0,
                   intended_at=engine.clock.now() - 10, sent_at=engine.clock.now() - 10,
                   future=asyncio.get_running_loop().create_future())
    seen = collect(hub)
    engine.follower.track(lost)
    event = await asyncio.wait_for(lost.future, 10)
    assert event.outcome is Outcome.DROPPED and event.block_number is None
    assert "nonce used by another transaction" in event.error
    assert [e for e in seen if isinstance(e, TxEvent)] == [event]


async def test_start_without_a_task_ends_as_submit_does(
    devchain: DevChain, engine: TxEngine, hub: StatsHub
) -> None:
    """``start()`` from plain code (no task per request): the futures get the events, the
    sends leave in nonce order, ``on_sent`` is called once per answered send, and a cancelled
    future stops nothing that was sent (its event is still emitted)."""
    a, b = fresh_wallets(devchain, 708)
    await fund(engine, devchain, [a])
    await engine.submit(TxRequest("payment_app", "payment", a, b.address, 1))  # nonce known
    seen = collect(hub)
    answered: list[int] = []
    futures = [engine.start(TxRequest("payment_app", "payment", a, b.address, 10 + i),
                            functools.partial(answered.append, i)) for i in range(12)]
    futures[5].cancel()
    done = [f for i, f in enumerate(futures) if i != 5]
    events = await asyncio.wait_for(asyncio.gather(*done), 20)
    assert [e.nonce for e in events] == [n for n in range(1, 13) if n != 6]
    assert all(e.outcome is Outcome.SUCCESS for e in events)
    assert sorted(answered) == list(range(12))
    for _ in range(200):  # the cancelled one is followed to its end all the same
        if sum(isinstance(e, TxEvent) for e in seen) == 12:
            break
        await asyncio.sleep(0.05)
    ended = [e for e in seen if isinstance(e, TxEvent)]
    assert sorted(e.nonce or 0 for e in ended) == list(range(1, 13))
    assert all(e.outcome is Outcome.SUCCESS for e in ended)


async def test_an_on_sent_error_reaches_the_caller_and_the_tx_is_still_followed(
    devchain: DevChain, engine: TxEngine, hub: StatsHub
) -> None:
    a, b = fresh_wallets(devchain, 809)
    await fund(engine, devchain, [a])
    seen = collect(hub)

    def broken(tx_hash: str) -> None:
        raise OSError(f"disk full while recording {tx_hash[:10]}")

    with pytest.raises(OSError, match="disk full"):
        await engine.submit(TxRequest("payment_app", "payment", a, b.address, 3,
                                      on_sent=broken))
    for _ in range(200):
        if any(isinstance(e, TxEvent) for e in seen):
            break
        await asyncio.sleep(0.05)
    (event,) = [e for e in seen if isinstance(e, TxEvent)]
    assert event.outcome is Outcome.SUCCESS and event.nonce == 0
