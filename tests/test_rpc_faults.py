"""The transport against a misbehaving node: every fault classified, retried or not, counted.

A small JSON-RPC server on 127.0.0.1 (:class:`FaultyNode`) answers each request with the next
fault of its script (HTTP 429 + Retry-After, -32005, -32603, a reset connection, a delay, each
"not supported" dialect...) and otherwise like a tiny chain whose pool remembers sent raw
transactions. It records when each request arrived, so the Retry-After window is checked by the
order of requests on the server's clock, never by a wall-clock bound. The real nodes' dialects
are checked against anvil, Hardhat 3 and ganache 7 where they are installed.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from prometheus_client import CollectorRegistry

from utils.chain.rpc import RetryPolicy, Rpc, hex_int
from utils.chain.rpc_faults import (
    http_error,
    is_unsupported,
    reply_error,
    reply_kind,
    retry_after_of,
)
from utils.chain.rpc_retry import throttled_reason
from utils.chain.signer import Signer, keccak256
from utils.errors import (
    RpcError,
    RpcThrottledError,
    RpcTransientError,
    RpcUnsupportedError,
)
from utils.observe.events import Event, RpcEvent
from utils.observe.metrics import PrometheusSink
from utils.observe.stats import StatsHub

Answer = web.StreamResponse | None
Fault = Callable[["FaultyNode", web.Request, list[dict[str, Any]]], Awaitable[Answer]]
pytestmark = pytest.mark.asyncio(loop_scope="module")


@dataclass
class Seen:
    arrived: float  # server's time.monotonic()
    methods: list[str]
    params: list[list[Any]]
    answered: float = 0.0


@dataclass
class FaultyNode:
    faults: list[Fault | None] = field(default_factory=list)  # None: answer normally
    seen: list[Seen] = field(default_factory=list)
    pool: set[str] = field(default_factory=set)
    port: int = 0
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = json.loads(await request.read())
        calls = body if isinstance(body, list) else [body]
        seen = Seen(time.monotonic(), [c["method"] for c in calls], [c["params"] for c in calls])
        self.seen.append(seen)
        fault = self.faults.pop(0) if self.faults else None
        answer = await fault(self, request, calls) if fault is not None else None
        if answer is None:
            replies = [self.answer(c) for c in calls]
            answer = web.json_response(replies if isinstance(body, list) else replies[0])
        seen.answered = time.monotonic()
        return answer

    def answer(self, call: dict[str, Any]) -> dict[str, Any]:
        method, params = call["method"], call["params"]
        reply: dict[str, Any] = {"jsonrpc": "2.0", "id": call["id"]}
        if method == "eth_sendRawTransaction":
            tx_hash = "0x" + keccak256(bytes.fromhex(params[0][2:])).hex()
            if tx_hash in self.pool:
                reply["error"] = {"code": -32000, "message": "already known"}
                return reply
            self.pool.add(tx_hash)
            reply["result"] = tx_hash
        elif method == "eth_getTransactionByHash":
            reply["result"] = {"hash": params[0]} if params[0] in self.pool else None
        else:
            reply["result"] = {"eth_chainId": "0x539"}.get(method, "0x10")
        return reply


def error(code: int, message: str, data: Any = None) -> Fault:
    async def fault(node: FaultyNode, request: web.Request, calls: list[dict[str, Any]]) -> Answer:
        err = {"code": code, "message": message} | ({"data": data} if data is not None else {})
        replies = [{"jsonrpc": "2.0", "id": c["id"], "error": err} for c in calls]
        return web.json_response(replies if len(calls) > 1 else replies[0])
    return fault


def http(status: int, text: str = "", headers: dict[str, str] | None = None,
         content_type: str = "text/html") -> Fault:
    async def fault(node: FaultyNode, request: web.Request, calls: list[dict[str, Any]]) -> Answer:
        return web.Response(status=status, text=text, headers=headers, content_type=content_type)
    return fault


async def reset(node: FaultyNode, request: web.Request, calls: list[dict[str, Any]]) -> Answer:
    assert request.transport is not None
    request.transport.abort()
    return web.Response()


async def lose_answer(node: FaultyNode, request: web.Request,
                      calls: list[dict[str, Any]]) -> Answer:
    """The node acts on the request, then the connection drops before its answer."""
    for call in calls:
        node.answer(call)
    return await reset(node, request, calls)


def delay(seconds: float) -> Fault:
    async def fault(node: FaultyNode, request: web.Request, calls: list[dict[str, Any]]) -> Answer:
        await asyncio.sleep(seconds)
        return None
    return fault


def item_error(index: int, code: int, message: str) -> Fault:
    """A batch answered, one of its calls with an error."""
    async def fault(node: FaultyNode, request: web.Request, calls: list[dict[str, Any]]) -> Answer:
        replies = [node.answer(c) for i, c in enumerate(calls) if i != index]
        replies.insert(index, {"jsonrpc": "2.0", "id": calls[index]["id"],
                               "error": {"code": code, "message": message}})
        return web.json_response(replies)
    return fault


@pytest_asyncio.fixture(loop_scope="module")
async def node() -> AsyncIterator[FaultyNode]:
    server = FaultyNode()
    await server.start()
    yield server
    await server.stop()


@dataclass
class Client:
    rpc: Rpc
    events: list[RpcEvent]


@pytest_asyncio.fixture(loop_scope="module")
async def client(node: FaultyNode) -> AsyncIterator[Client]:
    hub = StatsHub()
    events: list[RpcEvent] = []

    def keep(event: Event) -> None:
        if isinstance(event, RpcEvent):
            events.append(event)
    hub.tap(keep)
    async with Rpc(node.url, hub, timeout=5.0) as rpc:
        yield Client(rpc, events)


TRANSIENT = {
    "429 Retry-After": (http(429, "slow down", {"Retry-After": "1"}), "throttled"),
    "429 JSON body": (http(429, '{"jsonrpc":"2.0","id":1,"error":{"code":429,"message":'
                           '"Your app has exceeded its compute units per second capacity"}}',
                           content_type="application/json"), "throttled"),
    "-32005 backoff": (error(-32005, "daily request count exceeded, request rate limited",
                             {"rate": {"backoff_seconds": 0.5}}), "throttled"),
    "-32005 plain": (error(-32005, "limit exceeded"), "throttled"),
    "-32603": (error(-32603, "internal error"), "transient"),
    "-32000 header": (error(-32000, "header not found"), "transient"),
    "-32000 rate": (error(-32000, "rate limit exceeded, try again in 200ms"), "throttled"),
    "503": (http(503, "<html>Service Unavailable</html>"), "transient"),
    "502": (http(502, "<html>Bad Gateway</html>"), "transient"),
    "reset": (reset, "connection"),
}


@pytest.mark.parametrize("name", list(TRANSIENT))
async def test_transient_fault_retried_and_counted(node: FaultyNode, client: Client,
                                                   name: str) -> None:
    fault, kind = TRANSIENT[name]
    node.faults[:] = [fault]
    node.seen.clear()
    before = client.rpc.fault_summary()
    assert await client.rpc.call("eth_blockNumber") == "0x10"
    assert [s.methods for s in node.seen] == [["eth_blockNumber"]] * 2
    failed, ok = client.events[-2:]
    assert (failed.ok, failed.kind, failed.retried) == (False, kind, True)
    assert (ok.ok, ok.kind) == (True, "")
    after = client.rpc.fault_summary()
    assert after["errors"].get(kind, 0) == before["errors"].get(kind, 0) + 1
    assert after["retries"].get(kind, 0) == before["retries"].get(kind, 0) + 1
    assert after["requests"] == before["requests"] + 2
    if kind == "throttled":  # the whole client waited: held seconds counted
        assert after["held_seconds"] > before["held_seconds"]
        assert failed.held > 0


async def test_latency_spike_is_no_fault(node: FaultyNode, client: Client) -> None:
    node.faults[:] = [delay(1.5)]
    node.seen.clear()
    assert await client.rpc.call("eth_chainId") == "0x539"
    assert len(node.seen) == 1 and client.events[-1].ok


async def test_timeout_retried(node: FaultyNode) -> None:
    node.faults[:] = [delay(3.0)]  # the client gives up on it after 0.3 s of the same loop
    node.seen.clear()
    async with Rpc(node.url, timeout=0.3) as rpc:
        assert await rpc.call("eth_blockNumber") == "0x10"
        summary = rpc.fault_summary()
    assert len(node.seen) == 2
    assert summary["errors"] == {"timeout": 1} and summary["retries"] == {"timeout": 1}


async def test_no_request_inside_retry_after_window(node: FaultyNode) -> None:
    """A 429 with Retry-After: 1 holds every request of the Rpc back, not only the retry."""
    node.faults[:] = [http(429, "", {"Retry-After": "1"})]
    node.seen.clear()
    hub, throttled = StatsHub(), asyncio.Event()
    hub.tap(lambda e: throttled.set() if isinstance(e, RpcEvent) and e.kind else None)
    async with Rpc(node.url, hub) as rpc:
        first = asyncio.create_task(rpc.call("eth_blockNumber"))
        await throttled.wait()  # the client has read the 429: every later request is held
        others = await asyncio.gather(*(rpc.call("eth_chainId") for _ in range(5)),
                                      rpc.batch([("eth_chainId", []), ("eth_blockNumber", [])]))
        assert await first == "0x10"
    assert others[:5] == ["0x539"] * 5 and others[5] == ["0x539", "0x10"]
    refusal, *later = node.seen
    assert len(later) == 7
    assert all(s.arrived >= refusal.answered + 1.0 for s in later), \
        [s.arrived - refusal.answered for s in later]


async def test_budget_bounds_retries(node: FaultyNode) -> None:
    node.faults[:] = [error(-32603, "internal error")] * 10
    node.seen.clear()
    async with Rpc(node.url, retry=RetryPolicy(base=0.01, attempts=3)) as rpc:
        with pytest.raises(RpcTransientError) as raised:
            await rpc.call("eth_blockNumber")
        summary = rpc.fault_summary()
    assert raised.value.code == -32603 and not is_unsupported(raised.value)
    assert len(node.seen) == 3
    assert summary["gave_up"] == {"transient": 1} and summary["retries"] == {"transient": 2}
    node.faults.clear()


async def test_opt_out_and_final_errors_not_retried(node: FaultyNode, client: Client) -> None:
    node.faults[:] = [error(-32603, "internal error")]
    node.seen.clear()
    with pytest.raises(RpcTransientError):
        await client.rpc.call("eth_blockNumber", retry=False)
    for fault in (error(3, "execution reverted: timeout"), error(-32000, "nonce too low")):
        node.faults[:] = [fault]
        with pytest.raises(RpcError) as raised:
            await client.rpc.call("eth_call", {"to": "0x" + "00" * 20}, "latest")
        assert raised.value.kind == "final" and not is_unsupported(raised.value)
    assert len(node.seen) == 3


UNSUPPORTED = {
    "anvil -32601": error(-32601, "Method not found"),
    "hardhat -32004": error(-32004, "Method eth_getBlockReceipts is not supported",
                            {"message": "Method eth_getBlockReceipts is not supported"}),
    "ganache -32700": error(-32700, "The method eth_getBlockReceipts does not exist/is not "
                            "available"),
    "-32000 text": error(-32000, "eth_getBlockReceipts not found"),
    "-32000 unsupported": error(-32000, "method not supported on this endpoint"),
    "405 html": http(405, "<html><body><h1>405 Not Allowed</h1></body></html>"),
    "400": http(400, "Bad Request"),
    "404 empty": http(404),
}


@pytest.mark.parametrize("name", list(UNSUPPORTED))
async def test_unsupported_dialect(node: FaultyNode, client: Client, name: str) -> None:
    node.faults[:] = [UNSUPPORTED[name]]
    node.seen.clear()
    with pytest.raises(RpcUnsupportedError) as raised:
        await client.rpc.call("eth_getBlockReceipts", "0x1")
    assert is_unsupported(raised.value) and raised.value.kind == "unsupported"
    assert len(node.seen) == 1  # never retried
    assert client.events[-1].kind == "unsupported" and not client.events[-1].retried
    assert "eth_getBlockReceipts" in client.rpc.fault_summary()["unsupported_methods"]


def signed(n: int) -> str:
    return "0x02" + bytes([n]).hex() * 40  # raw bytes; the node only hashes them


def our_hash(raw: str) -> str:
    return "0x" + keccak256(bytes.fromhex(raw[2:])).hex()


async def test_lost_send_answer_asks_the_hash_before_resending(
        node: FaultyNode, client: Client) -> None:
    """Ganache 7 executes every copy of bytes it is sent: after a lost answer the node is asked
    for the hash, and bytes it has are not sent again."""
    raw = signed(1)
    node.faults[:] = [lose_answer]
    node.seen.clear()
    known = client.rpc.fault_summary()["sends_known"]
    assert await client.rpc.call("eth_sendRawTransaction", raw) == our_hash(raw)
    assert [s.methods for s in node.seen] == [["eth_sendRawTransaction"],
                                              ["eth_getTransactionByHash"]]
    assert node.seen[1].params == [[our_hash(raw)]]
    assert client.rpc.fault_summary()["sends_known"] == known + 1
    assert client.events[-1].ok  # our hash known to the node is a send, not a rejection


async def test_lost_send_unknown_to_the_node_is_resent_same_bytes(
        node: FaultyNode, client: Client) -> None:
    raw = signed(6)
    node.faults[:] = [reset]  # the connection drops before the node acts
    node.seen.clear()
    assert await client.rpc.call("eth_sendRawTransaction", raw) == our_hash(raw)
    assert [s.methods[0] for s in node.seen] == ["eth_sendRawTransaction",
                                                 "eth_getTransactionByHash",
                                                 "eth_sendRawTransaction"]
    assert node.seen[0].params == node.seen[2].params == [[raw]]  # the same bytes


async def test_lost_batch_of_sends(node: FaultyNode, client: Client) -> None:
    raws = [signed(2), signed(3)]
    node.faults[:] = [lose_answer]
    node.seen.clear()
    calls = [("eth_sendRawTransaction", [r]) for r in raws] + [("eth_blockNumber", [])]
    results = await client.rpc.batch(calls)
    assert results == [our_hash(r) for r in raws] + ["0x10"]
    assert node.seen[0].params == [[r] for r in raws] + [[]]
    assert node.seen[1].params == [[our_hash(r)] for r in raws]  # asked, not sent again
    assert [s.methods for s in node.seen[2:]] == [["eth_blockNumber"]]  # only the rest again


async def test_nonce_too_low_is_sent_only_if_the_node_has_our_hash(
        node: FaultyNode, client: Client) -> None:
    ours, other = signed(4), signed(5)
    assert await client.rpc.call("eth_sendRawTransaction", ours) == our_hash(ours)
    node.faults[:] = [error(-32000, "nonce too low")]
    assert await client.rpc.call("eth_sendRawTransaction", ours) == our_hash(ours)
    node.faults[:] = [error(-32000, "nonce too low")]
    with pytest.raises(RpcError, match="nonce too low"):
        await client.rpc.call("eth_sendRawTransaction", other)
    node.faults[:] = [item_error(1, -32000, "nonce too low")]
    results = await client.rpc.batch([("eth_sendRawTransaction", [signed(6)]),
                                      ("eth_sendRawTransaction", [signed(7)])])
    assert results[0] == our_hash(signed(6))
    assert isinstance(results[1], RpcError) and results[1].kind == "final"


async def test_batch_retries_only_its_failed_calls(node: FaultyNode, client: Client) -> None:
    node.faults[:] = [item_error(1, -32005, "limit exceeded")]
    node.seen.clear()
    results = await client.rpc.batch([("eth_chainId", []), ("eth_blockNumber", []),
                                      ("eth_chainId", [])])
    assert results == ["0x539", "0x10", "0x539"]
    assert [s.methods for s in node.seen] == [["eth_chainId", "eth_blockNumber", "eth_chainId"],
                                              ["eth_blockNumber"]]


async def test_faults_reach_prometheus(node: FaultyNode) -> None:
    registry = CollectorRegistry()
    hub = StatsHub()
    hub.add_sink(PrometheusSink(registry, run_id="r", chain_id=None, version="t", targets={}))
    node.faults[:] = [http(429, "", {"Retry-After": "0.2"}), reset, None,
                      error(-32601, "nope")]
    async with Rpc(node.url, hub) as rpc:
        assert await rpc.call("eth_blockNumber") == "0x10"
        with pytest.raises(RpcUnsupportedError):
            await rpc.call("trace_block", "0x1")
    hub.flush()

    def value(name: str, labels: dict[str, str] | None = None) -> float | None:
        return registry.get_sample_value(name, labels or {})
    errors = "kcstress_rpc_errors_total"
    assert value(errors, {"method": "eth_blockNumber", "kind": "throttled"}) == 1
    assert value(errors, {"method": "eth_blockNumber", "kind": "connection"}) == 1
    assert value(errors, {"method": "trace_block", "kind": "unsupported"}) == 1
    assert value("kcstress_rpc_retries_total", {"kind": "throttled"}) == 1
    assert value("kcstress_rpc_retries_total", {"kind": "connection"}) == 1
    assert (value("kcstress_rpc_throttled_seconds_total") or 0.0) > 0


async def test_throttled_reason() -> None:
    calm = {"elapsed_seconds": 100.0, "requests": 10_000, "throttled": 50, "held_seconds": 2.0,
            "gave_up": {}}
    assert throttled_reason(calm) is None
    held = calm | {"held_seconds": 6.0}
    assert "held back 6.0 s of 100.0 s" in (throttled_reason(held) or "")
    many = calm | {"throttled": 101}
    assert "101 of 10000 requests throttled" in (throttled_reason(many) or "")
    assert throttled_reason(calm | {"requests": 100, "throttled": 4}) is None  # too few to say
    assert "gave up" in (throttled_reason(calm | {"gave_up": {"throttled": 1}}) or "")


async def test_held_back_call_is_refused_unsent(node: FaultyNode) -> None:
    """A Retry-After longer than a call's budget: refused at once, nothing sent in the window."""
    node.faults[:] = [http(429, "", {"Retry-After": "120"})]
    node.seen.clear()
    async with Rpc(node.url, retry=RetryPolicy(budget=2.0)) as rpc:
        with pytest.raises(RpcThrottledError) as first:
            await rpc.call("eth_blockNumber")
        with pytest.raises(RpcThrottledError, match="held back") as second:
            await rpc.call("eth_blockNumber")
    assert first.value.retry_after == 120 and not second.value.maybe_processed
    assert len(node.seen) == 1


@pytest.mark.parametrize("kind", ["anvil", "hardhat", "ganache", "embedded"])
async def test_real_node_dialects(kind: str) -> None:
    """What each node answers for a method it lacks, and for our send sent twice."""
    nodes = pytest.importorskip("tests.nodes")
    nodes.require_node(kind)
    with nodes.start_node(kind, block_time=2.0) as chain:
        async with Rpc(chain.url) as rpc:
            with pytest.raises(RpcUnsupportedError) as raised:
                await rpc.call("kcstress_noSuchMethod")
            assert is_unsupported(raised.value)
            if kind in ("hardhat", "ganache"):  # anvil and the embedded chain serve both
                for method in ("eth_getBlockReceipts", "trace_block"):
                    with pytest.raises(RpcUnsupportedError):
                        await rpc.call(method, "latest")
            signer = Signer(bytes.fromhex(chain.key))
            nonce = hex_int(await rpc.call("eth_getTransactionCount", signer.address, "pending"))
            tx = signer.sign_eip1559(chain_id=chain.chain_id, nonce=nonce, max_fee=10**11,
                                     max_priority_fee=10**9, gas=21_000, to=bytes(20), value=1,
                                     data=b"")
            raw = "0x" + tx.raw.hex()
            assert await rpc.call("eth_sendRawTransaction", raw) == "0x" + tx.hash.hex()
            assert await rpc.call("eth_sendRawTransaction", raw) == "0x" + tx.hash.hex()
            with pytest.raises(RpcError) as bad:
                await rpc.call("eth_sendRawTransaction", "0x1234")
            assert bad.value.kind in ("final", "unsupported") and len(rpc.book.errors) == 2


CLASSIFIED = [  # (method, code, message) -> kind: the table of utils/chain/rpc_faults.py
    ("eth_call", 3, "execution reverted: timeout", "final"),
    ("eth_call", -32000, "VM Exception while processing transaction: revert", "final"),
    ("eth_sendRawTransaction", -32003, "transaction already imported", "final"),
    ("eth_sendRawTransaction", -32000, "nonce too low", "final"),
    ("eth_sendRawTransaction", -32000, "node is not accepting transactions", "final"),
    ("eth_sendRawTransaction", -32603, "insufficient funds for gas * price + value", "final"),
    ("eth_blockNumber", -32005, "limit exceeded", "throttled"),
    ("eth_blockNumber", 429, "Your app has exceeded its compute units per second capacity",
     "throttled"),
    ("eth_blockNumber", -32000, "Too Many Requests", "throttled"),
    ("eth_blockNumber", -32603, "Internal error", "transient"),
    ("eth_call", -32000, "header not found", "transient"),
    ("eth_call", -32700, "header not found", "transient"),  # ganache, a block not there yet
    ("trace_block", -32601, "Method not found", "unsupported"),
    ("trace_block", -32004, "Method trace_block is not supported", "unsupported"),
    ("trace_block", -32700, "The method trace_block does not exist/is not available",
     "unsupported"),
    ("trace_block", -32000, "trace_block not found", "unsupported"),
    ("eth_getBlockReceipts", -32602, "invalid argument 0", "final"),
]


@pytest.mark.parametrize(("method", "code", "message", "kind"), CLASSIFIED)
async def test_classification_table(method: str, code: int, message: str, kind: str) -> None:
    assert reply_kind(method, code, message) == kind
    error = reply_error(method, {"code": code, "message": message})
    assert error.kind == kind
    assert is_unsupported(error) == (kind == "unsupported" or code == -32602)


async def test_retry_after_forms() -> None:
    assert retry_after_of({"Retry-After": "7"}, None, "") == 7
    later = email.utils.formatdate(time.time() + 60, usegmt=True)  # an HTTP date
    assert 50 < (retry_after_of({"Retry-After": later}, None, "") or 0) <= 60
    assert retry_after_of({"Retry-After": "86400"}, None, "") == 600  # bounded
    assert retry_after_of(None, {"rate": {"backoff_seconds": 30}}, "") == 30
    assert retry_after_of(None, {"retryAfter": 2}, "") == 2
    assert retry_after_of(None, None, "rate limited, try again in 250ms") == 0.25
    assert retry_after_of(None, None, "limit exceeded") is None
    status = http_error("eth_call", 503, b"<html>down</html>", {"Retry-After": "2"})
    assert status.kind == "transient" and status.maybe_processed
    assert getattr(status, "retry_after", None) == 2


async def test_mixed_faults_through_the_proxy() -> None:
    """anvil behind tests/rpc_proxy.py with every transient fault at once: each read answers,
    each send (alone or in a batch) answers with its hash exactly once on chain, and an
    optional method in Hardhat's dialect is "unsupported", never retried as transient."""
    nodes = pytest.importorskip("tests.nodes")
    proxy_module = pytest.importorskip("tests.rpc_proxy")
    nodes.require_node("anvil")
    faults = proxy_module.Faults("mixed", seed=20, http_429=0.05, retry_after=1,
                                 limit_32005=0.05, internal_32603=0.05, drop=0.05,
                                 drop_after_send=0.2, unsupported="-32004")
    with nodes.start_node("anvil", block_time=1.0) as chain, \
            proxy_module.RpcProxy.start(chain.url, faults) as proxy:
        async with Rpc(proxy.url) as rpc:
            signer = Signer(bytes.fromhex(chain.key))
            nonce = hex_int(await rpc.call("eth_getTransactionCount", signer.address, "pending"))
            raws = [signer.sign_eip1559(chain_id=chain.chain_id, nonce=nonce + i,
                                        max_fee=10**11, max_priority_fee=10**9, gas=21_000,
                                        to=bytes(20), value=1, data=b"") for i in range(40)]
            hashes = ["0x" + tx.hash.hex() for tx in raws]
            got = [await rpc.call("eth_sendRawTransaction", "0x" + tx.raw.hex())
                   for tx in raws[:10]]
            for start in range(10, 40, 10):
                got += await rpc.batch([("eth_sendRawTransaction", ["0x" + tx.raw.hex()])
                                        for tx in raws[start:start + 10]])
            assert got == hashes
            while True:  # every one of them mined, each once
                receipts = await rpc.batch([("eth_getTransactionReceipt", [h]) for h in hashes])
                if all(isinstance(r, dict) for r in receipts):
                    break
                await asyncio.sleep(0.5)
            assert len({r["transactionHash"] for r in receipts}) == 40
            with pytest.raises(RpcUnsupportedError):
                await rpc.call("eth_getBlockReceipts", "latest")
            summary = rpc.fault_summary()
    assert sum(summary["retries"].values()) > 0 and not summary["gave_up"], summary
    assert sum(proxy.injected.values()) > 0
