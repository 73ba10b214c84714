"""CSV writers fed by the stats hub's tallies (Locust-style lifecycle).

Each writer opens its file and writes the header when constructed, flushes on
a write when the last flush is at least ``flush_every`` seconds old (and on
:meth:`flush`, which the run calls every second through :func:`flush_periodically`),
and closes at the end. Nothing is opened at import time.

Time columns: see :mod:`utils.observe.tx_rows`. The file itself (header, flushing,
rotation) is :class:`utils.observe.csv_file.CsvFile`; device_stats.csv is
:mod:`utils.observe.device_stats`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from utils.observe.aggregate import IOT_TOTAL_STAGE
from utils.observe.correction_rows import CORRECTION_COLUMNS, correction_row
from utils.observe.csv_file import CsvFile
from utils.observe.csv_rotation import Rotation
from utils.observe.device_stats import DeviceStatsSink
from utils.observe.events import IotEvent, TxCorrectionEvent
from utils.observe.iot_rows import IOT_COLUMNS, iot_row
from utils.observe.stats import StatsHub
from utils.observe.tx_rows import TX_COLUMNS, iso_utc, tx_row, unix_ms

if TYPE_CHECKING:
    from utils.observe.tally import Tally

__all__ = ["IOT_COLUMNS", "TX_COLUMNS", "CsvFile", "DeviceStatsSink", "IotCsvSink", "TxCsvSink",
           "flush_periodically", "iot_row", "iso_utc", "tx_row", "unix_ms"]

log = logging.getLogger(__name__)

class TxCsvSink:
    """``tx_metrics.csv``: one row per :class:`~utils.observe.events.TxEvent` (the outcome
    of a transaction as first recorded), formatted where the tally counted it; and
    ``tx_corrections.csv`` (opened at the first one): one row per
    :class:`~utils.observe.events.TxCorrectionEvent` (:mod:`utils.observe.correction_rows`)."""

    FILENAME = "tx_metrics.csv"
    CORRECTIONS = "tx_corrections.csv"
    COLUMNS = TX_COLUMNS

    def __init__(
        self, run_dir: Path, *, flush_every: float = 1.0, rotation: Rotation | None = None
    ) -> None:
        self._dir = Path(run_dir)
        self._flush_every = flush_every
        self.csv = CsvFile(
            self._dir / self.FILENAME, self.COLUMNS, flush_every=flush_every, rotation=rotation
        )
        self.corrections: CsvFile | None = None

    def on_tally(self, tally: Tally) -> None:
        if tally.csv_rows:
            self.csv.write_text(tally.csv_text, tally.csv_rows)
        for event in tally.others:
            if isinstance(event, TxCorrectionEvent):
                if self.corrections is None:
                    self.corrections = CsvFile(self._dir / self.CORRECTIONS, CORRECTION_COLUMNS,
                                               flush_every=self._flush_every)
                self.corrections.write(correction_row(event))

    def flush(self) -> None:
        self.csv.flush()
        if self.corrections is not None:
            self.corrections.flush()

    def close(self) -> None:
        self.csv.close()
        if self.corrections is not None:
            self.corrections.close()


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

    def on_tally(self, tally: Tally) -> None:
        for event in tally.others:
            if isinstance(event, IotEvent):
                self._on_iot(event)

    def _on_iot(self, event: IotEvent) -> None:
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
