"""The outbox's units of work in SQLite: due units, and the one set of status transitions.

A unit is what one commit puts on chain: a record (a row of ``data_submissions``) or a
batch (a row of ``commit_batches``, its records naming it in ``batch_id``). Whatever the
mode, a unit moves ``pending -> submitted -> committed`` (or ``failed``, or back to
``pending`` with a backoff), and its records carry the same status, transaction and block:
for a batch both tables change in one writer job (no half batch after a crash).

Everything runs on the storage's writer thread, so a scan always sees every status update
enqueued before it (no stale re-pick of a finished unit).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from lcore_node.storage import Storage

__all__ = ["Member", "Unit", "UnitStore", "UnitTable", "load_units"]

log = logging.getLogger(__name__)

P = TypeVar("P")
RECORDS_TABLE = "data_submissions"


@dataclass(frozen=True, slots=True)
class Member:
    """A record a unit commits (what its events name)."""

    record_id: int
    device_id: str
    submission_date: float
    data_size: int


@dataclass(frozen=True, slots=True)
class Unit(Generic[P]):
    """One commit's worth of records; ``payload`` is what the mode puts on chain."""

    unit_id: int
    attempts: int
    transaction_hash: str | None
    members: tuple[Member, ...]
    payload: P


@dataclass(frozen=True, slots=True)
class UnitTable(Generic[P]):
    """Where a mode's units live. ``members_key``: the ``data_submissions`` column naming a
    record's unit (``id`` when the unit is the record itself)."""

    name: str
    status: str
    members_key: str
    payload_columns: str
    payload: Callable[[Sequence[Any]], P]

    def targets(self) -> list[tuple[str, str, str]]:
        """(table, status column, key column) of every row a transition of a unit moves."""
        unit = (self.name, self.status, "id")
        if self.name == RECORDS_TABLE:
            return [unit]
        return [unit, (RECORDS_TABLE, "commit_status", self.members_key)]


def load_units(
    conn: sqlite3.Connection, table: UnitTable[P], rows: Sequence[Sequence[Any]]
) -> list[Unit[P]]:
    """Units from rows of (id, attempts, transaction_hash, *payload columns), with members."""
    if not rows:
        return []
    ids = [row[0] for row in rows]
    members: dict[int, list[Member]] = {}
    found = conn.execute(
        f"SELECT {table.members_key}, id, device_id, submission_date, data_size"
        f" FROM {RECORDS_TABLE} WHERE {table.members_key} IN ({','.join('?' * len(ids))})"
        " ORDER BY id",
        ids,
    )
    for key, *member in found:
        members.setdefault(key, []).append(Member(*member))
    return [
        Unit(row[0], row[1], row[2], tuple(members.get(row[0], ())), table.payload(row[3:]))
        for row in rows
    ]


def _log_write_failure(future: asyncio.Future[None]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.error("commit status update failed: %s", future.exception())


class UnitStore(Generic[P]):
    """Due units and status transitions of one mode's :class:`UnitTable`."""

    def __init__(self, storage: Storage, table: UnitTable[P]) -> None:
        self.storage = storage
        self._table = table
        self._select = (
            f"SELECT id, attempts, transaction_hash, {table.payload_columns} FROM {table.name}"
        )
        self._moves = [_move_sql(*target) for target in table.targets()]
        self._sends = [_send_sql(*target) for target in table.targets()]

    async def due(self, now: float, limit: int) -> tuple[list[Unit[P]], float | None]:
        """Pending units due at ``now`` (longest due first), and the next due time after."""
        table = self._table

        def job(conn: sqlite3.Connection) -> tuple[list[Unit[P]], float | None]:
            rows = conn.execute(
                f"{self._select} WHERE {table.status} = 'pending' AND next_attempt_at <= ?"
                " ORDER BY next_attempt_at, id LIMIT ?",
                (now, limit),
            ).fetchall()
            (next_due,) = conn.execute(
                f"SELECT MIN(next_attempt_at) FROM {table.name}"
                f" WHERE {table.status} = 'pending' AND next_attempt_at > ?",
                (now,),
            ).fetchone()
            return load_units(conn, table, rows), next_due

        return await self.storage.writer.call(job)

    async def submitted(self, after_id: int, limit: int) -> list[Unit[P]]:
        """Units left 'submitted' (by a previous run), in id order after ``after_id``."""

        def job(conn: sqlite3.Connection) -> list[Unit[P]]:
            rows = conn.execute(
                f"{self._select} WHERE {self._table.status} = 'submitted' AND id > ?"
                " ORDER BY id LIMIT ?",
                (after_id, limit),
            ).fetchall()
            return load_units(conn, self._table, rows)

        return await self.storage.writer.call(job)

    async def outstanding(self) -> int:
        """Records not yet committed or failed (whatever their unit)."""

        def job(conn: sqlite3.Connection) -> int:
            (count,) = conn.execute(
                f"SELECT COUNT(*) FROM {RECORDS_TABLE}"
                " WHERE commit_status IN ('pending', 'submitted')"
            ).fetchone()
            return int(count)

        return await self.storage.writer.call(job)

    async def release_backoff(self) -> int:
        """Every backed-off pending unit due now (after an outage): how many were waiting."""
        table = self._table

        def job(conn: sqlite3.Connection) -> int:
            cursor = conn.execute(
                f"UPDATE {table.name} SET next_attempt_at = 0"
                f" WHERE {table.status} = 'pending' AND next_attempt_at > 0"
            )
            return int(cursor.rowcount)

        return await self.storage.writer.call(job)

    async def reopen(self, from_block: int) -> list[Unit[P]]:
        """Units committed in block ``from_block`` or later (blocks a reorg replaced): back to
        'submitted' with their block cleared, unit and records in one job; returns them."""
        table = self._table

        def job(conn: sqlite3.Connection) -> list[Unit[P]]:
            rows = conn.execute(
                f"{self._select} WHERE {table.status} = 'committed' AND block_number >= ?"
                " ORDER BY id", (from_block,),
            ).fetchall()
            if not rows:
                return []
            ids = [row[0] for row in rows]
            marks = ",".join("?" * len(ids))
            for name, status, key in table.targets():
                conn.execute(
                    f"UPDATE {name} SET {status} = 'submitted', block_number = NULL"
                    f" WHERE {key} IN ({marks}) AND {status} = 'committed'", ids,
                )
            return load_units(conn, table, rows)

        return await self.storage.writer.call(job)

    def mark_submitted(self, unit_id: int, tx_hash: str) -> None:
        """Enqueue 'submitted' now (ordered before any later update of this unit); only a
        pending unit moves."""
        future = self._run(self._sends, ("submitted", tx_hash, unit_id))
        future.add_done_callback(_log_write_failure)

    # each of these ends one attempt (attempts + 1)
    async def mark_committed(self, unit_id: int, tx_hash: str | None, block: int | None) -> None:
        await self._move(unit_id, "committed", tx_hash, block, None, 0.0)

    async def mark_retry(
        self, unit_id: int, error: str, next_at: float, tx_hash: str | None
    ) -> None:
        await self._move(unit_id, "pending", tx_hash, None, error, next_at)

    async def mark_failed(self, unit_id: int, error: str) -> None:
        await self._move(unit_id, "failed", None, None, error, 0.0)

    def _move(
        self, unit_id: int, status: str, tx_hash: str | None, block: int | None,
        error: str | None, next_at: float,
    ) -> asyncio.Future[None]:
        return self._run(self._moves, (status, tx_hash or None, block, error, next_at, unit_id))

    def _run(self, updates: list[str], params: tuple[Any, ...]) -> asyncio.Future[None]:
        """The unit and all its records, in one statement or one job (both or neither)."""
        if len(updates) == 1:
            return self.storage.writer.write(updates[0], params)

        def job(conn: sqlite3.Connection) -> None:
            for sql in updates:
                conn.execute(sql, params)

        return self.storage.writer.call(job)


def _move_sql(table: str, status: str, key: str) -> str:
    return (
        f"UPDATE {table} SET {status} = ?, transaction_hash = COALESCE(?, transaction_hash),"
        " block_number = COALESCE(?, block_number), last_error = ?,"
        f" attempts = attempts + 1, next_attempt_at = ? WHERE {key} = ?"
    )


def _send_sql(table: str, status: str, key: str) -> str:
    return (
        f"UPDATE {table} SET {status} = ?, transaction_hash = ?"
        f" WHERE {key} = ? AND {status} = 'pending'"
    )
