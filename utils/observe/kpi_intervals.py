"""``kpi_intervals.csv``: one row per workload per fixed interval.

Events are counted in the interval in which they reach the sink (the stats hub hands
them on, tallied, every tenth of a second, so this is their own time to within a tick). An
interval is closed by :meth:`KpiIntervalSink.tick` (the run calls it, and
:meth:`flush`, which the hub's periodic flush calls each second, does too);
the last, partial interval is written at :meth:`close`. Interval bounds are
unix seconds (millisecond precision); ``elapsed_sec`` is the interval end
relative to the run start.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from utils.observe.csv_sinks import CsvFile, unix_ms
from utils.observe.events import TargetRateEvent
from utils.observe.interval_window import FAILURES, IntervalWindow

if TYPE_CHECKING:
    from utils.observe.tally import Tally

KPI_COLUMNS: tuple[str, ...] = (
    "interval_start", "interval_end", "elapsed_sec", "workload", "target_rate",
    "offered", "offered_rate", "achieved_rate", "successes",
    "reverted", "rejected", "dropped", "timeout", "reorged",
    "latency_p50", "latency_p95", "latency_p99", "latency_max",
    "gas_used", "in_flight", "late", "missed",
    # the interval's latency histogram (Histogram.encode): shard runs merge exactly
    "latency_buckets",
)  # fmt: skip
class KpiIntervalSink:
    """Stats-hub sink writing per-interval KPIs per workload."""

    FILENAME = "kpi_intervals.csv"

    def __init__(
        self,
        run_dir: Path,
        *,
        interval: float = 10.0,
        targets: Mapping[str, float] | None = None,
        start: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if interval <= 0:
            raise ValueError(f"interval must be > 0, got {interval}")
        self.csv = CsvFile(Path(run_dir) / self.FILENAME, KPI_COLUMNS)
        self.interval = interval
        self._clock = clock
        self._targets = dict(targets or {})
        self._run_start = clock() if start is None else start
        self._start = self._run_start
        self._windows = {name: IntervalWindow() for name in self._targets}
        self._in_flight: Counter[str] = Counter()
        # the target follows the profile (TargetRateEvent): rate since when, and rate x time
        # accumulated in the open interval, so an interval's target is its time-weighted mean
        self._rate: dict[str, tuple[float, float]] = {
            name: (rate, self._run_start) for name, rate in self._targets.items()}
        self._target_area: dict[str, float] = {}

    def _window(self, workload: str) -> IntervalWindow:
        win = self._windows.get(workload)
        if win is None:
            win = self._windows[workload] = IntervalWindow()
        return win

    def on_tally(self, tally: Tally) -> None:
        """Count a tally's events in the open interval; follow the target rates."""
        for name, tx in tally.tx.items():
            self._window(name).add_tx(tx)
            self._in_flight[name] -= tx.finished_sent
        for name, n in tally.sent.items():
            self._window(name)
            self._in_flight[name] += n
        for name, firing in tally.firing.items():
            self._window(name).add_firing(firing)
        for event in tally.others:
            if isinstance(event, TargetRateEvent):
                self._window(event.workload)
                self._add_target_area(event.workload, event.timestamp)
                self._rate[event.workload] = (event.rate, max(event.timestamp, self._start))

    def _add_target_area(self, name: str, until: float) -> None:
        rate, since = self._rate.get(name, (0.0, self._start))
        area = rate * max(0.0, until - max(since, self._start))
        self._target_area[name] = self._target_area.get(name, 0.0) + area
        self._rate[name] = (rate, max(until, since))

    def _target(self, name: str, end: float, length: float) -> float:
        """The time-weighted target rate of the interval ending at ``end``."""
        self._add_target_area(name, end)
        return self._target_area.pop(name, 0.0) / length if length > 0 else 0.0

    def tick(self, now: float | None = None) -> int:
        """Write every interval that ended by ``now``; return how many intervals."""
        now = self._clock() if now is None else now
        closed = 0
        while now >= self._start + self.interval and not self.csv.closed:
            self._write(self._start + self.interval)
            closed += 1
        return closed

    def _write(self, end: float) -> None:
        length = end - self._start
        for name, win in self._windows.items():
            self.csv.write(self._row(name, win, end, length))
        self._windows = {name: IntervalWindow() for name in self._windows}
        self._start = end

    def _row(self, name: str, win: IntervalWindow, end: float, length: float) -> list[Any]:
        lat = win.latency
        successes = win.successes
        return [
            unix_ms(self._start), unix_ms(end), f"{end - self._run_start:.3f}", name,
            f"{self._target(name, end, length):.3f}", win.fired, f"{win.offered_rate(length):.3f}",
            f"{win.achieved_rate(length):.3f}", successes, *(win.outcomes[o] for o in FAILURES),
            *(f"{lat.percentile(q):.9f}" for q in (0.50, 0.95, 0.99)), f"{lat.max:.9f}",
            win.gas_used, max(0, self._in_flight[name]), win.late, win.missed, lat.encode(),
        ]  # fmt: skip

    def flush(self) -> None:
        self.tick()
        self.csv.flush()

    def close(self) -> None:
        if self.csv.closed:
            return
        now = self._clock()
        self.tick(now)
        has_events = any(not w.empty for w in self._windows.values())
        if now - self._start >= 0.001 or has_events:
            self._write(max(now, self._start + 0.001))
        self.csv.close()
