"""Optional HTTP API of the lcore node, with the original routes and JSON fields.

    POST /device/register {device_id, public_key[, device_type]}
        -> 201 {success, message} (200 when already registered with the same key)
    POST /device/data {device_id, data, timestamp, signature}
        -> 200 {success, message, record_id, task_id, proof_hash, key_id,
               tx_hash (null until the outbox sent the commitment)}
    GET /status -> {status, version, devices, records, pending, submitted, committed, failed, ...}

Bad input never yields a 500: malformed JSON 400, bad or stale signature 401,
unknown device 404, key conflict or replay 409, too large 413, invalid fields
422; each body is {success: false, message, error: <code>}.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from lcore_node.errors import InvalidError, LcoreError, MalformedError, TooLargeError
from lcore_node.types import NodeApi

log = logging.getLogger(__name__)

NODE_KEY: web.AppKey[NodeApi] = web.AppKey("lcore_node")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _failure(status: int, message: str, code: str) -> web.Response:
    return web.json_response({"success": False, "message": message, "error": code}, status=status)


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except LcoreError as exc:
        return _failure(exc.http_status, exc.message, exc.code)
    except web.HTTPRequestEntityTooLarge as exc:
        return _failure(413, exc.text or "request body too large", TooLargeError.code)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return _failure(exc.status, exc.reason, "http")


async def _body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise MalformedError("request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise InvalidError("request body must be a JSON object")
    return body


def _required(body: dict[str, Any], field: str) -> Any:
    if field not in body or body[field] is None:
        raise InvalidError("is required", field=field)
    return body[field]


async def register(request: web.Request) -> web.Response:
    body = await _body(request)
    result = await request.app[NODE_KEY].register_device(
        _required(body, "device_id"), _required(body, "public_key"), body.get("device_type")
    )
    message = "device registered" if result.created else "device already registered"
    return web.json_response(
        {"success": True, "message": message}, status=201 if result.created else 200
    )


async def submit(request: web.Request) -> web.Response:
    body = await _body(request)
    accepted = await request.app[NODE_KEY].submit_data(
        _required(body, "device_id"),
        _required(body, "data"),
        _required(body, "timestamp"),
        body.get("signature"),
    )
    return web.json_response(
        {
            "success": True,
            "message": "data stored",
            "record_id": accepted.record_id,
            "task_id": accepted.task_id,
            "proof_hash": accepted.proof_hash,
            "key_id": accepted.key_id,
            "tx_hash": accepted.tx_hash,
        }
    )


async def status(request: web.Request) -> web.Response:
    return web.json_response(await request.app[NODE_KEY].status())


def create_app(node: NodeApi, *, max_data_bytes: int = 64 * 1024) -> web.Application:
    """The aiohttp application; the body limit leaves room for JSON escaping of the data."""
    app = web.Application(middlewares=[_errors], client_max_size=6 * max_data_bytes + 16 * 1024)
    app[NODE_KEY] = node
    app.router.add_post("/device/register", register)
    app.router.add_post("/device/data", submit)
    app.router.add_get("/status", status)
    return app


class ApiServer:
    """Runs the app on ``host:port`` (port 0: a free port, see :attr:`port`)."""

    def __init__(
        self, node: NodeApi, host: str = "127.0.0.1", port: int = 0, max_data_bytes: int = 65536
    ) -> None:
        self._runner = web.AppRunner(create_app(node, max_data_bytes=max_data_bytes))
        self._host = host
        self._port = port
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self.port}"

    async def __aenter__(self) -> ApiServer:
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        log.info("lcore API listening on %s", self.url)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._runner.cleanup()
