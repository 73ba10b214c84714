"""Optional HTTP API of the lcore node, with the original routes and JSON fields.

    POST /device/register {device_id, public_key[, device_type]}
        -> 201 {success, message} (200 when already registered with the same key)
    POST /device/data {device_id, data, timestamp, signature}
        -> 200 {success, message, record_id, task_id, proof_hash, key_id,
               tx_hash (null until the outbox sent the commitment)}
    GET /status -> {status, version, devices, records, pending, submitted, committed, failed, ...}

In legacy mode (:mod:`lcore_node.legacy`) the same routes answer as the original
node did: ``{success, message}`` only, unsigned submissions accepted, and
``/device/data`` says ``"Data submitted; tx 0x…"`` once the commit is sent.

No request yields a 5xx: the body is read within the size limit, decoded as UTF-8
and parsed with bounded nesting and integer length (:mod:`lcore_node.json_guard`)
before anything else sees it. Malformed JSON 400, bad or stale signature 401,
unknown device or route 404, wrong method 405, key conflict or replay 409, too
large 413, invalid fields 422; each body is {success: false, message, error: <code>}.
A failure of the node itself (storage) is a 503; anything unforeseen is logged and
answered 500 ``internal`` in the same shape (the fuzz test asserts it never happens).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from lcore_node.errors import InvalidError, LcoreError, MalformedError, TooLargeError
from lcore_node.http_errors import JsonErrorRunner
from lcore_node.json_guard import JsonDepthError, loads_bounded
from lcore_node.legacy import DEFAULT_WAIT, SentNotifier, dispatch_answer
from lcore_node.types import NodeApi

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LegacyMode:
    """Legacy answers on; ``notifier`` is None when the node has no chain."""

    notifier: SentNotifier | None
    wait: float = DEFAULT_WAIT


NODE_KEY: web.AppKey[NodeApi] = web.AppKey("lcore_node")
LEGACY_KEY: web.AppKey[LegacyMode] = web.AppKey("lcore_legacy")
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
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("unexpected failure answering %s %s", request.method, request.path)
        return _failure(500, "internal error (logged by the node)", "internal")


async def _read(request: web.Request) -> bytes:
    try:
        return await request.read()
    except web.HTTPException:
        raise
    except Exception as exc:  # a broken Content-Encoding, a truncated chunked body, ...
        raise MalformedError(f"request body could not be read: {type(exc).__name__}") from None


async def _body(request: web.Request) -> dict[str, Any]:
    raw = await _read(request)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedError("request body is not UTF-8") from None
    try:
        body = loads_bounded(text)
    except JsonDepthError as exc:
        raise MalformedError(f"request body is {exc}") from None
    except ValueError as exc:
        raise MalformedError(f"request body is not valid JSON ({_short(exc)})") from None
    if not isinstance(body, dict):
        raise InvalidError("request body must be a JSON object")
    return body


def _short(exc: Exception) -> str:
    return str(exc)[:120]


def _required(body: dict[str, Any], field: str) -> Any:
    if field not in body or body[field] is None:
        raise InvalidError("is required", field=field)
    return body[field]


async def register(request: web.Request) -> web.Response:
    body = await _body(request)
    result = await request.app[NODE_KEY].register_device(
        _required(body, "device_id"), _required(body, "public_key"), body.get("device_type")
    )
    if LEGACY_KEY in request.app:  # the original node's words
        message = "Device registered successfully" if result.created else "Already registered"
    else:
        message = "device registered" if result.created else "device already registered"
    return web.json_response(
        {"success": True, "message": message}, status=201 if result.created else 200
    )


async def submit(request: web.Request) -> web.Response:
    body = await _body(request)
    legacy = request.app.get(LEGACY_KEY)
    timestamp = body.get("timestamp") if legacy else _required(body, "timestamp")
    accepted = await request.app[NODE_KEY].submit_data(
        _required(body, "device_id"),
        _required(body, "data"),
        int(time.time()) if timestamp is None else timestamp,
        body.get("signature"),
    )
    if legacy is not None:
        message = await dispatch_answer(legacy.notifier, accepted.task_id, legacy.wait)
        return web.json_response({"success": True, "message": message})
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


def create_app(
    node: NodeApi, *, max_data_bytes: int = 64 * 1024, legacy: LegacyMode | None = None
) -> web.Application:
    """The aiohttp application; the body limit leaves room for JSON escaping of the data."""
    app = web.Application(middlewares=[_errors], client_max_size=6 * max_data_bytes + 16 * 1024)
    app[NODE_KEY] = node
    if legacy is not None:
        app[LEGACY_KEY] = legacy
    app.router.add_post("/device/register", register)
    app.router.add_post("/device/data", submit)
    app.router.add_get("/status", status)
    return app


class ApiServer:
    """Runs the app on ``host:port`` (port 0: a free port, see :attr:`port`).

    No access log unless ``access_log`` (one line per request adds up: 38.6 MB per 252k
    requests)."""

    def __init__(
        self,
        node: NodeApi,
        host: str = "127.0.0.1",
        port: int = 0,
        max_data_bytes: int = 65536,
        *,
        legacy: LegacyMode | None = None,
        access_log: bool = False,
    ) -> None:
        app = create_app(node, max_data_bytes=max_data_bytes, legacy=legacy)
        self._runner = JsonErrorRunner(
            app, access_log=logging.getLogger("aiohttp.access") if access_log else None
        )
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
