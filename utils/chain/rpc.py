"""JSON-RPC over HTTP, timed, with retries off.

Every component talks to the chain through one :class:`Rpc`: requests are encoded as
JSON-RPC 2.0 (bytes as 0x-hex, ids counting up, so a batch's replies can be put back in
request order) and POSTed on the Rpc's own keep-alive aiohttp session (no automatic retry,
so failures and latencies are not falsified); each round trip is emitted as an
:class:`~utils.observe.events.RpcEvent`, and errors become typed
:class:`~utils.errors.RpcError`.

Why not web3's ``AsyncHTTPProvider``: it takes a process-wide ``threading.Lock`` through a
thread pool on every request (web3.py issue #3867). That is a thread round trip per call,
and a call cancelled while it waits for the lock (an ``asyncio.wait_for`` deadline, a
cancelled step at shutdown) leaves the lock held forever: every HTTP provider of the process
then hangs. Encoding and decoding used to go through it (without the lock); importing web3
for that cost about 0.1-0.2 s of every start, so it is done here with ``json``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import time
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, Protocol

import aiohttp
import msgspec

from utils.errors import RpcError, RpcReplyError
from utils.observe.events import RpcEvent
from utils.observe.stats import StatsHub

log = logging.getLogger(__name__)

HEADERS = {"Content-Type": "application/json", "User-Agent": "kcstress"}
_request_ids = itertools.count()
#: batch replies as ``json.loads`` reads them (dicts, lists, str, int, float), 4x faster
_decode = msgspec.json.Decoder().decode


class TypedReply(Protocol):
    """A reply decoded by a caller's decoder (see :meth:`Rpc.call`)."""

    @property
    def result(self) -> Any: ...
    @property
    def error(self) -> Any: ...


class _Reply(msgspec.Struct):
    """A reply to one call: its result (any JSON) or its error; other members skipped."""

    result: Any = None
    error: Any = None


_decode_reply = msgspec.json.Decoder(_Reply).decode


def _json_default(value: Any) -> str:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "0x" + bytes(value).hex()
    raise TypeError(f"{type(value).__name__} is not JSON-RPC encodable")


def _request(method: str, params: Sequence[Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "method": method, "params": list(params),
            "id": next(_request_ids)}


_PLAIN = (str, int, bool)


def _plain(params: Sequence[Any]) -> bool:
    """Only strings, ints, bools and None: msgspec's encoder writes them as ``json`` does
    (it writes bytes as base64, where JSON-RPC wants 0x-hex)."""
    return all(p is None or type(p) in _PLAIN for p in params)


def encode_request(method: str, params: Sequence[Any]) -> bytes:
    """One JSON-RPC 2.0 request body (bytes in ``params`` as 0x-hex)."""
    return json.dumps(_request(method, params), separators=(",", ":"),
                      default=_json_default).encode()


def encode_batch(calls: Sequence[tuple[str, Sequence[Any]]]) -> bytes:
    """A batch body; its ids count up in request order. Batches of plain parameters (the
    send lanes' raw transactions) go through msgspec: 0.17 us a call against 1.76."""
    body = [_request(m, p) for m, p in calls]
    if all(_plain(p) for _, p in calls):
        return msgspec.json.encode(body)
    return json.dumps(body, separators=(",", ":"), default=_json_default).encode()


class Rpc:
    """A JSON-RPC connection; use as ``async with Rpc(url, hub) as rpc``."""

    def __init__(
        self,
        url: str,
        hub: StatsHub | None = None,
        *,
        timeout: float = 30.0,
        max_connections: int = 64,
    ) -> None:
        self.url = url
        self._hub = hub
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Rpc:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def open(self) -> None:
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=self._max_connections, keepalive_timeout=30)
            self._session = aiohttp.ClientSession(
                connector=connector,
                raise_for_status=True,
                timeout=self._timeout,
                headers=HEADERS,
            )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _post(self, body: bytes) -> bytes:
        """POST one JSON-RPC body on the session; the reply's body."""
        if self._session is None:
            await self.open()
        assert self._session is not None
        async with self._session.post(self.url, data=body) as response:
            return await response.read()

    def _emit(self, method: str, started: float, ok: bool) -> None:
        if self._hub is not None:
            self._hub.emit(RpcEvent(method, time.perf_counter() - started, ok))

    async def call(self, method: str, *params: Any,
                   decoder: Callable[[bytes], TypedReply] | None = None) -> Any:
        """One request; its ``result``, or RpcError (transport failures included).

        ``decoder``: reads the reply body into an object with ``result`` and ``error``
        attributes (default: any JSON result; a typed msgspec decoder builds only the fields
        the caller reads: utils/chain/trace_outcomes.py); a body it cannot read raises
        :class:`RpcReplyError`."""
        started = time.perf_counter()
        try:
            raw = await self._post(encode_request(method, params))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._emit(method, started, False)
            raise RpcError(method, f"{type(exc).__name__}: {exc}") from exc
        try:
            reply = (decoder or _decode_reply)(raw)
        except Exception as exc:  # not JSON, or not the shape asked for
            self._emit(method, started, False)
            raise RpcReplyError(method, f"{type(exc).__name__}: {exc}") from exc
        self._emit(method, started, reply.error is None)
        if reply.error is not None:
            raise _rpc_error(method, reply.error)
        return reply.result

    async def batch(self, calls: Sequence[tuple[str, Sequence[Any]]]) -> list[Any]:
        """A JSON-RPC batch; per-call results, an RpcError in place of each failed call."""
        if not calls:
            return []
        started = time.perf_counter()
        label = f"batch:{calls[0][0]}"
        try:
            responses = _decode(await self._post(encode_batch(calls)))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._emit(label, started, False)
            raise RpcError(label, f"{type(exc).__name__}: {exc}") from exc
        if not isinstance(responses, list):  # the whole batch was refused
            self._emit(label, started, False)
            raise _rpc_error(label, responses.get("error") or {"message": str(responses)})
        self._emit(label, started, True)
        out: list[Any] = []
        for (method, _), resp in zip(calls, _in_request_order(responses), strict=True):
            err = resp.get("error")
            out.append(_rpc_error(method, err) if err is not None else resp.get("result"))
        return out


def _in_request_order(responses: list[Any]) -> list[Any]:
    """Batch replies may come in any order (JSON-RPC 2.0); request ids count up."""
    if all(isinstance(r, dict) and isinstance(r.get("id"), int) for r in responses):
        return sorted(responses, key=lambda r: r["id"])
    return responses


def _rpc_error(method: str, error: Any) -> RpcError:
    if isinstance(error, dict):
        return RpcError(method, str(error.get("message", error)), error.get("code"))
    return RpcError(method, str(error))


def hex_int(value: Any) -> int:
    """A JSON-RPC quantity as int."""
    if isinstance(value, int):
        return value
    return int(str(value), 16)
