"""Batch commitments in SQLite: forming a batch, and its status moving as one.

A batch is formed in one writer job (one SQLite transaction): the oldest pending records
that belong to no batch get a batch id, their leaf index and Merkle proof, and a
``commit_batches`` row holds the root. From then on the batch is the unit: it is
``pending -> submitted -> committed`` (or ``failed``) and every one of its records carries
the same status, transaction and block, updated in the same statement pair. A crash
between the two leaves no half batch: both updates run in one job.
"""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import dataclass

from lcore_node.merkle import leaf_hash, merkle_proof, tree_levels
from lcore_node.storage import Storage

__all__ = ["BatchMember", "BatchRow", "BatchStore"]


@dataclass(frozen=True, slots=True)
class BatchRow:
    batch_id: int
    root: bytes
    size: int
    status: str
    created_at: float
    transaction_hash: str | None
    attempts: int


@dataclass(frozen=True, slots=True)
class BatchMember:
    record_id: int
    device_id: str
    submission_date: float
    data_size: int


_BATCH_COLUMNS = "id, root, size, status, created_at, transaction_hash, attempts"
_UNBATCHED = "commit_status = 'pending' AND batch_id IS NULL"


def _set_status(
    conn: sqlite3.Connection, batch_id: int, status: str, tx_hash: str | None,
    block: int | None, error: str | None, attempts: int, next_at: float = 0.0,
) -> None:
    conn.execute(
        "UPDATE commit_batches SET status = ?, transaction_hash = COALESCE(?, transaction_hash),"
        " block_number = COALESCE(?, block_number), last_error = ?, attempts = attempts + ?,"
        " next_attempt_at = ? WHERE id = ?",
        (status, tx_hash, block, error, attempts, next_at, batch_id),
    )
    conn.execute(
        "UPDATE data_submissions SET commit_status = ?,"
        " transaction_hash = COALESCE(?, transaction_hash),"
        " block_number = COALESCE(?, block_number), last_error = ?, attempts = attempts + ?"
        " WHERE batch_id = ?",
        (status, tx_hash, block, error, attempts, batch_id),
    )


class BatchStore:
    """Batch queries and updates of one :class:`Storage`, on its writer thread."""

    def __init__(self, storage: Storage) -> None:
        self._storage = storage

    async def form(self, max_size: int, max_wait: float, now: float) -> BatchRow | None:
        """Put up to ``max_size`` waiting records in a new batch, when there are ``max_size``
        of them or the oldest has waited ``max_wait`` seconds; else None."""

        def job(conn: sqlite3.Connection) -> BatchRow | None:
            rows = conn.execute(
                f"SELECT id, task_id, proof_hash, submission_date FROM data_submissions"
                f" WHERE {_UNBATCHED} ORDER BY id LIMIT ?",
                (max_size,),
            ).fetchall()
            if not rows or (len(rows) < max_size and rows[0][3] > now - max_wait):
                return None
            levels = tree_levels([leaf_hash(task, proof) for _, task, proof, _ in rows])
            root = levels[-1][0]
            cursor = conn.execute(
                "INSERT INTO commit_batches (root, size, status, created_at)"
                " VALUES (?, ?, 'pending', ?)",
                (root, len(rows), now),
            )
            batch_id = int(cursor.lastrowid or 0)
            conn.executemany(
                "UPDATE data_submissions SET batch_id = ?, leaf_index = ?, merkle_proof = ?"
                " WHERE id = ?",
                [(batch_id, i, merkle_proof(levels, i), row[0]) for i, row in enumerate(rows)],
            )
            return BatchRow(batch_id, root, len(rows), "pending", now, None, 0)

        return await self._storage.writer.call(job)

    async def with_status(self, status: str, now: float, limit: int) -> list[BatchRow]:
        """Batches in ``status`` (pending ones only when due), oldest first."""

        def job(conn: sqlite3.Connection) -> list[BatchRow]:
            rows = conn.execute(
                f"SELECT {_BATCH_COLUMNS} FROM commit_batches WHERE status = ?"
                " AND next_attempt_at <= ? ORDER BY id LIMIT ?",
                (status, now if status == "pending" else float("inf"), limit),
            ).fetchall()
            return [BatchRow(*row) for row in rows]

        return await self._storage.writer.call(job)

    async def release_backoff(self) -> int:
        """Every backed-off pending batch due now (after an outage): how many were waiting."""

        def job(conn: sqlite3.Connection) -> int:
            cursor = conn.execute(
                "UPDATE commit_batches SET next_attempt_at = 0"
                " WHERE status = 'pending' AND next_attempt_at > 0"
            )
            return int(cursor.rowcount)

        return await self._storage.writer.call(job)

    async def waiting_records(self) -> int:
        def job(conn: sqlite3.Connection) -> int:
            (count,) = conn.execute(
                f"SELECT COUNT(*) FROM data_submissions WHERE {_UNBATCHED}"
            ).fetchone()
            return int(count)

        return await self._storage.writer.call(job)

    async def outstanding(self) -> int:
        """Records not yet committed or failed (in a batch or waiting for one)."""

        def job(conn: sqlite3.Connection) -> int:
            (count,) = conn.execute(
                "SELECT COUNT(*) FROM data_submissions"
                " WHERE commit_status IN ('pending', 'submitted')"
            ).fetchone()
            return int(count)

        return await self._storage.writer.call(job)

    def mark(
        self, batch_id: int, status: str, *, tx_hash: str | None = None,
        block: int | None = None, error: str | None = None, attempts: int = 0,
        next_at: float = 0.0,
    ) -> asyncio.Future[None]:
        """Move the batch and all its records to ``status`` together (one job), enqueued
        now: ordered before any later update."""

        def job(conn: sqlite3.Connection) -> None:
            _set_status(conn, batch_id, status, tx_hash, block, error, attempts, next_at)

        return self._storage.writer.call(job)

    async def members(self, batch_id: int) -> list[BatchMember]:
        """The batch's records, in leaf order."""

        def job(conn: sqlite3.Connection) -> list[BatchMember]:
            rows = conn.execute(
                "SELECT id, device_id, submission_date, data_size FROM data_submissions"
                " WHERE batch_id = ? ORDER BY leaf_index",
                (batch_id,),
            ).fetchall()
            return [BatchMember(*row) for row in rows]

        return await self._storage.writer.call(job)
