"""Rotation of the per-transaction and per-IoT-operation CSVs, so a run without an end stays
bounded on disk.

The file being written keeps its name (``tx_metrics.csv``). When it has been open
``every_seconds`` or has grown past ``max_bytes`` (checked on each flush, about once a
second), it is closed and renamed to the next numbered part (``tx_metrics.0001.csv``), a
fresh file with the header takes its place, and a background thread gzips the part
(``tx_metrics.0001.csv.gz``; written to ``.tmp`` first, so a part is either the plain file or
a complete archive). At most ``keep_parts`` compressed parts are kept, the oldest deleted.
Every part has its own header: each is a valid CSV. A run shorter than the rotation
thresholds keeps its single file. :func:`csv_parts` lists a file's parts in order for
readers (``main.py report``).
"""

from __future__ import annotations

import gzip
import logging
import re
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

log = logging.getLogger(__name__)

MB = 1024 * 1024


@dataclass(frozen=True)
class Rotation:
    """When a CSV starts a new part (0 disables a threshold) and how many parts are kept."""

    every_seconds: float = 3600.0
    max_bytes: int = 256 * MB
    keep_parts: int = 168  # a week of hourly parts; 0 = keep all

    def due(self, age_seconds: float, size_bytes: int) -> bool:
        return (0 < self.every_seconds <= age_seconds) or (0 < self.max_bytes <= size_bytes)


def _part_pattern(path: Path) -> re.Pattern[str]:
    stem, suffix = re.escape(path.stem), re.escape(path.suffix)
    return re.compile(rf"^{stem}\.(\d+){suffix}(\.gz)?$")


def _numbered_parts(path: Path) -> dict[int, Path]:
    """Rotated parts of ``path`` by number; a complete ``.gz`` wins over a plain leftover."""
    pattern, parts = _part_pattern(path), {}
    for candidate in path.parent.glob(f"{path.stem}.*{path.suffix}*"):
        match = pattern.match(candidate.name)
        if match is None:
            continue
        number = int(match.group(1))
        if number not in parts or candidate.name.endswith(".gz"):
            parts[number] = candidate
    return parts


def csv_parts(path: Path) -> list[Path]:
    """Every part of the CSV ``path`` in the order written: rotated parts, then ``path``."""
    parts = _numbered_parts(path)
    ordered = [parts[n] for n in sorted(parts)]
    return [*ordered, path] if path.exists() else ordered


def open_part(path: Path) -> TextIO:
    """A part opened for reading as text (gunzipped if it is a ``.gz``)."""
    if path.name.endswith(".gz"):
        return gzip.open(path, "rt", newline="", encoding="utf-8")
    return path.open(newline="", encoding="utf-8")


def next_part_path(path: Path) -> Path:
    number = max(_numbered_parts(path), default=0) + 1
    return path.with_name(f"{path.stem}.{number:04d}{path.suffix}")


def compress(part: Path) -> Path:
    """Gzip ``part`` to ``part.gz`` (via ``.tmp``) and delete it; return the archive."""
    target = part.with_name(part.name + ".gz")
    tmp = part.with_name(part.name + ".gz.tmp")
    with part.open("rb") as src, gzip.open(tmp, "wb", compresslevel=6) as dst:
        shutil.copyfileobj(src, dst, 1024 * 1024)
    tmp.replace(target)
    part.unlink()
    return target


class PartArchiver:
    """Compresses rotated parts on a background thread and trims the oldest ones."""

    def __init__(self, path: Path, keep_parts: int) -> None:
        self.path = path
        self.keep_parts = keep_parts
        self._threads: list[threading.Thread] = []

    def archive(self, part: Path) -> None:
        thread = threading.Thread(target=self._run, args=(part,), name=f"gzip-{part.name}")
        thread.start()
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]

    def _run(self, part: Path) -> None:
        try:
            compress(part)
        except OSError:
            log.exception("compressing %s failed; it stays uncompressed", part)
        self.trim()

    def trim(self) -> None:
        if self.keep_parts <= 0:
            return
        parts = _numbered_parts(self.path)
        for number in sorted(parts)[: max(0, len(parts) - self.keep_parts)]:
            parts[number].unlink(missing_ok=True)
            log.info("deleted the oldest CSV part %s (keeping %s)", parts[number].name,
                     self.keep_parts)

    def join(self, timeout: float = 60.0) -> None:
        for thread in self._threads:
            thread.join(timeout)
        self._threads = []
