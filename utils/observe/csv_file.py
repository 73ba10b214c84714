"""One CSV file of a run: its header written at open, time-based flushing, an idempotent
close, and with a ``rotation`` numbered gzip parts beside it
(:mod:`utils.observe.csv_rotation`)."""

from __future__ import annotations

import csv
import logging
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from utils.observe.csv_rotation import PartArchiver, Rotation, next_part_path

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
