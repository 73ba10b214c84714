"""The outbox: every stored record is committed on chain, exactly once, eventually.

One loop for every commit mode (:mod:`lcore_node.commit_mode`: a record per
``submitResult``, a Merkle batch per ``commitBatch``). Its unit of work (a record or a
batch) moves ``pending -> submitted`` (tx hash, when the mode says it sent)
``-> committed`` (block number). A failed attempt is checked against the chain: the unit
already there means committed (a crash or a duplicate send cannot lose or double it);
something else under its key means failed; otherwise it returns to ``pending`` with a
jittered exponential backoff, or becomes ``failed`` when the error is not retryable or the
attempts are spent. While the chain refuses, the breaker (:mod:`lcore_node.commit_breaker`)
sends one probe at a time. Units left 'submitted' by a previous run are checked at start;
pending ones are simply picked up. At most ``concurrency`` commits are in flight.

After a reorg (:meth:`Outbox.on_reorg`) the units committed in a replaced block go back to
'submitted' and are checked on chain again as at start: the removed commit transaction,
sent again by the engine, usually is in a new block (committed again, with it); one that is
not goes back to pending and is committed again by the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from lcore_node.commit_breaker import CommitBreaker
from lcore_node.commit_mode import CommitMode
from lcore_node.outbox_events import CommitEvents
from lcore_node.outbox_settle import Settle
from lcore_node.outbox_store import Unit, UnitStore
from lcore_node.storage import Storage
from utils.aio import wait_event
from utils.observe.stats import StatsHub

__all__ = ["Outbox", "OutboxSettings"]

log = logging.getLogger(__name__)

P = TypeVar("P")


@dataclass(frozen=True, slots=True)
class OutboxSettings:
    concurrency: int = 64  # commits (records or batches) in flight
    retry_base: float = 1.0
    retry_max: float = 60.0
    max_attempts: int = 0  # 0: retry retryable failures forever
    poll_interval: float = 0.5
    probe_interval: float = 0.5  # while the chain refuses: one probe commit this often

    def backoff(self, attempts: int) -> float:
        """Seconds before attempt ``attempts + 1``: exponential, bounded, jittered."""
        delay = min(self.retry_max, self.retry_base * 2 ** (attempts - 1))
        return delay * random.uniform(0.5, 1.0)


def _log_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("outbox stopped: %r (records stay pending; a restart resumes them)",
                  task.exception())


def _log_repair_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("reorg repair stopped: %r (its units stay 'submitted'; a restart checks "
                  "them)", task.exception())


class Outbox(Generic[P]):
    """Commits stored records through a :class:`CommitMode`: ``start``, ``notify``,
    ``drain``, ``close``."""

    def __init__(
        self, storage: Storage, mode: CommitMode[P], settings: OutboxSettings, *,
        hub: StatsHub | None = None, device_type_of: Callable[[str], str] = lambda _d: "",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._storage = storage
        self._mode = mode
        self._settings = settings
        self._clock = clock
        self._store = UnitStore(storage, mode.table)
        self._events = CommitEvents(hub, device_type_of, clock)
        self._breaker = CommitBreaker(settings.probe_interval)
        self._settle = Settle(self._store, mode, self._events, self._breaker, settings, clock,
                              self._released)
        self._wake = asyncio.Event()
        self._inflight: dict[int, asyncio.Task[None]] = {}
        self._runner: asyncio.Task[None] | None = None
        self._repairs: set[asyncio.Task[None]] = set()
        self._repair_lock = asyncio.Lock()  # one reorg repair at a time, in reorg order
        self._flush = False  # draining: group whatever waits, without waiting to fill up

    @property
    def started(self) -> bool:
        return self._runner is not None

    async def start(self) -> None:
        self._runner = asyncio.create_task(self._run(), name="lcore-outbox")
        self._runner.add_done_callback(_log_crash)

    def notify(self, record_id: int) -> None:
        """Record ``record_id`` was stored (pending): look now rather than at the next poll."""
        self._events.status([record_id], "pending")
        self._wake.set()

    def on_reorg(self, fork_block: int) -> None:
        """Blocks from ``fork_block`` on were replaced: repair the units committed in them
        (a task of the outbox's; nothing once it is closed)."""
        if self._runner is None:
            return
        task = asyncio.create_task(self._repair(fork_block), name="lcore-outbox-reorg")
        self._repairs.add(task)
        task.add_done_callback(self._repairs.discard)
        task.add_done_callback(_log_repair_crash)

    async def drain(self, deadline_s: float) -> int:
        """Keep committing until nothing is outstanding or ``deadline_s`` seconds passed (or
        the runner stopped), then stop. Returns how many records are still outstanding (a
        restart resumes them)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + deadline_s
        self._flush = True
        left = await self._store.outstanding()
        while left and self._runner is not None and not self._runner.done() \
                and loop.time() < deadline:
            self._wake.set()
            await asyncio.sleep(min(0.05, max(0.0, deadline - loop.time())))
            left = await self._store.outstanding()
        await self.close()
        return left

    async def close(self) -> None:
        tasks = [t for t in (self._runner, *self._repairs, *self._inflight.values())
                 if t is not None]
        self._runner = None
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _released(self) -> None:
        self._wake.set()

    async def _run(self) -> None:
        await self._recover()
        while True:
            self._wake.clear()
            wait = await (self._probe() if self._breaker.open else self._launch_due())
            await wait_event(self._wake, wait)

    async def _launch_due(self) -> float:
        """Launch due units, then new ones formed from waiting records, while commits are
        free; returns how long to wait before looking again."""
        free = self._settings.concurrency - len(self._inflight)
        wait = self._settings.poll_interval
        if free <= 0:
            return wait
        now = self._clock()
        units, next_due = await self._store.due(now, free + len(self._inflight))
        for unit in [u for u in units if u.unit_id not in self._inflight][:free]:
            self._launch(unit)
            free -= 1
        next_formed = None
        while free > 0:
            formed, next_formed = await self._mode.form(self._storage, now, self._flush)
            if formed is None:
                break
            self._launch(formed)
            free -= 1
        if free <= 0:
            return 0.0  # there may be more due right now
        for at in (next_due, next_formed):
            if at is not None:
                wait = min(wait, max(0.0, at - now))
        return wait

    async def _probe(self) -> float:
        """With the breaker open: the oldest pending unit, backed off or not (or one formed
        from whatever waits), every ``probe_interval``; returns how long to wait."""
        wait = self._breaker.probe_wait(self._clock(), len(self._inflight))
        if wait is not None:
            return wait
        units, _ = await self._store.due(math.inf, 1)
        probe = units[0] if units else (await self._mode.form(
            self._storage, self._clock(), True))[0]
        if probe is not None:
            self._launch(probe)
        return self._breaker.probe_interval

    def _launch(self, unit: Unit[P]) -> None:
        task = asyncio.create_task(self._settle.commit(unit))
        self._inflight[unit.unit_id] = task

        def done(finished: asyncio.Task[None]) -> None:
            self._inflight.pop(unit.unit_id, None)
            self._wake.set()
            if not finished.cancelled() and finished.exception() is not None:
                log.error("commit of unit %s crashed: %r", unit.unit_id, finished.exception())

        task.add_done_callback(done)

    async def _repair(self, fork_block: int) -> None:
        """Units committed from ``fork_block`` on: 'submitted' again (status ``reorged``),
        then checked on chain; those not there yet are due after a first backoff."""
        async with self._repair_lock:
            units = await self._store.reopen(fork_block)
            if not units:
                return
            log.warning("reorg from block %d: %d committed unit(s) checked on chain again",
                        fork_block, len(units))
            for unit in units:
                self._events.reopened(unit.members)
            retry_at = self._clock() + self._settings.backoff(1)
            step = max(1, self._settings.concurrency)
            for at in range(0, len(units), step):
                await asyncio.gather(*(
                    self._settle.recheck(unit, "its block was replaced by a reorg", retry_at)
                    for unit in units[at:at + step]))
        self._wake.set()

    async def _recover(self) -> None:
        """Units a previous run left 'submitted': on chain already, or back to pending."""
        after = 0
        while units := await self._store.submitted(after, self._settings.concurrency):
            await asyncio.gather(*(self._settle.recheck(unit) for unit in units))
            after = units[-1].unit_id
