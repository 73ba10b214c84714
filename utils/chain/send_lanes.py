"""Sends (and a sender's nonce reads) batched into JSON-RPC batch requests, in lanes that keep
each sender's order.

A sender is bound to one lane for its life. A lane posts one request at a time, its calls in
the order they were queued, so a sender's transactions reach the node in nonce order (geth and
Nitro handle a batch's calls in order, as does the embedded chain; anvil holds a gapped nonce
until the gap fills). The lanes are in flight at the same time, and whatever queued while a
lane's request was out goes in its next one: under load batches grow by themselves, when idle a
call goes out alone at once.

Deadlines: a call whose deadline has passed before its request goes out is not sent and ends
with :class:`UnsentTimeout`; a request without an answer by the earliest deadline among its calls
ends all of them with :class:`RpcTimeout` (the node may have processed them). A call's future
always gets a value: the result, or the :class:`RpcError` (never raised into the future, so a
caller that went away leaves no unretrieved exception behind).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from utils.chain.rpc import Rpc
from utils.errors import RpcError, RpcTimeout

log = logging.getLogger(__name__)

MAX_BATCH = 200  # geth (so Nitro) takes 1,000 calls; anvil answers other calls sooner at 200
MIN_REQUEST_TIMEOUT = 0.25  # seconds a request gets even when its earliest deadline is near


class UnsentTimeout(RpcTimeout):
    """The call never went out (its deadline passed first, or the engine stopped): the node
    has not seen it."""

    def __init__(self, method: str, message: str = "deadline passed before it was sent") -> None:
        super(RpcTimeout, self).__init__(method, message)


@dataclass(slots=True)
class Call:
    method: str
    params: list[Any]
    deadline: float  # event-loop time
    done: Callable[[Any], None] | None  # gets the result or the RpcError, once


class SendLanes:
    """``lanes.call(lane, method, params, deadline)`` -> future of the result or RpcError."""

    def __init__(self, rpc: Rpc, lanes: int = 4, max_batch: int = MAX_BATCH) -> None:
        self._rpc = rpc
        self._queues: list[deque[Call]] = [deque() for _ in range(lanes)]
        self._wake = [asyncio.Event() for _ in range(lanes)]
        self._max_batch = max_batch
        self._tasks: list[asyncio.Task[None]] = []
        self._next_lane = 0
        self.requests = 0  # HTTP requests posted (for benchmarks)
        self.calls = 0

    def assign(self) -> int:
        """A lane for a new sender (round robin)."""
        lane = self._next_lane
        self._next_lane = (lane + 1) % len(self._queues)
        return lane

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._run(i), name=f"send-lane-{i}")
                       for i in range(len(self._queues))]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        for queue in self._queues:
            while queue:
                _settle(queue.popleft(), UnsentTimeout("send", "engine stopped before sending"))

    def call(
        self, lane: int, method: str, params: list[Any], deadline: float
    ) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.send(lane, method, params, deadline,
                  lambda result: None if future.done() else future.set_result(result))
        return future

    def send(self, lane: int, method: str, params: list[Any], deadline: float,
             done: Callable[[Any], None]) -> None:
        """:meth:`call` without a future: ``done(result or RpcError)`` is called as the answer
        is read (no callback scheduled through the event loop, no future per call)."""
        self._queues[lane].append(Call(method, params, deadline, done))
        self._wake[lane].set()

    async def _run(self, lane: int) -> None:
        queue, wake = self._queues[lane], self._wake[lane]
        loop = asyncio.get_running_loop()
        while True:
            if not queue:
                wake.clear()
                await wake.wait()
            batch = [queue.popleft() for _ in range(min(len(queue), self._max_batch))]
            now = loop.time()
            live = []
            for call in batch:
                if call.deadline > now:
                    live.append(call)
                else:
                    _settle(call, UnsentTimeout(call.method))
            if live:
                await self._post(live, max(MIN_REQUEST_TIMEOUT,
                                           min(c.deadline for c in live) - now))

    async def _post(self, calls: list[Call], timeout: float) -> None:
        self.requests += 1
        self.calls += len(calls)
        try:
            async with asyncio.timeout(timeout):
                results = await self._send(calls)
        except TimeoutError:
            results = [RpcTimeout(c.method, timeout) for c in calls]
        except RpcError as exc:  # transport failure, or the whole batch refused
            results = [exc] * len(calls)
        except asyncio.CancelledError:
            for call in calls:
                _settle(call, RpcError(call.method, "engine stopped while sending"))
            raise
        for call, result in zip(calls, results, strict=True):
            _settle(call, result)

    async def _send(self, calls: list[Call]) -> list[Any]:
        if len(calls) == 1:
            try:
                return [await self._rpc.call(calls[0].method, *calls[0].params)]
            except RpcError as exc:
                return [exc]
        return await self._rpc.batch([(c.method, c.params) for c in calls])


def _settle(call: Call, result: Any) -> None:
    done, call.done = call.done, None  # once
    if done is not None:
        try:
            done(result)
        except Exception:  # a bug in the caller's callback: logged, the other calls go on
            log.exception("send lanes: %s callback failed", call.method)
