"""Group commit: one thread owns the SQLite write connection.

Callers on the event loop enqueue statements and get an asyncio future back.
Statements enqueued during one event-loop iteration are handed to the thread
together (one queue put, one thread wake-up: per-statement wake-ups cost more
in GIL hand-offs than the inserts themselves). The writer thread takes
everything queued (up to about ``batch_max``), runs it in ONE transaction and
resolves each future only after that transaction committed, so an
acknowledged write is a durable write and the event loop never waits on
SQLite. Consecutive statements with the same SQL run as one
``executemany``; if one row breaks a constraint, that group is redone row by
row so only the offending row fails.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from lcore_node.errors import StorageError

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(slots=True)
class _Write:
    sql: str
    params: Sequence[Any]
    future: asyncio.Future[Any]


@dataclass(slots=True)
class _Job:
    fn: Callable[[sqlite3.Connection], Any]
    future: asyncio.Future[Any]


_Item = _Write | _Job
_STOP = object()


class BatchWriter:
    """The single writer thread of one database."""

    def __init__(
        self,
        connect: Callable[[], sqlite3.Connection],
        loop: asyncio.AbstractEventLoop,
        *,
        batch_max: int = 512,
        linger: float = 0.0,
    ) -> None:
        self._connect = connect
        self._loop = loop
        self._batch_max = batch_max
        self._linger = linger
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._outgoing: list[_Item] = []
        self._thread = threading.Thread(target=self._run, name="lcore-writer", daemon=True)
        self._closed = False
        self.batches = 0
        self.rows = 0

    def start(self) -> None:
        self._thread.start()

    def write(self, sql: str, params: Sequence[Any]) -> asyncio.Future[None]:
        """Run one statement in the next batch; the future resolves once committed."""
        future: asyncio.Future[None] = self._loop.create_future()
        self._put(_Write(sql, params, future))
        return future

    def call(self, fn: Callable[[sqlite3.Connection], T]) -> asyncio.Future[T]:
        """Run ``fn(conn)`` inside the next batch (in a savepoint); resolves after commit."""
        future: asyncio.Future[T] = self._loop.create_future()
        self._put(_Job(fn, future))
        return future

    def _put(self, item: _Item) -> None:
        if self._closed:
            raise StorageError("storage is closed")
        if not self._outgoing:
            self._loop.call_soon(self._hand_over)
        self._outgoing.append(item)

    def _hand_over(self) -> None:
        items, self._outgoing = self._outgoing, []
        if items:
            self._queue.put(items)

    def stop(self) -> None:
        """Refuse new statements; the thread finishes what was enqueued, then exits.

        Call on the event loop thread (statements of the current iteration are
        handed over first), then :meth:`join` (blocking: via ``to_thread``).
        """
        if not self._closed:
            self._closed = True
            self._hand_over()
            self._queue.put(_STOP)

    def join(self) -> None:
        self._thread.join()

    def _run(self) -> None:
        conn = self._connect()
        try:
            while True:
                batch, stop = self._collect()
                if batch:
                    results = self._apply(conn, batch)
                    self.batches += 1
                    self.rows += len(batch)
                    self._loop.call_soon_threadsafe(_deliver, batch, results)
                if stop:
                    return
        except RuntimeError:  # the loop closed under us: nobody is waiting any more
            log.warning("event loop closed while the writer was running")
        finally:
            conn.close()

    def _collect(self) -> tuple[list[_Item], bool]:
        first = self._queue.get()
        if first is _STOP:
            return [], True
        batch: list[_Item] = list(first)  # type: ignore[call-overload]
        deadline = time.monotonic() + self._linger
        while len(batch) < self._batch_max:
            try:
                items = self._queue.get_nowait()
            except queue.Empty:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    items = self._queue.get(timeout=remaining)
                except queue.Empty:
                    break
            if items is _STOP:
                return batch, True
            batch.extend(items)  # type: ignore[arg-type]
        return batch, False

    def _apply(self, conn: sqlite3.Connection, batch: list[_Item]) -> list[object]:
        results: list[object] = [None] * len(batch)
        try:
            conn.execute("BEGIN")
            i = 0
            while i < len(batch):
                item = batch[i]
                if isinstance(item, _Job):
                    results[i] = _run_job(conn, item)
                    i += 1
                    continue
                j = i + 1
                while j < len(batch) and _same_write(batch[j], item.sql):
                    j += 1
                _run_group(conn, batch[i:j], results, i)
                i = j
            conn.execute("COMMIT")
        except Exception as exc:  # the whole transaction is lost: every caller learns it
            log.error("write batch of %s failed: %s", len(batch), exc)
            _rollback(conn)
            return [StorageError(f"write failed: {exc}") for _ in batch]
        return results


def _rollback(conn: sqlite3.Connection) -> None:
    try:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
    except sqlite3.Error as exc:
        log.error("rollback failed: %s", exc)


def _same_write(item: _Item, sql: str) -> bool:
    return isinstance(item, _Write) and item.sql == sql


def _run_job(conn: sqlite3.Connection, job: _Job) -> object:
    conn.execute("SAVEPOINT job")
    try:
        result = job.fn(conn)
    except Exception as exc:
        conn.execute("ROLLBACK TO job")
        conn.execute("RELEASE job")
        if isinstance(exc, sqlite3.Error) and not isinstance(exc, sqlite3.IntegrityError):
            raise
        return exc
    conn.execute("RELEASE job")
    return result


def _run_group(
    conn: sqlite3.Connection, group: Sequence[_Item], results: list[object], offset: int
) -> None:
    writes = [item for item in group if isinstance(item, _Write)]
    sql = writes[0].sql
    if len(writes) > 1:
        conn.execute("SAVEPOINT grp")
        try:
            conn.executemany(sql, [w.params for w in writes])
            conn.execute("RELEASE grp")
            return
        except sqlite3.IntegrityError:
            conn.execute("ROLLBACK TO grp")
            conn.execute("RELEASE grp")
    for k, write in enumerate(writes):
        try:
            conn.execute(sql, write.params)
        except sqlite3.IntegrityError as exc:  # only this statement is rolled back
            results[offset + k] = exc


def _deliver(batch: list[_Item], results: list[object]) -> None:
    for item, result in zip(batch, results, strict=True):
        if item.future.done():
            continue
        if isinstance(result, BaseException):
            item.future.set_exception(result)
        else:
            item.future.set_result(result)
