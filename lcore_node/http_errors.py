"""JSON error bodies for what aiohttp answers before the application sees a request.

aiohttp refuses malformed HTTP itself (an unknown method, a bad header, a broken
chunked body: 400 in plain text from its protocol handler) and answers an unknown
``Expect`` with a plain-text 417 before any middleware runs. :class:`JsonErrorRunner`
is an ``AppRunner`` whose server answers those in the API's shape too,
``{success: false, message, error}``, with the same status codes.

It relies on two aiohttp internals (``AppRunner._make_server`` and the server's
``__call__`` making a ``RequestHandler``); ``tests/test_lcore_fuzz.py`` checks the
answers, so an aiohttp upgrade that changes them fails there, not in production.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

Handler = Callable[[BaseRequest], Awaitable[web.StreamResponse]]


def error_body(status: int, message: str) -> web.Response:
    code = "malformed" if status == 400 else "http"
    body = {"success": False, "message": message, "error": code}
    return web.Response(status=status, text=json.dumps(body), content_type="application/json")


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "error"


class _JsonErrorHandler(RequestHandler):
    """aiohttp's protocol handler; its own error answers become JSON."""

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        plain = super().handle_error(request, status, exc, message)  # logs; may raise
        reason = str(exc) if exc is not None else _phrase(plain.status)
        text = " ".join(f"{_phrase(plain.status)}: {reason}".split())
        resp = error_body(plain.status, text[:300])
        resp.force_close()
        return resp


class _JsonErrorServer(web.Server):
    def __call__(self) -> RequestHandler:
        return _JsonErrorHandler(self, loop=self._loop, **self._kwargs)


def _json_http_exceptions(inner: Handler) -> Handler:
    async def handle(request: BaseRequest) -> web.StreamResponse:
        try:
            return await inner(request)
        except asyncio.CancelledError:
            raise
        except web.HTTPException as exc:  # e.g. the 417 of an unknown Expect
            if exc.status < 400:
                raise
            return error_body(exc.status, exc.text or exc.reason)

    return handle


class JsonErrorRunner(web.AppRunner):
    """``web.AppRunner`` whose protocol-level and pre-middleware errors are JSON."""

    async def _make_server(self) -> web.Server:
        server: Any = await super()._make_server()
        if type(server) is web.Server:
            server.__class__ = _JsonErrorServer
            server.request_handler = _json_http_exceptions(server.request_handler)
        return server
