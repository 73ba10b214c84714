"""The batch outbox (``--iot-commit batch``): one ``commitBatch(root, size)`` per batch.

Records wait until ``batch_size`` of them are pending or the oldest has waited
``batch_wait`` seconds; then they form a batch (:mod:`lcore_node.batch_store`: leaf index
and Merkle proof stored per record in the same transaction) and the batch's root is
committed in one transaction. A batch moves ``pending -> submitted -> committed`` as a
whole. After a failed send, or for batches a previous run left 'submitted', the chain is
asked (``getBatch(root)``): a root already there is committed (a crash or a duplicate send
cannot lose or double a batch), otherwise the batch is retried with backoff. The interface
is :class:`lcore_node.outbox.Outbox`'s: ``start``, ``notify``, ``drain``, ``close``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from lcore_node.batch_store import BatchRow, BatchStore
from lcore_node.commit_breaker import CommitBreaker
from lcore_node.measure import error_code
from lcore_node.outbox_loop import OutboxLoop
from lcore_node.storage import Storage
from lcore_node.types import CommitOutcome
from utils.aio import wait_event
from utils.observe.events import CommitStatusEvent, IotEvent
from utils.observe.stats import StatsHub

__all__ = ["BatchCommitter", "BatchOutbox", "BatchSettings", "OnChainBatch"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BatchSettings:
    batch_size: int = 1024
    batch_wait: float = 1.0  # seconds the oldest waiting record may wait
    concurrency: int = 8  # batches in flight
    retry_base: float = 1.0
    retry_max: float = 60.0
    max_attempts: int = 0  # 0: retry retryable failures forever
    probe_interval: float = 0.5  # while the chain refuses: one probe batch this often


@dataclass(frozen=True, slots=True)
class OnChainBatch:
    """``getBatch(root)`` of MVPIoTProcessor."""

    size: int
    timestamp: int
    submitter: str


class BatchCommitter(Protocol):
    async def commit_batch(
        self, root: bytes, size: int, on_sent: Callable[[str], None]
    ) -> CommitOutcome: ...

    async def get_batch(self, root: bytes) -> OnChainBatch | None: ...


class BatchOutbox(OutboxLoop):
    """Commits stored records in Merkle batches through a :class:`BatchCommitter`."""

    runner_name = "lcore-batch-outbox"

    def __init__(
        self, storage: Storage, committer: BatchCommitter, settings: BatchSettings, *,
        hub: StatsHub | None = None, device_type_of: Callable[[str], str] = lambda _d: "",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = BatchStore(storage)
        super().__init__(self._store.outstanding)
        self._committer = committer
        self._settings = settings
        self._hub = hub
        self._device_type_of = device_type_of
        self._clock = clock
        self._breaker = CommitBreaker(settings.probe_interval)

    def notify(self, record_id: int) -> None:
        self._status([record_id], "pending")
        self._wake.set()

    def _draining(self) -> None:
        self._settings = _no_wait(self._settings)  # batch whatever waits

    async def _run(self) -> None:
        await self._recover()
        while True:
            self._wake.clear()
            wait = max(0.01, min(0.5, self._settings.batch_wait / 2))
            if self._breaker.open:
                wait = await self._probe()
            else:
                await self._launch_due()
            await wait_event(self._wake, wait)

    async def _probe(self) -> float:
        """With the breaker open: the oldest pending batch (backed off or not, or a new one
        from whatever waits) every ``probe_interval``; returns how long to wait."""
        wait = self._breaker.probe_wait(self._clock(), len(self._inflight))
        if wait is not None:
            return wait
        oldest = await self._store.with_status("pending", math.inf, 1)
        probe = oldest[0] if oldest else await self._store.form(
            self._settings.batch_size, 0.0, self._clock())
        if probe is not None:
            self._launch(probe)
        return self._breaker.probe_interval

    async def _launch_due(self) -> None:
        now = self._clock()
        free = self._settings.concurrency - len(self._inflight)
        if free <= 0:
            return
        for batch in await self._store.with_status("pending", now, free + len(self._inflight)):
            if batch.batch_id not in self._inflight and free > 0:
                self._launch(batch)
                free -= 1
        while free > 0:
            formed = await self._store.form(self._settings.batch_size,
                                            self._settings.batch_wait, now)
            if formed is None:
                return
            self._launch(formed)
            free -= 1

    def _launch(self, batch: BatchRow) -> None:
        task = asyncio.create_task(self._commit(batch))
        self._inflight[batch.batch_id] = task

        def done(finished: asyncio.Task[None]) -> None:
            self._inflight.pop(batch.batch_id, None)
            self._wake.set()
            if not finished.cancelled() and finished.exception() is not None:
                log.error("commit of batch %s crashed: %r", batch.batch_id, finished.exception())

        task.add_done_callback(done)

    async def _recover(self) -> None:
        for batch in await self._store.with_status("submitted", 0.0, 1_000_000):
            if await self._on_chain(batch) is True:
                await self._committed(batch, batch.transaction_hash, None, attempts=0)
            else:
                await self._store.mark(batch.batch_id, "pending", error="re-check after restart")

    async def _commit(self, batch: BatchRow) -> None:
        sent: list[str] = []

        def on_sent(tx_hash: str) -> None:
            sent.append(tx_hash)
            self._store.mark(batch.batch_id, "submitted", tx_hash=tx_hash)

        try:
            outcome = await self._committer.commit_batch(batch.root, batch.size, on_sent)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            outcome = CommitOutcome(False, sent[-1] if sent else "",
                                    None, f"{error_code(exc)}: {exc}", True)
        tx_hash = outcome.tx_hash or (sent[-1] if sent else None)
        if outcome.ok or await self._on_chain(batch) is True:
            await self._committed(batch, tx_hash, outcome.block_number, attempts=1)
            return
        await self._retry_or_fail(batch, outcome, tx_hash)

    async def _retry_or_fail(
        self, batch: BatchRow, outcome: CommitOutcome, tx_hash: str | None
    ) -> None:
        attempts = batch.attempts + 1
        limit = self._settings.max_attempts
        if outcome.retryable and (limit == 0 or attempts < limit):
            self._breaker.trip(outcome.error)
            delay = min(self._settings.retry_max, self._settings.retry_base * 2 ** (attempts - 1))
            next_at = self._clock() + delay * random.uniform(0.5, 1.0)
            await self._store.mark(batch.batch_id, "pending", tx_hash=tx_hash,
                                   error=outcome.error, attempts=1, next_at=next_at)
            members = await self._store.members(batch.batch_id)  # back to pending: retries
            self._status([m.record_id for m in members], "pending")
            log.info("batch %s: commit attempt %s failed: %s", batch.batch_id, attempts,
                     outcome.error)
            return
        await self._store.mark(batch.batch_id, "failed", error=outcome.error, attempts=1)
        members = await self._store.members(batch.batch_id)
        self._status([m.record_id for m in members], "failed")
        log.warning("batch %s commit failed for good: %s", batch.batch_id, outcome.error)

    async def _on_chain(self, batch: BatchRow) -> bool | None:
        try:
            found = await self._committer.get_batch(batch.root)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.info("getBatch for batch %s failed: %s", batch.batch_id, exc)
            return None
        return found is not None and found.size == batch.size

    async def _committed(
        self, batch: BatchRow, tx_hash: str | None, block: int | None, attempts: int
    ) -> None:
        await self._store.mark(batch.batch_id, "committed", tx_hash=tx_hash, block=block,
                               attempts=attempts)
        members = await self._store.members(batch.batch_id)
        self._status([m.record_id for m in members], "committed")
        if self._breaker.reset():
            released = await self._store.release_backoff()
            log.info("the chain takes commits again: %d backed-off batches released", released)
            self._wake.set()
        if self._hub is None:
            return
        now = self._clock()
        for member in members:
            self._hub.emit(IotEvent(
                timestamp=now, device_id=member.device_id,
                device_type=self._device_type_of(member.device_id), operation="submit",
                stage="commit", success=True, latency=max(0.0, now - member.submission_date),
                tx_hash=tx_hash or "", data_size=member.data_size, record_id=member.record_id,
            ))

    def _status(self, record_ids: list[int], status: str) -> None:
        if self._hub is None:
            return
        now = self._clock()
        for record_id in record_ids:
            self._hub.emit(CommitStatusEvent(now, record_id, status))


def _no_wait(settings: BatchSettings) -> BatchSettings:
    return dataclasses.replace(settings, batch_wait=0.0)
