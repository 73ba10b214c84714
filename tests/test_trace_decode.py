"""Outcomes from traces when the node's ``trace_block`` reply is not the shape the typed
decoder reads: the reader says so once and takes receipts from then on (real HTTP on
127.0.0.1, a node that answers these two methods)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web

from utils.chain.block_outcomes import OutcomeReader
from utils.chain.pending import Pending
from utils.chain.rpc import Rpc
from utils.chain.trace_outcomes import decode_trace_block, plain_gas_used, root_traces
from utils.errors import RpcReplyError
from utils.observe.events import Outcome

TX = "0x" + "ab" * 32
GOOD_TRACE = {
    "action": {"from": "0x" + "11" * 20, "callType": "call", "gas": "0x0", "input": "0x",
               "to": "0x" + "22" * 20, "value": "0x1"},
    "blockHash": "0x" + "33" * 32, "blockNumber": 7, "result": {"gasUsed": "0x0", "output": "0x"},
    "subtraces": 0, "traceAddress": [], "transactionHash": TX, "transactionPosition": 0,
    "type": "call",
}
RECEIPT = {"transactionHash": TX, "blockNumber": "0x7", "gasUsed": "0x5208", "status": "0x1",
           "effectiveGasPrice": "0x3b9aca00"}


class Node:
    """Answers ``trace_block`` with ``traces`` and receipts by hash."""

    def __init__(self) -> None:
        self.traces: Any = [GOOD_TRACE]
        self.asked: list[str] = []

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        calls = body if isinstance(body, list) else [body]
        replies = []
        for call in calls:
            self.asked.append(call["method"])
            result = self.traces if call["method"] == "trace_block" else RECEIPT
            replies.append({"jsonrpc": "2.0", "id": call["id"], "result": result})
        return web.Response(text=json.dumps(replies if isinstance(body, list) else replies[0]),
                            content_type="application/json")


@pytest_asyncio.fixture(loop_scope="module")
async def node() -> AsyncIterator[tuple[Node, str]]:
    fake = Node()
    app = web.Application()
    app.router.add_post("/", fake.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield fake, f"http://127.0.0.1:{port}/"
    finally:
        await runner.cleanup()


def pending() -> Pending:
    return Pending(workload="payment_app", module="payment_app", operation="payment",
                   tx_hash=TX, sender="0x" + "11" * 20, nonce=0, intended_at=0.0, sent_at=0.0,
                   future=asyncio.get_running_loop().create_future(), gas_limit=21_000,
                   plain=True, max_fee=2 * 10**9, priority_fee=10**9)


def test_the_typed_decoder_reads_what_the_outcome_needs() -> None:
    reply = decode_trace_block(json.dumps({"jsonrpc": "2.0", "id": 1,
                                           "result": [GOOD_TRACE]}).encode())
    assert reply.error is None and reply.result is not None
    roots = root_traces(reply.result)
    assert list(roots) == [TX]

    class Plain:
        plain, gas_limit, max_fee, priority_fee = True, 21_000, 0, 0

    assert plain_gas_used(Plain(), roots[TX]) == 21_000
    failed = decode_trace_block(json.dumps({"result": [{**GOOD_TRACE, "error": "Reverted"}]})
                                .encode())
    assert failed.result is not None and plain_gas_used(Plain(), failed.result[0]) is None


@pytest.mark.asyncio(loop_scope="module")
async def test_a_reply_of_another_shape_sends_the_reader_to_receipts(
    node: tuple[Node, str]
) -> None:
    fake, url = node
    finished: list[tuple[Outcome, int]] = []
    async with Rpc(url) as rpc:
        with pytest.raises(RpcReplyError):
            fake.traces = [{"traceAddress": "not a list", "transactionHash": TX}]
            await rpc.call("trace_block", "0x7", decoder=decode_trace_block)
        p = pending()
        reader = OutcomeReader(rpc, {TX: p}, lambda p, outcome, **kw: finished.append(
            (outcome, kw["gas_used"])), receipts="trace")
        await reader.on_block({"number": "0x7", "transactions": [TX], "gasUsed": "0x5208"},
                              [TX])
    assert reader.traces is False  # receipts from now on
    assert finished == [(Outcome.SUCCESS, 21_000)]  # from the receipt
    assert fake.asked.count("trace_block") == 2 and fake.asked[-1] == "eth_getTransactionReceipt"
