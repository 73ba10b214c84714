"""The outbox's view of ``data_submissions``: due records and commit-status updates.

Everything runs on the storage's writer thread, so a scan always sees every
status update enqueued before it (no stale re-pick of a finished record).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3

from lcore_node import schema
from lcore_node.storage import Storage, SubmissionRow

log = logging.getLogger(__name__)

_SELECT = f"SELECT {schema.SUBMISSION_COLUMNS} FROM data_submissions"
_MARK_SUBMITTED = (
    "UPDATE data_submissions SET commit_status = 'submitted', transaction_hash = ?"
    " WHERE id = ? AND commit_status = 'pending'"
)
_MARK_COMMITTED = (
    "UPDATE data_submissions SET commit_status = 'committed',"
    " transaction_hash = COALESCE(?, transaction_hash), block_number = ?,"
    " attempts = attempts + ?, last_error = NULL WHERE id = ?"
)
_MARK_RETRY = (
    "UPDATE data_submissions SET commit_status = 'pending', attempts = attempts + ?,"
    " last_error = ?, next_attempt_at = ?, transaction_hash = COALESCE(?, transaction_hash)"
    " WHERE id = ?"
)
_MARK_FAILED = (
    "UPDATE data_submissions SET commit_status = 'failed', attempts = attempts + ?,"
    " last_error = ? WHERE id = ?"
)


def _log_write_failure(future: asyncio.Future[None]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.error("commit status update failed: %s", future.exception())


class CommitStore:
    """Commit-state queries and updates of one :class:`Storage`."""

    def __init__(self, storage: Storage) -> None:
        self._storage = storage

    async def due(self, now: float, limit: int) -> tuple[list[SubmissionRow], float | None]:
        """Pending records due at ``now`` (oldest first), and the next due time after now."""

        def job(conn: sqlite3.Connection) -> tuple[list[SubmissionRow], float | None]:
            rows = conn.execute(
                f"{_SELECT} WHERE commit_status = 'pending' AND next_attempt_at <= ?"
                " ORDER BY next_attempt_at, id LIMIT ?",
                (now, limit),
            ).fetchall()
            (next_due,) = conn.execute(
                "SELECT MIN(next_attempt_at) FROM data_submissions"
                " WHERE commit_status = 'pending' AND next_attempt_at > ?",
                (now,),
            ).fetchone()
            return [SubmissionRow(*row) for row in rows], next_due

        return await self._storage.writer.call(job)

    async def submitted(self, after_id: int, limit: int) -> list[SubmissionRow]:
        """Records left 'submitted' (by a previous run), in id order after ``after_id``."""

        def job(conn: sqlite3.Connection) -> list[SubmissionRow]:
            rows = conn.execute(
                f"{_SELECT} WHERE commit_status = 'submitted' AND id > ? ORDER BY id LIMIT ?",
                (after_id, limit),
            ).fetchall()
            return [SubmissionRow(*row) for row in rows]

        return await self._storage.writer.call(job)

    async def outstanding(self) -> int:
        """Records not yet committed or failed."""

        def job(conn: sqlite3.Connection) -> int:
            (count,) = conn.execute(
                "SELECT COUNT(*) FROM data_submissions"
                " WHERE commit_status IN ('pending', 'submitted')"
            ).fetchone()
            return int(count)

        return await self._storage.writer.call(job)

    def mark_submitted(self, record_id: int, tx_hash: str) -> None:
        """Enqueue 'submitted' now (ordered before any later update of this record)."""
        future = self._storage.writer.write(_MARK_SUBMITTED, (tx_hash, record_id))
        future.add_done_callback(_log_write_failure)

    async def mark_committed(
        self, record_id: int, tx_hash: str | None, block_number: int | None, attempt: int
    ) -> None:
        await self._storage.writer.write(
            _MARK_COMMITTED, (tx_hash or None, block_number, attempt, record_id)
        )

    async def mark_retry(
        self, record_id: int, error: str, next_attempt_at: float, tx_hash: str | None
    ) -> None:
        await self._storage.writer.write(
            _MARK_RETRY, (1, error, next_attempt_at, tx_hash or None, record_id)
        )

    async def release_backoff(self) -> int:
        """Every pending record due now (after an outage): how many were waiting."""

        def job(conn: sqlite3.Connection) -> int:
            cursor = conn.execute(
                "UPDATE data_submissions SET next_attempt_at = 0"
                " WHERE commit_status = 'pending' AND next_attempt_at > 0"
            )
            return int(cursor.rowcount)

        return await self._storage.writer.call(job)

    async def mark_failed(self, record_id: int, error: str, attempt: int) -> None:
        await self._storage.writer.write(_MARK_FAILED, (attempt, error, record_id))
