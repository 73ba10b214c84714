"""JSON-RPC over HTTP, timed, with transient faults retried.

Every component talks to the chain through one :class:`Rpc`: requests (utils/chain/rpc_codec.py)
are POSTed on the Rpc's own keep-alive aiohttp session; each round trip is emitted as an
:class:`~utils.observe.events.RpcEvent` (with its failure's kind), and every failure becomes a
typed :class:`~utils.errors.RpcError` (utils/chain/rpc_faults.py classifies them).

Retries (utils/chain/rpc_retry.py): a call is tried again after a transient, connection, timeout
or throttled failure, with bounded jittered backoff; ``retry=False`` opts out. A throttled answer
holds the whole Rpc back (Retry-After, or the backoff when it gives none): no request leaves
inside the window. A signed send is idempotent in its raw form: after a lost answer the node is
asked for its hash first (ganache 7 executes every copy it is sent), and when it does not know
it, the send goes again in the same bytes; "already known" / "already imported" for it, or
"nonce too low" when the node has its hash, answers with its hash. With no fault a request
costs one more attribute test than a bare post.

Why not web3's ``AsyncHTTPProvider``: it takes a process-wide ``threading.Lock`` through a
thread pool on every request (web3.py issue #3867), and a call cancelled while it waits for the
lock leaves the lock held forever: every HTTP provider of the process then hangs.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any

import aiohttp

from utils.chain.rpc_codec import (
    TypedReply,
    decode_any,
    decode_reply,
    encode_batch,
    encode_request,
    hex_int,
    in_request_order,
)
from utils.chain.rpc_faults import RETRYABLE, http_error, reply_error, transport_error
from utils.chain.rpc_retry import FaultBook, RetryPolicy, policy_of, worst
from utils.chain.rpc_sends import SEND_RAW, known_sends, settle_sends
from utils.errors import RpcError, RpcReplyError, RpcThrottledError
from utils.observe.events import RpcEvent
from utils.observe.stats import StatsHub

__all__ = ["RetryPolicy", "Rpc", "TypedReply", "hex_int"]

log = logging.getLogger(__name__)

HEADERS = {"Content-Type": "application/json", "User-Agent": "kcstress"}


class Rpc:
    """A JSON-RPC connection; use as ``async with Rpc(url, hub) as rpc``."""

    def __init__(self, url: str, hub: StatsHub | None = None, *, timeout: float = 30.0,
                 max_connections: int = 64, retry: RetryPolicy | None = None) -> None:
        self.url = url
        self.retry = retry or RetryPolicy()
        self._hub = hub
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None
        self._not_before = 0.0  # perf_counter time before which no request leaves (0: none)
        self.requests = 0  # HTTP requests posted
        self.book = FaultBook(time.perf_counter())

    async def __aenter__(self) -> Rpc:
        await self.open()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    async def open(self) -> None:
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=self._max_connections, keepalive_timeout=30)
            self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout,
                                                  headers=HEADERS)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def fault_summary(self) -> dict[str, Any]:
        """Requests, faults by kind, retries, seconds held back (utils/chain/rpc_retry.py)."""
        self.book.requests = self.requests
        return self.book.summary(time.perf_counter())

    async def _post(self, label: str, body: bytes, deadline: float) -> bytes:
        """POST one body; the reply's body, or a typed RpcError."""
        if self._not_before:
            await self._wait_window(label, deadline)
        if self._session is None:
            await self.open()
        assert self._session is not None
        self.requests += 1
        try:
            async with self._session.post(self.url, data=body) as response:
                raw = await response.read()
                if response.status >= 400:
                    raise http_error(label, response.status, raw, response.headers)
                return raw
        except (asyncio.CancelledError, RpcError):
            raise
        except Exception as exc:
            raise transport_error(label, exc, self._timeout.total or 0.0) from exc

    async def _wait_window(self, label: str, deadline: float) -> None:
        """Wait out the provider's window; refuse (not sent) when it outlasts ``deadline``."""
        while (left := self._not_before - time.perf_counter()) > 0:
            if self._not_before > deadline:
                raise RpcThrottledError(label, f"held back: the provider asked for {left:.1f} "
                                        "s more than this call may wait", retry_after=left)
            await asyncio.sleep(left)
        self._not_before = 0.0

    def _hold(self, seconds: float, now: float) -> float:
        """Hold every request back ``seconds`` from ``now``; the seconds the window grew."""
        end = now + seconds
        grew = end - max(now, self._not_before)
        if grew <= 0:
            return 0.0
        self._not_before = end
        self.book.held_seconds += grew
        return grew

    def _emit(self, label: str, started: float, kind: str = "", retried: bool = False,
              held: float = 0.0, held_until: float = 0.0) -> None:
        if self._hub is not None:
            self._hub.emit(RpcEvent(label, time.perf_counter() - started, not kind, kind,
                                    retried, held, held_until))

    async def _fault(self, label: str, exc: RpcError, started: float, first: float,
                     attempt: int, policy: RetryPolicy) -> bool:
        """Count a failed try (request ``label``) and, when it is retried, wait before the next
        one: on its own, or (throttled, or told Retry-After) holding the whole Rpc back."""
        kind = exc.kind
        now = time.perf_counter()
        after = getattr(exc, "retry_after", None)
        wait = policy.delay(attempt) if after is None else after
        retried = (kind in RETRYABLE and attempt < policy.attempts
                   and now + wait <= first + policy.budget)
        self.book.error(kind, retried=retried)
        if kind == "unsupported" and exc.method not in self.book.unsupported:
            self.book.unsupported.add(exc.method)
            log.info("the node does not serve %s (%s)", exc.method, exc.rpc_message[:120])
        shared = kind == "throttled" or after is not None  # holds back every call, retried or not
        held = self._hold(wait, now) if shared else 0.0
        until = time.time() + (self._not_before - time.perf_counter()) if held else 0.0
        self._emit(label, started, kind, retried, held, until)
        if retried and not shared:  # a shared hold is waited out by the next _post
            self.book.backoff_seconds += wait
            await asyncio.sleep(wait)
        return retried

    async def call(self, method: str, *params: Any, retry: bool | RetryPolicy = True,
                   decoder: Callable[[bytes], TypedReply] | None = None) -> Any:
        """One request; its ``result``, or a typed RpcError (transport failures included).

        ``decoder``: reads the reply body into an object with ``result`` and ``error``
        attributes (default: any JSON result; a typed msgspec decoder builds only the fields
        the caller reads: utils/chain/trace_outcomes.py); a body it cannot read raises
        :class:`RpcReplyError`. ``retry``: False for one try only, or a policy of its own."""
        body = encode_request(method, params)
        policy = policy_of(retry, self.retry)
        first = started = time.perf_counter()
        attempt = 1
        while True:
            try:
                result = self._result(method, await self._post(method, body, first + policy.budget),
                                      decoder)
            except RpcError as exc:
                if method == SEND_RAW and exc.kind not in RETRYABLE:
                    return await self._sent_already(params[0], exc, started)
                if not await self._fault(method, exc, started, first, attempt, policy):
                    raise
                attempt += 1
                started = time.perf_counter()
                if method == SEND_RAW and exc.maybe_processed:  # known: not sent again
                    out: list[Any] = [None]
                    if not await self._known(((method, params),), (0,), out):
                        result = out[0]
                        self._emit(method, started)
                        return result
                continue
            self._emit(method, started)
            return result

    @staticmethod
    def _result(method: str, raw: bytes, decoder: Callable[[bytes], TypedReply] | None) -> Any:
        try:
            reply = (decoder or decode_reply)(raw)
        except Exception as exc:  # not JSON, or not the shape asked for
            raise RpcReplyError(method, f"{type(exc).__name__}: {exc}") from exc
        if reply.error is not None:
            raise reply_error(method, reply.error)
        return reply.result

    async def batch(self, calls: Sequence[tuple[str, Sequence[Any]]], *,
                    retry: bool | RetryPolicy = True) -> list[Any]:
        """A JSON-RPC batch; per-call results, a typed RpcError in place of each failed call.
        A failed batch is posted again whole; calls failing transiently inside an answered
        batch are posted again on their own (same bytes for sends)."""
        out: list[Any] = [None] * len(calls)
        policy = policy_of(retry, self.retry)
        todo: Sequence[int] = range(len(calls))
        first = started = time.perf_counter()
        attempt, failed = 1, False
        while True:
            label = f"batch:{calls[todo[0]][0]}"
            try:
                results, failed_now = await self._batch_once(
                    [calls[i] for i in todo], label, first + policy.budget)
            except RpcError as exc:
                if not await self._fault(label, exc, started, first, attempt, policy):
                    if len(todo) == len(calls):
                        raise
                    for i in todo:  # the others were answered in an earlier round
                        out[i] = exc
                    break
                if exc.maybe_processed:  # the sends the node has are not posted again
                    todo = await self._known(calls, todo, out)
                    if not todo:
                        self._emit(label, started)
                        break
            else:
                if len(todo) == len(calls):
                    out = results
                else:
                    for i, result in zip(todo, results, strict=True):
                        out[i] = result
                failed = failed or failed_now
                again = [i for i in todo if isinstance(out[i], RpcError)
                         and out[i].kind in RETRYABLE] if failed_now else []
                if not again:
                    self._emit(label, started)
                    break
                if not await self._fault(label, worst([out[i] for i in again]), started, first,
                                         attempt, policy):
                    break
                todo = again
            attempt += 1
            started = time.perf_counter()
        if failed:
            await self._settle_sends(calls, out)
        return out

    async def _batch_once(self, calls: Sequence[tuple[str, Sequence[Any]]], label: str,
                          deadline: float) -> tuple[list[Any], bool]:
        """One batch request: its per-call answers (an RpcError for each failed call) and
        whether any call failed."""
        try:
            responses = decode_any(await self._post(label, encode_batch(calls), deadline))
        except RpcError:
            raise
        except Exception as exc:  # not JSON
            raise RpcReplyError(label, f"{type(exc).__name__}: {exc}") from exc
        if not isinstance(responses, list):  # the whole batch was refused
            error = responses.get("error") if isinstance(responses, dict) else None
            raise reply_error(label, error or {"message": str(responses)[:200]})
        if len(responses) != len(calls):
            raise RpcReplyError(label, f"{len(responses)} replies to {len(calls)} calls")
        out: list[Any] = []
        failed = False
        for (method, _), reply in zip(calls, in_request_order(responses), strict=True):
            error = reply.get("error") if isinstance(reply, dict) else {"message": str(reply)}
            if error is None:
                out.append(reply.get("result"))
            else:
                out.append(reply_error(method, error))
                failed = True
        return out, failed

    async def _sent_already(self, raw: Any, exc: RpcError, started: float) -> str:
        """Our send's hash when the node has it already; else ``exc`` (counted) raised."""
        out: list[Any] = [exc]
        if await self._settle_sends([(SEND_RAW, [raw])], out):
            self._emit(SEND_RAW, started)
            return str(out[0])
        self.book.error(exc.kind, retried=False)
        self._emit(SEND_RAW, started, exc.kind)
        raise exc

    async def _known(self, calls: Sequence[tuple[str, Sequence[Any]]], todo: Sequence[int],
                     out: list[Any]) -> list[int]:
        """After a lost answer: the calls of ``todo`` still to post (sends the node has are
        answered in ``out`` with their hash, counted as known)."""
        left = await known_sends(self, calls, todo, out)
        self.book.sends_known += len(todo) - len(left)
        return left

    async def _settle_sends(self, calls: Sequence[tuple[str, Sequence[Any]]],
                            out: list[Any]) -> int:
        """Sends refused as known (ours: sent), or "nonce too low" where the node has our hash,
        answered with their hash; how many."""
        settled = await settle_sends(self, calls, out)
        self.book.sends_known += settled
        return settled
