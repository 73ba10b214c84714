"""JSON-RPC 2.0 over HTTP for the dev chain: an aiohttp server on one asyncio loop.

The EVM runs on the loop (the chain is single-threaded); interval mining is a loop timer.
Single and batch requests are served; HTTP keep-alive is aiohttp's default.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from typing import Any

from aiohttp import web

from utils.aio import wait_event
from utils.devchain.backend import DevNode
from utils.devchain.nitro.poster_runtime import post_every
from utils.devchain.params import INVALID_PARAMS, INVALID_REQUEST, PARSE_ERROR, JsonRpcError
from utils.devchain.rpc import DevChainRpc

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024 * 1024
POST_CHECK_INTERVAL_S = 0.1  # how often the batch poster checks its delay


def _error(request_id: Any, error: JsonRpcError) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "error": error.to_json()}


def dispatch(rpc: DevChainRpc, request: Any) -> dict[str, Any] | None:
    """Answer one request object; ``None`` for a notification (a request without id)."""
    if not isinstance(request, dict):
        return _error(None, JsonRpcError(INVALID_REQUEST, "invalid request"))
    request_id = request.get("id")
    method = request.get("method")
    params = request.get("params")
    if request.get("jsonrpc") != "2.0" or not isinstance(method, str):
        return _error(request_id, JsonRpcError(INVALID_REQUEST, "invalid request"))
    try:
        if params is None:
            params = []
        elif not isinstance(params, list):
            raise JsonRpcError(INVALID_PARAMS, "invalid argument: params must be an array")
        response = {"jsonrpc": "2.0", "id": request_id, "result": rpc.call(method, params)}
    except JsonRpcError as exc:
        response = _error(request_id, exc)
    return None if "id" not in request else response


def handle_body(rpc: DevChainRpc, body: bytes) -> Any:
    """The JSON reply to an HTTP body: an object, an array (batch), or ``None`` (nothing)."""
    try:
        payload = json.loads(body)
    except ValueError:
        return _error(None, JsonRpcError(PARSE_ERROR, "parse error"))
    if isinstance(payload, list):
        if not payload:
            return _error(None, JsonRpcError(INVALID_REQUEST, "empty batch"))
        replies = [dispatch(rpc, item) for item in payload]
        return [r for r in replies if r is not None] or None
    return dispatch(rpc, payload)


def build_app(rpc: DevChainRpc) -> web.Application:
    async def handle(request: web.Request) -> web.Response:
        reply = handle_body(rpc, await request.read())
        if reply is None:
            return web.Response(status=200)
        return web.Response(
            body=json.dumps(reply, separators=(",", ":")).encode(), content_type="application/json"
        )

    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app.router.add_post("/", handle)
    return app


class BlockTimer:
    """The interval miner's block time, changeable while the chain runs
    (``kcdev_setBlockTime``: a run's set-up seals its bursts at once, its load runs at the
    configured block time)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.changed = asyncio.Event()

    def set(self, seconds: float) -> float:
        """The new block time from now on; returns the previous one."""
        previous, self.seconds = self.seconds, seconds
        self.changed.set()
        return previous


async def mine_every(node: DevNode, timer: BlockTimer) -> None:
    """Seal the open block every ``timer.seconds`` when it holds transactions (a change of
    the block time starts a new interval at once)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timer.seconds
    while True:
        timer.changed.clear()
        if await wait_event(timer.changed, max(0.0, deadline - loop.time())):
            deadline = loop.time() + timer.seconds
            continue
        deadline = max(deadline + timer.seconds, loop.time())
        if node.pending_count():
            try:
                node.seal()
            except Exception:
                logger.exception("sealing a block failed")


async def serve(
    node: DevNode,
    *,
    host: str,
    port: int,
    block_time: float,
    stop: asyncio.Event,
    on_ready: Callable[[int], None],
) -> None:
    """Serve JSON-RPC on host:port (0 = any free port) until ``stop`` is set."""
    timer = BlockTimer(block_time) if block_time > 0 else None
    rpc = DevChainRpc(node, automine=timer is None, timer=timer)
    runner = web.AppRunner(build_app(rpc), access_log=None, handle_signals=False)
    await runner.setup()
    miner: asyncio.Task[None] | None = None
    ticker: asyncio.Task[None] | None = None
    try:
        site = web.TCPSite(runner, host, port, backlog=1024)
        await site.start()
        on_ready(int(runner.addresses[0][1]))
        if timer is not None:
            miner = asyncio.create_task(mine_every(node, timer))
        poster = node.nitro.poster if node.nitro is not None else None
        if poster is not None:  # batches due by delay while no block is mined
            ticker = asyncio.create_task(post_every(poster, POST_CHECK_INTERVAL_S))
        await stop.wait()
    finally:
        for task in (miner, ticker):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await runner.cleanup()
