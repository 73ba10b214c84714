"""``device_stats.csv``: per-device snapshots in the original system's columns."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from utils.observe.aggregate import IOT_TOTAL_STAGE
from utils.observe.csv_file import CsvFile
from utils.observe.csv_rotation import Rotation
from utils.observe.events import IotEvent
from utils.observe.tally import Tally
from utils.observe.tx_rows import iso_utc

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

    def on_tally(self, tally: Tally) -> None:
        for event in tally.others:
            if isinstance(event, IotEvent) and event.stage == IOT_TOTAL_STAGE:
                self._on_operation(event)

    def _on_operation(self, event: IotEvent) -> None:
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
