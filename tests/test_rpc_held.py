"""Seconds held back by the provider are the wall-clock union of every client's windows
(utils/observe/rpc_totals.py): workers each have their own client and their own Retry-After
window, and the windows of clients throttled together overlap. Real clients against a real
HTTP server on 127.0.0.1 answering 429 + Retry-After; their tallies go through the worker
pipe's wire form as a worker's do."""

from __future__ import annotations

import asyncio

import pytest

from tests.test_rpc_faults import FaultyNode, http
from utils.chain.rpc import Rpc
from utils.observe.rpc_totals import HoldUnion, RpcTotals
from utils.observe.stats import StatsHub
from utils.observe.tally import Tally

CLIENTS = 3


class Tallies:
    def __init__(self) -> None:
        self.seen: list[Tally] = []

    def on_tally(self, tally: Tally) -> None:
        self.seen.append(Tally.from_wire(tally.to_wire()))  # as a worker's reach the parent


@pytest.mark.asyncio
async def test_overlapping_windows_of_several_clients_count_once() -> None:
    node = FaultyNode()
    await node.start()
    hub, tallies = StatsHub(), Tallies()
    hub.listen(tallies)
    try:
        node.faults[:] = [http(429, "", {"Retry-After": "1"})] * CLIENTS
        async with Rpc(node.url, hub) as a, Rpc(node.url, hub) as b, Rpc(node.url, hub) as c:
            answers = await asyncio.gather(*(r.call("eth_blockNumber") for r in (a, b, c)))
        hub.flush()
    finally:
        await node.stop()
    assert answers == ["0x10"] * CLIENTS
    totals = RpcTotals()
    for tally in tallies.seen:
        totals.add(tally)
    summary = totals.summary(10.0)
    assert summary["throttled"] == CLIENTS
    assert summary["held_seconds_by_clients"] == pytest.approx(CLIENTS * 1.0, abs=0.01)
    # the three one-second windows began together: their union is one second and a bit
    assert 1.0 <= summary["held_seconds"] < 2.0, summary
    assert summary["held_seconds_is"] == "wall-clock union of every client's hold windows"


def test_the_union_of_windows() -> None:
    union = HoldUnion()
    for start, end in [(10, 12), (11, 13), (20, 21), (5, 6), (12.5, 20.5), (30, 30)]:
        union.add(start, end)
    assert (union.starts, union.ends) == ([5, 10], [6, 21])
    assert union.seconds == 12
    union.add(10_000, 10_001)  # windows long before the latest one are summed and let go
    assert (union.starts, union.closed, union.seconds) == ([10_000], 12, 13)
