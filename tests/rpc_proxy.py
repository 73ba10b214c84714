"""A fault-injecting JSON-RPC proxy for the tests: an aiohttp server on 127.0.0.1 (a free port)
that forwards JSON-RPC (single calls and batches) to an upstream node and misbehaves as real
providers do, deterministically from a seed.

    with RpcProxy.start(node.url, FAULT_MODES["http429"]) as proxy:
        ...  # point a run at proxy.url
    proxy.forwarded["eth_sendRawTransaction"], proxy.injected["http429"], proxy.sends

What it can do (:class:`Faults`; :data:`FAULT_MODES` names one setting per fault):

- ``http_429``: a share of HTTP requests answered ``429 Too Many Requests`` with
  ``Retry-After: N`` (Alchemy-like), nothing forwarded;
- ``limit_32005``: a share of calls (each item of a batch drawn alone) answered JSON-RPC
  ``-32005 limit exceeded`` (Infura-like), not forwarded;
- ``internal_32603``: the same with ``-32603 internal error``;
- ``drop``: a share of HTTP requests whose connection is closed without an answer, nothing
  forwarded;
- ``drop_after_send``: a share of the HTTP requests carrying an ``eth_sendRawTransaction``
  forwarded whole, then the connection closed: the transaction is in the node, its answer lost;
- ``latency``: a share of HTTP requests held 1-3 s (uniform) before they are forwarded;
- ``stale_head``: a share of ``eth_blockNumber`` calls answered ``stale_lag`` blocks behind the
  node's head (a load balancer over replicas that lag);
- ``late_receipts_s`` / ``late_receipts_blocks``: ``eth_getTransactionReceipt``,
  ``eth_getBlockReceipts`` and ``trace_block`` answer ``null`` for a block until that many
  seconds after the proxy first saw the block exist / until the head is that many blocks past
  it (receipts from a replica behind the one that served the head); by blocks, at most
  ``late_receipts_cap_s`` seconds: a replica catches up even on a chain that makes no new
  block (the embedded chain seals blocks only when it has transactions, so a set-up waiting
  for one receipt would wait for ever);
- ``unsupported``: every call of ``unsupported_methods`` answered in one "not supported"
  dialect (:data:`DIALECTS`): -32601 (anvil, geth), -32004 (Hardhat 3 / EDR, EIP-1474),
  -32700 with a text (ganache 7), -32000 with a text (some proxies), or the whole HTTP request
  refused with 405 / 400 and an HTML body (a gateway in front of the node);
- ``reorg_at``: seconds after :meth:`RpcProxy.arm` (the harness arms it when the run logs
  "load started") at which the proxy calls ``anvil_reorg(reorg_depth, [])`` on the upstream
  (anvil only: the last blocks are replaced by empty ones and their transactions are not put
  back in the pool). :meth:`RpcProxy.reorg_now` triggers one at once.

"Deterministic from a seed": the faults are drawn from one ``random.Random(seed)`` in the order
the requests arrive, the same number of draws per request; the same sequence of requests gets
the same faults. The proxy counts what it forwarded to the node (per method, batch items one
by one, and HTTP requests), what it injected (per fault), and every raw transaction it
forwarded (time, hash): :attr:`RpcProxy.sends`.

It runs on its own event loop in a daemon thread, so a synchronous test can start it, run
``main.py`` as a child against it and read the counters afterwards. Only 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import Any

import aiohttp
from aiohttp import web
from eth_utils.crypto import keccak

#: the optional methods the run falls back from: the "not supported" faults hit these
OPTIONAL_METHODS = ("trace_block", "eth_getBlockReceipts", "eth_maxPriorityFeePerGas",
                    "eth_feeHistory")

#: "method not supported" as the nodes and proxies answer it (measured on anvil 1.7.1,
#: Hardhat 3.18.0 / EDR, ganache 7.9.2; the gateway forms as nginx and cloud proxies send them)
DIALECTS: dict[str, str] = {
    "-32601": "anvil/geth: JSON-RPC -32601 Method not found",
    "-32004": "Hardhat 3 (EDR): -32004 Method X is not supported (EIP-1474)",
    "-32700": "ganache 7: -32700 The method X does not exist/is not available",
    "-32000": "proxies: -32000 with a text (Unsupported method: X)",
    "405": "gateways: HTTP 405 Not Allowed with an HTML body",
    "400": "gateways: HTTP 400 Bad Request with an HTML body",
}

HTML_405 = ("<html>\r\n<head><title>405 Not Allowed</title></head>\r\n<body>\r\n"
            "<center><h1>405 Not Allowed</h1></center>\r\n<hr><center>nginx</center>\r\n"
            "</body>\r\n</html>\r\n")
HTML_400 = ("<html>\r\n<head><title>400 Bad Request</title></head>\r\n<body>\r\n"
            "<center><h1>400 Bad Request</h1></center>\r\n<hr><center>nginx</center>\r\n"
            "</body>\r\n</html>\r\n")


@dataclass(frozen=True)
class Faults:
    """What the proxy does to the traffic. Shares are probabilities in [0, 1]."""

    name: str = "none"
    seed: int = 0
    http_429: float = 0.0
    retry_after: int = 1
    limit_32005: float = 0.0
    internal_32603: float = 0.0
    drop: float = 0.0
    drop_after_send: float = 0.0
    latency: float = 0.0
    latency_s: tuple[float, float] = (1.0, 3.0)
    stale_head: float = 0.0
    stale_lag: int = 3
    late_receipts_s: float = 0.0
    late_receipts_blocks: int = 0
    late_receipts_cap_s: float = 10.0
    unsupported: str | None = None  # a key of DIALECTS
    unsupported_methods: tuple[str, ...] = OPTIONAL_METHODS
    reorg_at: tuple[float, ...] = ()
    reorg_depth: int = 2
    anvil_only: bool = False  # the fault needs anvil's admin methods

    def __post_init__(self) -> None:
        if self.unsupported is not None and self.unsupported not in DIALECTS:
            raise ValueError(f"unknown dialect {self.unsupported!r}: one of {list(DIALECTS)}")

    def with_seed(self, seed: int) -> Faults:
        return replace(self, seed=seed)


#: one setting per fault mode of the issue (20.5), by name
FAULT_MODES: dict[str, Faults] = {
    "none": Faults(),
    "http429": Faults("http429", http_429=0.15, retry_after=1),
    "limit32005": Faults("limit32005", limit_32005=0.15),
    "internal32603": Faults("internal32603", internal_32603=0.1),
    "drop": Faults("drop", drop=0.05),
    "drop_after_send": Faults("drop_after_send", drop_after_send=0.2),
    "latency": Faults("latency", latency=0.1),
    "stale_head": Faults("stale_head", stale_head=0.5, stale_lag=3),
    "late_receipts_s": Faults("late_receipts_s", late_receipts_s=3.0),
    "late_receipts_blocks": Faults("late_receipts_blocks", late_receipts_blocks=3),
    **{f"unsupported{code}": Faults(f"unsupported{code}", unsupported=code) for code in DIALECTS},
    "reorg": Faults("reorg", reorg_at=(3.0, 6.0), reorg_depth=2, anvil_only=True),
}


def _error(call_id: Any, code: int, message: str, data: Any = None) -> dict[str, Any]:
    err: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        err["data"] = data
    return {"jsonrpc": "2.0", "id": call_id, "error": err}


def unsupported_error(dialect: str, call_id: Any, method: str) -> dict[str, Any]:
    """The JSON-RPC error a node of ``dialect`` answers for a method it does not serve."""
    if dialect == "-32601":
        return _error(call_id, -32601, "Method not found")
    if dialect == "-32004":
        text = f"Method {method} is not supported"
        return _error(call_id, -32004, text, {"message": text})
    if dialect == "-32700":
        return _error(call_id, -32700, f"The method {method} does not exist/is not available")
    if dialect == "-32000":
        return _error(call_id, -32000, f"Unsupported method: {method}. See available methods "
                                       "at https://docs.example.com/methods")
    raise ValueError(f"{dialect} is an HTTP dialect")


def _hex_int(value: Any) -> int | None:
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.startswith("0x"):
        with contextlib.suppress(ValueError):
            return int(value, 16)
    return None


def tx_hash_of(raw: Any) -> str:
    """The hash of a raw transaction given as 0x-hex (keccak of its bytes)."""
    if not isinstance(raw, str):
        return ""
    with contextlib.suppress(ValueError):
        return "0x" + keccak(bytes.fromhex(raw.removeprefix("0x"))).hex()
    return ""


@dataclass
class Reorg:
    """One reorg the proxy triggered: when, how deep, the head before, the hashes removed."""

    at: float
    depth: int
    head_before: int
    removed: list[str] = field(default_factory=list)
    error: str = ""


class _Drop(Exception):
    """Close the client's connection without an answer."""


class RpcProxy:
    """The proxy; :meth:`start` returns it listening (``url``), :meth:`stop` ends it."""

    def __init__(self, upstream: str, faults: Faults | None = None) -> None:
        self.upstream = upstream
        self.faults = faults or Faults()
        self.url = ""
        self.forwarded: Counter[str] = Counter()  # per method, batch items one by one
        self.http_forwarded = 0  # HTTP requests sent to the node (a batch is one)
        self.http_received = 0
        self.injected: Counter[str] = Counter()
        self.sends: list[tuple[float, str]] = []  # (unix time, hash) of forwarded raw txs
        self.reorgs: list[Reorg] = []
        self.errors: list[str] = []  # the proxy's own failures (upstream unreachable, ...)
        self._rng = random.Random(self.faults.seed)
        self._lock = threading.Lock()
        self._head = -1
        self._block_seen: dict[int, float] = {}
        self._armed_at: float | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopping: asyncio.Event | None = None
        self._armed: asyncio.Event | None = None  # set by arm(): the reorg clock starts
        self._session: aiohttp.ClientSession | None = None

    # -- life cycle -----------------------------------------------------------------------

    @classmethod
    def start(cls, upstream: str, faults: Faults | None = None, *,
              timeout: float = 10.0) -> RpcProxy:
        proxy = cls(upstream, faults)
        ready = threading.Event()
        failure: list[BaseException] = []
        proxy._thread = threading.Thread(target=proxy._serve, args=(ready, failure),
                                         name="rpc-proxy", daemon=True)
        proxy._thread.start()
        if not ready.wait(timeout) or failure:
            proxy.stop()
            raise RuntimeError(f"rpc proxy did not start: {failure}")
        return proxy

    def _serve(self, ready: threading.Event, failure: list[BaseException]) -> None:
        try:
            asyncio.run(self._main(ready))
        except BaseException as exc:  # reported to the starting thread
            failure.append(exc)
            ready.set()

    async def _main(self, ready: threading.Event) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        self._armed = asyncio.Event()
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/", self._handle)
        app.router.add_post("/{tail:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        connector = aiohttp.TCPConnector(limit=256)
        self._session = aiohttp.ClientSession(connector=connector,
                                              timeout=aiohttp.ClientTimeout(total=60))
        reorgs: asyncio.Task[None] | None = None
        try:
            await site.start()
            server = site._server
            assert server is not None and isinstance(server, asyncio.base_events.Server)
            port = server.sockets[0].getsockname()[1]
            self.url = f"http://127.0.0.1:{port}"
            if self.faults.reorg_at:
                reorgs = asyncio.create_task(self._reorg_loop())
            ready.set()
            await self._stopping.wait()
        finally:
            if reorgs is not None:
                reorgs.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reorgs
            await runner.cleanup()
            await self._session.close()

    def stop(self) -> None:
        """Stop serving and join the thread. Idempotent."""
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stopping.set)
        if self._thread is not None:
            self._thread.join(15)

    def __enter__(self) -> RpcProxy:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # -- figures --------------------------------------------------------------------------

    @property
    def requests_to_node(self) -> int:
        """Calls forwarded to the node (batch items one by one), reorg triggers included."""
        return sum(self.forwarded.values())

    def sent_hashes(self, before: float | None = None) -> set[str]:
        """Hashes of the raw transactions forwarded (before unix time ``before``, if given)."""
        return {h for t, h in self.sends if h and (before is None or t < before)}

    # -- the handler ----------------------------------------------------------------------

    def _draw(self, share: float) -> bool:
        """One draw from the seeded sequence (always one draw per enabled fault)."""
        if share <= 0.0:
            return False
        with self._lock:
            return self._rng.random() < share

    def _note_head(self, number: int | None) -> None:
        if number is None:
            return
        now = time.time()
        with self._lock:
            if number > self._head:
                for n in range(max(self._head + 1, number - 64), number + 1):
                    self._block_seen.setdefault(n, now)
                self._head = number

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.http_received += 1
        body = await request.read()
        try:
            payload = json.loads(body)
        except ValueError:
            payload = None
        if not isinstance(payload, (dict, list)) or (isinstance(payload, list) and not payload):
            return await self._forward_raw(body)
        try:
            return await self._handle_calls(request, payload)
        except _Drop:
            request.transport.close() if request.transport is not None else None
            return web.Response(status=204)

    async def _handle_calls(self, request: web.Request,
                            payload: dict[str, Any] | list[Any]) -> web.StreamResponse:
        f = self.faults
        batch = isinstance(payload, list)
        calls: list[Any] = payload if isinstance(payload, list) else [payload]
        methods = [c.get("method", "") if isinstance(c, dict) else "" for c in calls]
        answers: dict[int, dict[str, Any]] = {}  # index -> injected answer
        if f.unsupported is not None:
            hit = [i for i, m in enumerate(methods) if m in f.unsupported_methods]
            if hit and f.unsupported in ("405", "400"):
                self.injected[f"unsupported{f.unsupported}"] += 1
                html = HTML_405 if f.unsupported == "405" else HTML_400
                return web.Response(status=int(f.unsupported), text=html,
                                    content_type="text/html")
            for i in hit:
                self.injected[f"unsupported{f.unsupported}"] += 1
                answers[i] = unsupported_error(f.unsupported, calls[i].get("id"), methods[i])
        if self._draw(f.http_429):
            self.injected["http429"] += 1
            body = _error(None if batch else calls[0].get("id"), 429,
                          "Your app has exceeded its compute units per second capacity.")
            return web.json_response(body, status=429,
                                     headers={"Retry-After": str(f.retry_after)})
        if self._draw(f.drop):
            self.injected["drop"] += 1
            raise _Drop
        if self._draw(f.latency):
            with self._lock:
                delay = self._rng.uniform(*f.latency_s)
            self.injected["latency"] += 1
            await asyncio.sleep(delay)
        for i, call in enumerate(calls):
            if i in answers or not isinstance(call, dict):
                continue
            if self._draw(f.limit_32005):
                self.injected["limit32005"] += 1
                answers[i] = _error(call.get("id"), -32005, "limit exceeded",
                                    {"see": "https://infura.io/dashboard"})
            elif self._draw(f.internal_32603):
                self.injected["internal32603"] += 1
                answers[i] = _error(call.get("id"), -32603, "Internal error")
        forward = [i for i in range(len(calls)) if i not in answers]
        carries_send = any(methods[i] == "eth_sendRawTransaction" for i in forward)
        drop_after = carries_send and self._draw(f.drop_after_send)
        replies: dict[int, Any] = {}
        if forward:
            status, replies, raw = await self._forward([calls[i] for i in forward], batch,
                                                       forward)
            if status is not None:  # the node's own HTTP error: passed on as it is
                return web.Response(status=status, body=raw,
                                    content_type="application/json")
        if drop_after:
            self.injected["drop_after_send"] += 1
            raise _Drop
        out: list[Any] = []
        for i, call in enumerate(calls):
            if i in answers:
                out.append(answers[i])
            elif i in replies:
                out.append(self._after(methods[i], call, replies[i]))
        if not batch:
            return web.json_response(out[0] if out else None)
        return web.json_response(out)

    async def _forward_raw(self, body: bytes) -> web.Response:
        assert self._session is not None
        self.http_forwarded += 1
        self.forwarded["(not JSON-RPC)"] += 1
        async with self._session.post(self.upstream, data=body,
                                      headers={"Content-Type": "application/json"}) as resp:
            raw = await resp.read()
            return web.Response(status=resp.status, body=raw, content_type="application/json")

    async def _forward(self, calls: list[dict[str, Any]], batch: bool,
                       index: list[int]) -> tuple[int | None, dict[int, Any], bytes]:
        """Send ``calls`` to the node; (HTTP error status or None, {index: reply}, raw body)."""
        assert self._session is not None
        now = time.time()
        for call in calls:
            self.forwarded[str(call.get("method", ""))] += 1
            if call.get("method") == "eth_sendRawTransaction":
                params = call.get("params") or [""]
                self.sends.append((now, tx_hash_of(params[0])))
        self.http_forwarded += 1
        body = json.dumps(calls if batch else calls[0]).encode()
        try:
            async with self._session.post(self.upstream, data=body,
                                          headers={"Content-Type": "application/json"}) as resp:
                raw = await resp.read()
                status = resp.status
        except (TimeoutError, aiohttp.ClientError) as exc:
            self.errors.append(f"upstream: {exc!r}")
            raise _Drop from exc  # the node did not answer: neither does the proxy
        if status != 200:
            return status, {}, raw
        try:
            parsed = json.loads(raw)
        except ValueError:
            return 502, {}, raw
        items = parsed if isinstance(parsed, list) else [parsed]
        by_id = {json.dumps(r.get("id")): r for r in items if isinstance(r, dict)}
        replies: dict[int, Any] = {}
        for pos, (i, call) in enumerate(zip(index, calls, strict=True)):
            reply = by_id.get(json.dumps(call.get("id")))
            if reply is None and pos < len(items):
                reply = items[pos]
            replies[i] = reply
        return None, replies, raw

    # -- answers that lag -----------------------------------------------------------------

    def _after(self, method: str, call: dict[str, Any], reply: Any) -> Any:
        """The node's reply, seen through the lagging-replica faults."""
        if not isinstance(reply, dict) or "result" not in reply:
            return reply
        f = self.faults
        result = reply["result"]
        if method == "eth_blockNumber":
            head = _hex_int(result)
            self._note_head(head)
            if head is not None and self._draw(f.stale_head):
                self.injected["stale_head"] += 1
                return {**reply, "result": hex(max(0, head - f.stale_lag))}
            return reply
        if method in ("eth_getBlockByNumber", "eth_getBlockByHash") and isinstance(result, dict):
            self._note_head(_hex_int(result.get("number")))
            return reply
        if not (f.late_receipts_s or f.late_receipts_blocks):
            return reply
        number: int | None = None
        if method == "eth_getTransactionReceipt" and isinstance(result, dict):
            number = _hex_int(result.get("blockNumber"))
        elif (method in ("eth_getBlockReceipts", "trace_block") and isinstance(result, list)
              and result and isinstance(result[0], dict)):
            number = _hex_int(result[0].get("blockNumber"))
        if number is None:
            return reply
        self._note_head(number)
        if self._visible(number):
            return reply
        self.injected["late_receipts"] += 1
        return {**reply, "result": None}

    def _visible(self, number: int) -> bool:
        f = self.faults
        with self._lock:
            seen = self._block_seen.setdefault(number, time.time())
            head = self._head
        if f.late_receipts_s and time.time() < seen + f.late_receipts_s:
            return False
        if f.late_receipts_blocks and head < number + f.late_receipts_blocks:
            return time.time() >= seen + f.late_receipts_cap_s
        return True

    # -- reorgs ---------------------------------------------------------------------------

    def arm(self) -> None:
        """Start the reorg clock (``Faults.reorg_at`` counts from now). Thread-safe."""
        if self._armed_at is None and self._loop is not None and self._armed is not None:
            self._armed_at = time.monotonic()
            self._loop.call_soon_threadsafe(self._armed.set)

    def reorg_now(self, depth: int, timeout: float = 30.0) -> Reorg:
        """Trigger ``anvil_reorg(depth, [])`` on the upstream now and wait for it. Thread-safe."""
        assert self._loop is not None
        future = asyncio.run_coroutine_threadsafe(self._reorg(depth), self._loop)
        future.result(timeout)
        return self.reorgs[-1]

    async def _reorg_loop(self) -> None:
        assert self._armed is not None
        await self._armed.wait()
        start = self._armed_at or time.monotonic()
        for at in sorted(self.faults.reorg_at):
            await asyncio.sleep(max(0.0, start + at - time.monotonic()))
            await self._reorg(self.faults.reorg_depth)

    async def _upstream_call(self, method: str, *params: Any) -> Any:
        assert self._session is not None
        self.forwarded[method] += 1
        self.http_forwarded += 1
        body = {"jsonrpc": "2.0", "id": "proxy", "method": method, "params": list(params)}
        async with self._session.post(self.upstream, json=body) as resp:
            reply = await resp.json(content_type=None)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply.get("result")

    async def _reorg(self, depth: int) -> None:
        record = Reorg(time.time(), depth, -1)
        try:
            head = int(await self._upstream_call("eth_blockNumber"), 16)
            record.head_before = head
            for n in range(max(1, head - depth + 1), head + 1):
                block = await self._upstream_call("eth_getBlockByNumber", hex(n), False)
                record.removed += list(block.get("transactions") or [])
            await self._upstream_call("anvil_reorg", depth, [])
            self.injected["reorg"] += 1
        except (aiohttp.ClientError, RuntimeError, ValueError, TypeError) as exc:
            record.error = repr(exc)
            self.errors.append(f"reorg: {exc!r}")
        self.reorgs.append(record)


@contextlib.contextmanager
def proxied(upstream: str, faults: Faults | None = None) -> Iterator[RpcProxy]:
    """``RpcProxy.start`` as a context manager."""
    proxy = RpcProxy.start(upstream, faults)
    try:
        yield proxy
    finally:
        proxy.stop()
