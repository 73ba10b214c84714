"""The outbox: every stored record is committed on chain, exactly once, eventually.

A record moves ``pending -> submitted`` (tx hash, when the committer says it
sent) ``-> committed`` (block number). A failed attempt is checked against
the chain with ``get_result``: the same envelope already there means
committed (a crash or a duplicate send cannot lose or double a record);
otherwise the record returns to ``pending`` with exponential backoff, or
becomes ``failed`` when the error is not retryable. Records left 'submitted'
by a previous run are checked with ``get_result`` at start; pending ones are
simply picked up. A record found on chain that way is stored with the transaction
and block that committed it (``find_commit`` of the committer, when it has one),
not with a later duplicate send that reverted. At most ``concurrency`` commits are
in flight.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from lcore_node.commit_breaker import CommitBreaker
from lcore_node.measure import error_code
from lcore_node.outbox_loop import OutboxLoop
from lcore_node.outbox_store import CommitStore
from lcore_node.reconcile import ChainView
from lcore_node.storage import Storage, SubmissionRow
from lcore_node.types import CommitOutcome, OnChainResult, ResultCommitter
from utils.aio import wait_event
from utils.observe.events import CommitStatusEvent, IotEvent
from utils.observe.stats import StatsHub

__all__ = ["CommitOutcome", "OnChainResult", "Outbox", "OutboxSettings", "ResultCommitter"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class OutboxSettings:
    concurrency: int = 64
    retry_base: float = 1.0
    retry_max: float = 60.0
    max_attempts: int = 0  # 0: retry retryable failures forever
    poll_interval: float = 0.5
    probe_interval: float = 0.5  # while the chain refuses: one probe commit this often


class Outbox(OutboxLoop):
    """Commits stored records through a :class:`ResultCommitter`."""

    def __init__(
        self,
        storage: Storage,
        committer: ResultCommitter,
        settings: OutboxSettings,
        *,
        hub: StatsHub | None = None,
        device_type_of: Callable[[str], str] = lambda _device_id: "",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = CommitStore(storage)
        super().__init__(self._store.outstanding)
        self._committer = committer
        self._chain = ChainView(committer)
        self._settings = settings
        self._hub = hub
        self._device_type_of = device_type_of
        self._clock = clock
        self._breaker = CommitBreaker(settings.probe_interval)

    def notify(self, record_id: int) -> None:
        """Record ``record_id`` was stored (pending): scan now rather than at the next poll."""
        self._status(record_id, "pending")
        self._wake.set()

    async def _run(self) -> None:
        await self._recover()
        while True:
            self._wake.clear()
            wait = self._settings.poll_interval
            free = self._settings.concurrency - len(self._inflight)
            if self._breaker.open:
                wait = await self._probe()
            elif free > 0:
                now = self._clock()
                rows, next_due = await self._store.due(now, free + len(self._inflight))
                fresh = [r for r in rows if r.record_id not in self._inflight][:free]
                for row in fresh:
                    self._launch(row.record_id, self._commit_one(row))
                if len(fresh) == free:
                    continue  # there may be more due right now
                if next_due is not None:
                    wait = min(wait, max(0.0, next_due - now))
            await wait_event(self._wake, wait)

    async def _probe(self) -> float:
        """With the breaker open: the oldest pending record, backed off or not, every
        ``probe_interval``; returns how long to wait before looking again."""
        wait = self._breaker.probe_wait(self._clock(), len(self._inflight))
        if wait is not None:
            return wait
        rows, _ = await self._store.due(math.inf, 1)
        if rows:
            self._launch(rows[0].record_id, self._commit_one(rows[0]))
        return self._breaker.probe_interval

    def _launch(self, record_id: int, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._inflight[record_id] = task

        def done(_task: asyncio.Task[None]) -> None:
            self._inflight.pop(record_id, None)
            self._wake.set()
            if not _task.cancelled() and _task.exception() is not None:
                log.error("commit of record %s crashed: %r", record_id, _task.exception())

        task.add_done_callback(done)

    async def _recover(self) -> None:
        """Records a previous run left 'submitted': on chain already, or back to pending."""
        after = 0
        while rows := await self._store.submitted(after, self._settings.concurrency):
            await asyncio.gather(*(self._recheck(row) for row in rows))
            after = rows[-1].record_id

    async def _recheck(self, row: SubmissionRow) -> None:
        found = await self._chain.lookup(row)
        if found == "match":
            tx_hash, block = await self._chain.locate(row, [row.transaction_hash or ""])
            await self._committed(row, tx_hash, block, attempt=0)
        elif found == "other":
            await self._failed(row, "task id holds a different result on chain", attempt=0)
        else:
            await self._store.mark_retry(row.record_id, "re-check after restart", 0.0, None)
            self._status(row.record_id, "pending")

    async def _commit_one(self, row: SubmissionRow) -> None:
        sent: list[str] = []

        def on_sent(tx_hash: str) -> None:
            sent.append(tx_hash)
            self._store.mark_submitted(row.record_id, tx_hash)
            self._status(row.record_id, "submitted")

        try:
            outcome = await self._committer.commit(
                row.task_id, row.envelope, row.proof_hash, on_sent
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            last = sent[-1] if sent else ""
            outcome = CommitOutcome(False, last, None, f"{error_code(exc)}: {exc}", True)
        tx_hash = outcome.tx_hash or (sent[-1] if sent else None)
        if outcome.ok:
            await self._committed(row, tx_hash, outcome.block_number, attempt=1)
        else:
            await self._after_failure(row, outcome, tx_hash, was_sent=bool(sent))

    async def _after_failure(
        self, row: SubmissionRow, outcome: CommitOutcome, tx_hash: str | None, was_sent: bool
    ) -> None:
        found = await self._chain.lookup(row)
        if found == "match":
            # e.g. an earlier send landed after its timeout and this one reverted: record
            # the transaction that did commit, not the last one sent
            candidates = [tx_hash or "", row.transaction_hash or ""]
            located, block = await self._chain.locate(row, candidates)
            await self._committed(row, located, block, attempt=1)
            return
        if found == "other":
            await self._failed(row, "task id holds a different result on chain", attempt=1)
            return
        attempts = row.attempts + 1
        limit = self._settings.max_attempts
        if (outcome.retryable or found == "unknown") and (limit == 0 or attempts < limit):
            self._breaker.trip(outcome.error)
            delay = min(self._settings.retry_max, self._settings.retry_base * 2 ** (attempts - 1))
            next_at = self._clock() + delay * random.uniform(0.5, 1.0)
            await self._store.mark_retry(row.record_id, outcome.error, next_at, tx_hash)
            self._status(row.record_id, "pending")  # back to pending: counted as a retry
            log.debug(
                "record %s: commit attempt %s failed: %s", row.record_id, attempts, outcome.error
            )
            return
        await self._failed(row, outcome.error or "commit failed", attempt=1)

    async def _committed(
        self, row: SubmissionRow, tx_hash: str | None, block: int | None, attempt: int
    ) -> None:
        await self._store.mark_committed(row.record_id, tx_hash, block, attempt)
        self._status(row.record_id, "committed")
        if self._breaker.reset():
            released = await self._store.release_backoff()
            log.info("the chain takes commits again: %d backed-off records released", released)
            self._wake.set()
        self._commit_event(row, True, tx_hash or "")

    async def _failed(self, row: SubmissionRow, error: str, attempt: int) -> None:
        await self._store.mark_failed(row.record_id, error, attempt)
        self._status(row.record_id, "failed")
        self._commit_event(row, False, row.transaction_hash or "", error)
        log.warning("record %s commit failed for good: %s", row.record_id, error)

    def _status(self, record_id: int, status: str) -> None:
        if self._hub is not None:
            self._hub.emit(CommitStatusEvent(self._clock(), record_id, status))

    def _commit_event(self, row: SubmissionRow, ok: bool, tx_hash: str, error: str = "") -> None:
        if self._hub is None:
            return
        now = self._clock()
        self._hub.emit(
            IotEvent(
                timestamp=now,
                device_id=row.device_id,
                device_type=self._device_type_of(row.device_id),
                operation="submit",
                stage="commit",
                success=ok,
                latency=max(0.0, now - row.submission_date),
                tx_hash=tx_hash,
                error=error,
                data_size=len(row.envelope),
                record_id=row.record_id,
            )
        )
