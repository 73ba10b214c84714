"""``finality.csv``: one row per sampled transaction, keyed by its hash, with the seconds
from its intended send time to each finality stage it reached (empty: not reached by the
end of the run).

A separate file, not columns of tx_metrics.csv: a tx_metrics.csv row is written when the
transaction's outcome is known (its receipt), long before its batch is posted or confirmed.
A row is held from its ``receipt`` event until its ``l1_confirmed`` one (then written), at
most ``max_held`` rows at once (the oldest then written with what it has), and every held
row is written at close.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING

from utils.observe.csv_file import CsvFile
from utils.observe.events import FINALITY_STAGES, FinalityEvent

if TYPE_CHECKING:
    from utils.observe.tally import Tally

__all__ = ["FINALITY_COLUMNS", "FinalityCsvSink"]

FINALITY_COLUMNS = ("tx_hash", "workload", "block_number", "batch", "l1_block",
                    *(f"{stage}_sec" for stage in FINALITY_STAGES))
#: rows held at most (the tracker follows at most as many transactions)
MAX_HELD = 10_000


class FinalityCsvSink:
    FILENAME = "finality.csv"

    def __init__(self, run_dir: Path, *, flush_every: float = 1.0,
                 max_held: int = MAX_HELD) -> None:
        self.csv = CsvFile(Path(run_dir) / self.FILENAME, FINALITY_COLUMNS,
                           flush_every=flush_every)
        self._held: OrderedDict[str, dict[str, object]] = OrderedDict()
        self._max_held = max_held

    def on_tally(self, tally: Tally) -> None:
        for event in tally.others:
            if isinstance(event, FinalityEvent):
                self._on_stage(event)

    def _on_stage(self, event: FinalityEvent) -> None:
        row = self._held.get(event.tx_hash)
        if row is None:
            if event.stage != FINALITY_STAGES[0]:
                return  # its row was written already (held too long)
            row = self._held[event.tx_hash] = {
                "tx_hash": event.tx_hash, "workload": event.workload}
            if len(self._held) > self._max_held:
                self._write(self._held.popitem(last=False)[1])
        row["block_number"] = event.block_number
        if event.batch is not None:
            row["batch"] = event.batch
        if event.l1_block is not None:
            row["l1_block"] = event.l1_block
        row[f"{event.stage}_sec"] = f"{event.latency:.6f}"
        if event.stage == FINALITY_STAGES[-1]:
            self._write(self._held.pop(event.tx_hash))

    def _write(self, row: dict[str, object]) -> None:
        self.csv.write([row.get(column, "") for column in FINALITY_COLUMNS])

    def flush(self) -> None:
        self.csv.flush()

    def close(self) -> None:
        while self._held:
            self._write(self._held.popitem(last=False)[1])
        self.csv.close()
