"""Batches in SQLite: the batch commit mode's units, and how waiting records form one.

A batch is formed in one writer job (one SQLite transaction): the oldest pending records
that belong to no batch get a batch id, their leaf index and Merkle proof, and a
``commit_batches`` row holds the root. From then on the batch is the unit: its status
moves through :class:`lcore_node.outbox_store.UnitStore`'s transitions, which move its
records with it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lcore_node.merkle import leaf_hash, merkle_proof, tree_levels
from lcore_node.outbox_store import Unit, UnitTable, load_units
from lcore_node.storage import Storage

__all__ = ["BATCHES", "BatchPayload", "form_batch"]


@dataclass(frozen=True, slots=True)
class BatchPayload:
    root: bytes
    size: int


def _payload(row: Sequence[Any]) -> BatchPayload:
    return BatchPayload(bytes(row[0]), int(row[1]))


BATCHES = UnitTable("commit_batches", "status", "batch_id", "root, size", _payload)

_WAITING = "commit_status = 'pending' AND batch_id IS NULL"


async def form_batch(
    storage: Storage, max_size: int, max_wait: float, now: float
) -> tuple[Unit[BatchPayload] | None, float | None]:
    """Put up to ``max_size`` waiting records in a new batch when there are ``max_size`` of
    them or the oldest has waited ``max_wait`` seconds; else (None, when the oldest will have
    waited that long, or None if no record waits)."""

    def job(conn: sqlite3.Connection) -> tuple[Unit[BatchPayload] | None, float | None]:
        rows = conn.execute(
            f"SELECT id, task_id, proof_hash, submission_date FROM data_submissions"
            f" WHERE {_WAITING} ORDER BY id LIMIT ?",
            (max_size,),
        ).fetchall()
        if not rows:
            return None, None
        if len(rows) < max_size and rows[0][3] > now - max_wait:
            return None, rows[0][3] + max_wait
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
        return load_units(conn, BATCHES, [(batch_id, 0, None, root, len(rows))])[0], None

    return await storage.writer.call(job)
