"""CSV writers subscribed to the stats hub (Locust-style lifecycle).

Each writer opens its file and writes the header when constructed, flushes on
a write when the last flush is at least ``flush_every`` seconds old (and on
:meth:`flush`, which the run calls every second through :func:`flush_periodically`),
and closes at the end. Nothing is opened at import time.

Time columns: see :mod:`utils.observe.tx_rows`.
"""

from __future__ import annotations

import asyncio
import csv
import logging
import os
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TextIO

from utils.observe.aggregate import IOT_TOTAL_STAGE
from utils.observe.csv_rotation import PartArchiver, Rotation, next_part_path
from utils.observe.events import Event, IotEvent, TxEvent
from utils.observe.iot_rows import IOT_COLUMNS, iot_row
from utils.observe.stats import StatsHub
from utils.observe.tx_rows import TX_COLUMNS, iso_utc, tx_row, unix_ms

if TYPE_CHECKING:
    from utils.observe.tally import Tally

__all__ = ["IOT_COLUMNS", "TX_COLUMNS", "CsvFile", "DeviceStatsSink", "IotCsvSink", "TxCsvSink",
           "flush_periodically", "iot_row", "iso_utc", "tx_row", "unix_ms"]

log = logging.getLogger(__name__)

class CsvFile:
    """One CSV file with a header, time-based flushing and an idempotent close; with a
    ``rotation``, numbered gzip parts beside it (:mod:`utils.observe.csv_rotation`)."""

    def __init__(
        self,
        path: Path,
        columns: Sequence[str],
        *,
        flush_every: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        rotation: Rotation | None = None,
    ) -> None:
        self.path = Path(path)
        self.columns = tuple(columns)
        self.rows = 0
        self.parts = 0  # parts rotated away so far
        self._flush_every = flush_every
        self._clock = clock
        self._rotation = rotation
        self._archiver = PartArchiver(self.path, rotation.keep_parts) if rotation else None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file: TextIO | None = None
        self._writer = self._open()
        self._flushed_at = clock()

    def _open(self) -> Any:
        self._file = self.path.open("w", newline="", encoding="utf-8")
        writer = csv.writer(self._file)
        writer.writerow(self.columns)
        self._file.flush()
        self._opened_at = self._clock()
        return writer

    @property
    def closed(self) -> bool:
        return self._file is None

    def write(self, row: Sequence[Any]) -> None:
        if self._file is None:
            log.warning("row dropped: %s is closed", self.path.name)
            return
        self._writer.writerow(row)
        self.rows += 1
        if self._clock() - self._flushed_at >= self._flush_every:
            self.flush()

    def write_text(self, text: str, rows: int) -> None:
        """``rows`` rows already formatted by a ``csv.writer`` (a worker's tally)."""
        if self._file is None:
            log.warning("%d rows dropped: %s is closed", rows, self.path.name)
            return
        self._file.write(text)
        self.rows += rows
        if self._clock() - self._flushed_at >= self._flush_every:
            self.flush()

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()
            self._flushed_at = self._clock()
            size = os.fstat(self._file.fileno()).st_size
            if self._rotation and self._rotation.due(self._flushed_at - self._opened_at, size):
                self.rotate()

    def rotate(self) -> Path:
        """Close the current part, rename it to the next numbered part (gzipped in the
        background) and start a fresh file with the header; return the part's path."""
        assert self._file is not None and self._archiver is not None
        self._file.close()
        part = next_part_path(self.path)
        self.path.replace(part)
        self._archiver.archive(part)
        self.parts += 1
        self._writer = self._open()
        log.info("%s rotated to %s (%s rows so far)", self.path.name, part.name, self.rows)
        return part

    def close(self) -> None:
        if self._file is not None:
            self._file.flush()
            self._file.close()
            self._file = None
        if self._archiver is not None:
            self._archiver.join()


class _RowSink:
    """One CSV row per event of ``event_type``; subclasses name the file and the row."""

    FILENAME: ClassVar[str]
    COLUMNS: ClassVar[tuple[str, ...]]

    def __init__(
        self, run_dir: Path, *, flush_every: float = 1.0, rotation: Rotation | None = None
    ) -> None:
        self.csv = CsvFile(
            Path(run_dir) / self.FILENAME, self.COLUMNS, flush_every=flush_every, rotation=rotation
        )

    def row(self, event: Event) -> list[Any] | None:
        raise NotImplementedError

    def on_event(self, event: Event) -> None:
        row = self.row(event)
        if row is not None:
            self.csv.write(row)

    def flush(self) -> None:
        self.csv.flush()

    def close(self) -> None:
        self.csv.close()


class TxCsvSink(_RowSink):
    """``tx_metrics.csv``: one row per :class:`TxEvent` (final outcome of a transaction)."""

    FILENAME = "tx_metrics.csv"
    COLUMNS = TX_COLUMNS

    def row(self, event: Event) -> list[Any] | None:
        return tx_row(event) if isinstance(event, TxEvent) else None

    def on_tally(self, tally: Tally) -> None:
        if tally.csv_rows:
            self.csv.write_text(tally.csv_text, tally.csv_rows)


class IotCsvSink:
    """``iot_metrics.csv``: one row per IoT operation (see :mod:`utils.observe.iot_rows`).

    Written from each operation's ``total`` event. A submission whose record the node's
    outbox commits (``record_id`` set) is held until that record's ``commit`` event, so
    its row carries the commit too; a row is held at most ``hold`` seconds and at most
    ``max_held`` rows at once (then written with commit_status ``pending``), and every
    held row is written at close. Stage events are not rows of their own.
    """

    FILENAME = "iot_metrics.csv"
    COLUMNS = IOT_COLUMNS

    def __init__(
        self,
        run_dir: Path,
        *,
        flush_every: float = 1.0,
        hold: float = 60.0,
        max_held: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
        rotation: Rotation | None = None,
    ) -> None:
        self.csv = CsvFile(
            Path(run_dir) / self.FILENAME, self.COLUMNS, flush_every=flush_every, rotation=rotation
        )
        self._held: OrderedDict[int, tuple[float, IotEvent]] = OrderedDict()
        self._hold = hold
        self._max_held = max_held
        self._clock = clock

    def on_event(self, event: Event) -> None:
        if not isinstance(event, IotEvent):
            return
        if event.stage == IOT_TOTAL_STAGE:
            if event.record_id is None or not event.success:
                self.csv.write(iot_row(event))
                return
            self._held[event.record_id] = (self._clock(), event)
            if len(self._held) > self._max_held:
                self.csv.write(iot_row(self._held.popitem(last=False)[1][1]))
        elif event.stage == "commit" and event.record_id is not None:
            held = self._held.pop(event.record_id, None)
            if held is not None:
                self.csv.write(iot_row(held[1], event))

    def _release(self, older_than: float) -> None:
        while self._held:
            record_id, (held_at, total) = next(iter(self._held.items()))
            if held_at > older_than:
                break
            del self._held[record_id]
            self.csv.write(iot_row(total))

    def flush(self) -> None:
        self._release(self._clock() - self._hold)
        self.csv.flush()

    def close(self) -> None:
        self._release(float("inf"))
        self.csv.close()


DEVICE_COLUMNS: tuple[str, ...] = (
    "timestamp", "device_id", "device_type", "location", "is_registered",
    "total_submissions", "failed_submissions", "success_rate", "last_submission_timestamp",
)  # fmt: skip


@dataclass(slots=True)
class _Device:
    device_type: str
    is_registered: bool = False
    total_submissions: int = 0
    failed_submissions: int = 0
    last_submission_at: float | None = None

    def row(self, now: float, device_id: str, location: str) -> list[Any]:
        ok = self.total_submissions - self.failed_submissions
        rate = ok / self.total_submissions if self.total_submissions else 0.0
        last = "" if self.last_submission_at is None else iso_utc(self.last_submission_at)
        return [
            iso_utc(now), device_id, self.device_type, location, self.is_registered,
            self.total_submissions, self.failed_submissions, f"{rate:.3f}", last,
        ]  # fmt: skip


class DeviceStatsSink:
    """``device_stats.csv`` with the original system's columns: per-device snapshots.

    Counted from whole IoT operations (stage ``total``). Every ``every`` seconds
    (checked on :meth:`flush`) one row is written per device that changed since
    its last row, and at :meth:`close` a final row for every such device, so the
    last row of each device holds its totals. ``locations`` maps device id to
    location (events carry none); unknown ones are left empty.
    """

    FILENAME = "device_stats.csv"

    def __init__(
        self,
        run_dir: Path,
        *,
        every: float = 60.0,
        locations: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.time,
        rotation: Rotation | None = None,
    ) -> None:
        self.csv = CsvFile(Path(run_dir) / self.FILENAME, DEVICE_COLUMNS, rotation=rotation)
        self.devices: dict[str, _Device] = {}
        self._locations = dict(locations or {})
        self._every = every
        self._clock = clock
        self._dirty: set[str] = set()
        self._snapshot_at = clock()

    def on_event(self, event: Event) -> None:
        if not isinstance(event, IotEvent) or event.stage != IOT_TOTAL_STAGE:
            return
        dev = self.devices.get(event.device_id)
        if dev is None:
            dev = self.devices[event.device_id] = _Device(event.device_type)
        if event.operation == "register":
            dev.is_registered = dev.is_registered or event.success
        else:
            dev.total_submissions += 1
            dev.failed_submissions += 0 if event.success else 1
            dev.last_submission_at = event.timestamp
        self._dirty.add(event.device_id)

    def snapshot(self) -> int:
        """Write one row per changed device now; return how many."""
        now = self._clock()
        for device_id in sorted(self._dirty):
            location = self._locations.get(device_id, "")
            self.csv.write(self.devices[device_id].row(now, device_id, location))
        written = len(self._dirty)
        self._dirty.clear()
        self._snapshot_at = now
        return written

    def flush(self) -> None:
        if self._clock() - self._snapshot_at >= self._every:
            self.snapshot()
        self.csv.flush()

    def close(self) -> None:
        if not self.csv.closed:
            self.snapshot()
        self.csv.close()


async def flush_periodically(hub: StatsHub, every: float = 1.0) -> None:
    """Flush every sink of ``hub`` each ``every`` seconds until cancelled (then once more)."""
    try:
        while True:
            await asyncio.sleep(every)
            _flush(hub)
    finally:
        _flush(hub)


def _flush(hub: StatsHub) -> None:
    try:
        hub.flush()
    except Exception:
        log.exception("flushing the stats sinks failed")
