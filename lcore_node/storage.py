"""SQLite storage of the lcore node: devices, encrypted submissions, commit state.

All writes go through one :class:`BatchWriter` thread (group commit); reads
that must see the writer's order (outbox scans) run on that thread too, other
reads use a separate connection in a worker thread. Record ids are allocated
in memory from ``max(id) + 1`` (the id must be known before encryption, since
the associated data binds it); a lock file next to the database makes this
node the only writer.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from lcore_node import schema
from lcore_node.errors import NotFoundError, ReplayError, StorageError
from lcore_node.writer import BatchWriter

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class DeviceRow:
    device_id: str
    public_key: str
    registration_date: float
    device_type: str | None


@dataclass(slots=True)  # not frozen: built once per submission, on the hot path
class NewSubmission:
    record_id: int
    device_id: str
    envelope: bytes
    submission_date: float
    task_id: bytes
    proof_hash: bytes
    key_id: int
    signature: str | None
    data_size: int


@dataclass(frozen=True, slots=True)
class SubmissionRow:
    record_id: int
    device_id: str
    envelope: bytes
    submission_date: float
    task_id: bytes
    proof_hash: bytes
    key_id: int
    commit_status: str
    transaction_hash: str | None
    block_number: int | None
    attempts: int
    last_error: str | None


def _rows(cursor: sqlite3.Cursor) -> list[SubmissionRow]:
    return [SubmissionRow(*row) for row in cursor.fetchall()]


class Storage:
    """One node's database. Use as ``async with Storage(path) as storage``."""

    def __init__(self, path: Path, *, batch_max: int = 512, linger: float = 0.0) -> None:
        self.path = path
        self._batch_max = batch_max
        self._linger = linger
        self._writer: BatchWriter | None = None
        self._reader: sqlite3.Connection | None = None
        self._read_lock = threading.Lock()
        self._lock_fd: int | None = None
        self._next_id = 1
        self.node_id = b""

    async def __aenter__(self) -> Storage:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def open(self, node_id: bytes | None = None) -> None:
        await asyncio.to_thread(self._open_sync, node_id)
        loop = asyncio.get_running_loop()
        self._writer = BatchWriter(
            lambda: schema.connect(self.path), loop, batch_max=self._batch_max, linger=self._linger
        )
        self._writer.start()

    def _open_sync(self, node_id: bytes | None) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock_fd = _acquire_lock(self.path)
        try:
            conn = schema.connect(self.path)
            try:
                schema.create_schema(conn)
                (max_id,) = conn.execute(
                    "SELECT COALESCE(MAX(id), 0) FROM data_submissions"
                ).fetchone()
                self._next_id = int(max_id) + 1
                self.node_id = node_id or _node_id(conn)
            finally:
                conn.close()
            self._reader = schema.connect(self.path, check_same_thread=False)
        except sqlite3.Error as exc:
            os.close(self._lock_fd)
            self._lock_fd = None
            raise StorageError(f"cannot open {self.path}: {exc}") from exc
        except BaseException:
            os.close(self._lock_fd)
            self._lock_fd = None
            raise

    async def close(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.stop()
            await asyncio.to_thread(writer.join)
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the flock
            self._lock_fd = None

    @property
    def writer(self) -> BatchWriter:
        if self._writer is None:
            raise StorageError("storage is not open")
        return self._writer

    def allocate_record_id(self) -> int:
        record_id = self._next_id
        self._next_id += 1
        return record_id

    async def insert_submission(self, row: NewSubmission) -> None:
        """Store one accepted submission; returns once its transaction committed."""
        params = (
            row.record_id,
            row.device_id,
            row.envelope,
            row.submission_date,
            row.task_id,
            row.proof_hash,
            row.key_id,
            row.submission_date,
            row.signature,
            row.data_size,
        )
        try:
            await self.writer.write(schema.INSERT_SUBMISSION, params)
        except sqlite3.IntegrityError as exc:
            raise _submission_conflict(exc, row.device_id) from None

    async def insert_device(
        self, device_id: str, public_key: str, device_type: str | None, now: float
    ) -> tuple[str, bool]:
        """Register a device unless present: (public key stored for it, whether inserted now)."""

        def job(conn: sqlite3.Connection) -> tuple[str, bool]:
            cursor = conn.execute(
                "INSERT OR IGNORE INTO devices (id, public_key, registration_date, device_type)"
                " VALUES (?, ?, ?, ?)",
                (device_id, public_key, now, device_type),
            )
            (stored,) = conn.execute(
                "SELECT public_key FROM devices WHERE id = ?", (device_id,)
            ).fetchone()
            return str(stored), cursor.rowcount == 1

        return await self.writer.call(job)

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run a read-only ``fn`` on the reader connection in a worker thread."""

        def run() -> T:
            with self._read_lock:
                if self._reader is None:
                    raise StorageError("storage is not open")
                return fn(self._reader)

        return await asyncio.to_thread(run)

    async def devices(self) -> list[DeviceRow]:
        return await self.read(
            lambda c: [
                DeviceRow(*row)
                for row in c.execute(
                    "SELECT id, public_key, registration_date, device_type FROM devices"
                )
            ]
        )

    async def submission(self, record_id: int) -> SubmissionRow | None:
        sql = f"SELECT {schema.SUBMISSION_COLUMNS} FROM data_submissions WHERE id = ?"
        rows = await self.read(lambda c: _rows(c.execute(sql, (record_id,))))
        return rows[0] if rows else None

    async def record_ids(self, after: int = 0, limit: int = 1000) -> list[int]:
        sql = "SELECT id FROM data_submissions WHERE id > ? ORDER BY id LIMIT ?"
        return await self.read(lambda c: [r[0] for r in c.execute(sql, (after, limit))])

    async def counts(self) -> dict[str, int]:
        """Devices, records, and records per commit status."""

        def query(conn: sqlite3.Connection) -> dict[str, int]:
            out = dict.fromkeys(schema.STATUSES, 0)
            sql = "SELECT commit_status, COUNT(*) FROM data_submissions GROUP BY commit_status"
            for status, count in conn.execute(sql):
                out[status] = count
            out["records"] = sum(out[s] for s in schema.STATUSES)
            (out["devices"],) = conn.execute("SELECT COUNT(*) FROM devices").fetchone()
            return out

        return await self.read(query)


def _submission_conflict(exc: sqlite3.IntegrityError, device_id: str) -> Exception:
    text = str(exc)
    if "data_submissions.signature" in text:
        return ReplayError("this signature was already accepted", device_id=device_id)
    if "FOREIGN KEY" in text:
        return NotFoundError(f"device {device_id!r} is not registered", device_id=device_id)
    return StorageError(f"insert failed: {text}", device_id=device_id)


def _node_id(conn: sqlite3.Connection) -> bytes:
    conn.execute(
        "INSERT OR IGNORE INTO node_meta (key, value) VALUES ('node_id', ?)", (os.urandom(16),)
    )
    (value,) = conn.execute("SELECT value FROM node_meta WHERE key = 'node_id'").fetchone()
    return bytes(value)


def _acquire_lock(db_path: Path) -> int:
    lock_path = db_path.with_name(db_path.name + ".lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise StorageError(f"{db_path} is in use by another lcore node") from None
    return fd
