"""The lifecycle both outboxes share: one runner task, the commits in flight, a wake event,
and ``start`` / ``drain`` / ``close``. :class:`lcore_node.outbox.Outbox` (a transaction per
record) and :class:`lcore_node.batch_outbox.BatchOutbox` (a Merkle root per batch) differ only
in what their runner does."""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


def _log_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error(
            "outbox stopped: %r (records stay pending; a restart resumes them)", task.exception()
        )


class OutboxLoop(abc.ABC):
    """``outstanding``: how many records are not yet committed or failed."""

    runner_name = "lcore-outbox"

    def __init__(self, outstanding: Callable[[], Awaitable[int]]) -> None:
        self._outstanding = outstanding
        self._wake = asyncio.Event()
        self._inflight: dict[int, asyncio.Task[None]] = {}
        self._runner: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._runner = asyncio.create_task(self._run(), name=self.runner_name)
        self._runner.add_done_callback(_log_crash)

    async def drain(self, deadline_s: float) -> int:
        """Keep committing until nothing is outstanding or ``deadline_s`` seconds passed (or
        the runner stopped), then stop. Returns how many records are still outstanding (a
        restart resumes them)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + deadline_s
        self._draining()
        left = await self._outstanding()
        while left and self._runner is not None and not self._runner.done() \
                and loop.time() < deadline:
            self._wake.set()
            await asyncio.sleep(min(0.05, max(0.0, deadline - loop.time())))
            left = await self._outstanding()
        await self.close()
        return left

    async def close(self) -> None:
        tasks = [t for t in (self._runner, *self._inflight.values()) if t is not None]
        self._runner = None
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _draining(self) -> None:  # noqa: B027 - an optional hook, empty by default
        """Called once when a drain starts (the batch outbox stops waiting for full batches)."""

    @abc.abstractmethod
    async def _run(self) -> None:
        """Commit what is due until cancelled."""
