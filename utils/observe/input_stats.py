"""The Cartesi application's figures (``--iot-commit inputbox``), tallied in one place from
:class:`~utils.observe.events.InputEvent`: inputs and records processed, records the
application refused, input lag (block of ``addInput`` -> processed) and end to end (device
submission -> processed) as histograms. The aggregate, summary.json, the report and
/metrics read them from here."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from utils.observe.events import InputEvent
from utils.observe.histogram import Histogram

__all__ = ["InputStats"]


@dataclass(slots=True)
class InputStats:
    inputs: int = 0
    records: int = 0  # records the application kept
    rejected: int = 0  # records it refused (or a payload that was no records payload)
    input_lag: Histogram = field(default_factory=Histogram)
    end_to_end: Histogram = field(default_factory=Histogram)

    def on_input(self, event: InputEvent) -> None:
        self.inputs += 1
        self.records += event.records
        self.rejected += event.rejected
        self.input_lag.observe(event.input_lag)
        for latency in event.latencies:
            self.end_to_end.observe(latency)

    def summary(self) -> dict[str, Any]:
        """summary.json's ``inputbox`` block (seconds)."""
        return {"inputs": self.inputs, "records": self.records, "rejected": self.rejected,
                "input_lag_s": self.input_lag.summary(),
                "end_to_end_s": self.end_to_end.summary()}
