"""The live console's ticks: once a second, what the run did in that second, published to the
console's stream (:class:`~utils.observe.console_stream.Broadcast`; format in
docs/console.md).

A stats-hub listener: each tally's transactions and firings go into one
:class:`~utils.observe.interval_window.IntervalWindow` per workload (the windows
kpi_intervals.csv's rows are read from), its IoT events into stage histograms; a tick closes
the windows. Cumulative figures come from the run aggregate, the chain's from the
:class:`~utils.observe.head_watch.HeadWatch`, the generator's from a self-watch window per
tick, goodput from the counts of :class:`~utils.observe.goodput.Goodput`; the run supplies
its phase and its workloads' current targets as callables.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from utils.observe.aggregate import IOT_TOTAL_STAGE, RunAggregate
from utils.observe.console_stream import Broadcast
from utils.observe.events import IotEvent, Outcome
from utils.observe.goodput import Goodput
from utils.observe.head_watch import HeadWatch
from utils.observe.histogram import Histogram
from utils.observe.interval_window import GWEI, IntervalWindow
from utils.observe.selfwatch import SelfWatch, Window, bound_reasons

if TYPE_CHECKING:
    from utils.observe.tally import Tally

log = logging.getLogger(__name__)

TICK_SECONDS = 1.0
RECORD_STATUSES = ("pending", "submitted", "committed", "failed")


@dataclass
class FeedSources:
    """What a tick reads besides the tallies: the run's parts, as values and callables."""

    aggregate: RunAggregate
    heads: HeadWatch
    selfwatch: SelfWatch
    goodput: Goodput
    phase: Callable[[], str]
    controls: Callable[[], dict[str, dict[str, Any]]]  # workload -> target, profile, paused
    base_fee: Callable[[], int | None] = lambda: None
    planned: float | None = None
    iot: bool = True
    not_transactions: frozenset[str] = frozenset()


class ConsoleFeed:
    """``hub.listen(feed)``; ``await feed.run()`` publishes a tick a second until cancelled."""

    def __init__(self, run_id: str, sources: FeedSources, broadcast: Broadcast, *,
                 clock: Callable[[], float] = time.time, interval: float = TICK_SECONDS) -> None:
        self.run_id = run_id
        self.sources = sources
        self.broadcast = broadcast
        self._clock = clock
        self.interval = interval
        self._windows: dict[str, IntervalWindow] = {}
        self._stages: dict[str, Histogram] = {}
        self._iot_ops = [0, 0]  # operations, successful
        self._goodput: dict[tuple[str, str], int] = {}
        self._since = clock()
        self._self_window: Window | None = None

    def on_tally(self, tally: Tally) -> None:
        for name, tx in tally.tx.items():
            self._window(name).add_tx(tx)
        for name, firing in tally.firing.items():
            self._window(name).add_firing(firing)
        for event in tally.others:
            if isinstance(event, IotEvent):
                self._stages.setdefault(event.stage, Histogram()).observe(event.latency)
                if event.stage == IOT_TOTAL_STAGE:
                    self._iot_ops[0] += 1
                    self._iot_ops[1] += event.success

    def _window(self, name: str) -> IntervalWindow:
        win = self._windows.get(name)
        if win is None:
            win = self._windows[name] = IntervalWindow()
        return win

    async def run(self) -> None:
        """Publish a tick every ``interval`` seconds (in the event loop: the self-watch's
        windows are that thread's)."""
        self._self_window = self.sources.selfwatch.open()
        try:
            while True:
                await asyncio.sleep(self.interval)
                self.publish()
        finally:
            self.sources.selfwatch.close(self._self_window)

    def publish(self) -> dict[str, Any]:
        tick = self.tick(self._clock())
        self.broadcast.publish("tick", tick)
        return tick

    def tick(self, now: float) -> dict[str, Any]:
        """The figures since the previous tick; the windows start again."""
        s, dt = self.sources, max(1e-9, now - self._since)
        windows, self._windows, self._since = self._windows, {}, now
        agg = s.aggregate
        lag = Histogram()
        for win in windows.values():
            lag.merge(win.lag)
        started = agg.started_at if agg.started_at > agg.opened_at else None
        return {
            "t": round(now, 3), "dt": round(dt, 3), "run_id": self.run_id, "phase": s.phase(),
            "elapsed": round(agg.load_elapsed(now), 3) if started else 0.0,
            "planned": s.planned,
            "workloads": self._workloads(windows, dt, now),
            "goodput": self._goodput_rates(dt),
            "iot": self._iot() if s.iot else None,
            "generator": self._generator(lag),
            "chain": self._chain(now),
            "totals": totals(agg),
        }  # fmt: skip

    def _workloads(self, windows: dict[str, IntervalWindow], dt: float,
                   now: float) -> dict[str, Any]:
        agg, controls = self.sources.aggregate, self.sources.controls()
        names = [*controls, *(n for n in agg.workloads if n not in controls),
                 *(n for n in windows if n not in controls and n not in agg.workloads)]
        out = {}
        for name in names:
            win = windows.get(name) or IntervalWindow()
            wl = agg.workloads.get(name)
            control = controls.get(name) or {
                "target": wl.target_rate if wl else 0.0, "profile": None, "paused": False}
            tx = name not in self.sources.not_transactions
            out[name] = {
                **control, "offered": round(win.offered_rate(dt), 3),
                "achieved": round(win.achieved_rate(dt), 3) if tx else None,
                "latency": _rounded(win.percentiles()),
                "outcomes": {o.value: win.outcomes[o] for o in Outcome},
                "missed": win.missed, "late": win.late,
                "in_flight": wl.in_flight if wl else 0, **win.per_op(),
            }  # fmt: skip
        return out

    def _goodput_rates(self, dt: float) -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = {}
        for workload, ops in self.sources.goodput.summary(1.0).items():
            for operation, stats in ops.items():
                before = self._goodput.get((workload, operation), 0)
                self._goodput[(workload, operation)] = stats["count"]
                out.setdefault(workload, {})[operation] = round((stats["count"] - before) / dt, 3)
        return out

    def _iot(self) -> dict[str, Any]:
        stages, self._stages = self._stages, {}
        ops, self._iot_ops = self._iot_ops, [0, 0]
        counts = self.sources.aggregate.commits.counts
        return {
            "ops": ops[0], "ok": ops[1],
            "stages": {stage: _rounded({"p50": h.percentile(0.5), "p95": h.percentile(0.95),
                                        "p99": h.percentile(0.99)})
                       for stage, h in stages.items()},
            "records": {status: max(0, counts[status]) for status in RECORD_STATUSES},
        }  # fmt: skip

    def _generator(self, firing_lag: Histogram) -> dict[str, Any]:
        watch = self.sources.selfwatch
        if self._self_window is None:
            return {"process_cpu": None, "loop_cpu": None, "loop_lag_p99": None, "bound": None}
        figures = watch.close(self._self_window)
        self._self_window = watch.open()
        lag_p99 = firing_lag.percentile(0.99) if firing_lag.count else None
        return {"process_cpu": figures["process_cpu"], "loop_cpu": figures["loop_cpu"],
                "loop_lag_p99": figures["loop_lag_p99"],
                "bound": bool(bound_reasons(figures, lag_p99))}

    def _chain(self, now: float) -> dict[str, Any]:
        heads = self.sources.heads
        base_fee = self.sources.base_fee()
        waiting = any(wl.in_flight for wl in list(self.sources.aggregate.workloads.values()))
        block_time, since = heads.block_time, heads.since_block(now)
        return {"head": heads.head,
                "block_time": round(block_time, 4) if block_time is not None else None,
                "base_fee_gwei": round(base_fee / GWEI, 9) if base_fee is not None else None,
                "since_block": round(since, 3) if since is not None else None,
                "stalled": heads.stalled_for(now, waiting) is not None}


def totals(aggregate: RunAggregate) -> dict[str, int]:
    """The run's cumulative counts (the console's ``totals``, in ticks and /api/state)."""
    total = aggregate.totals()
    return {"offered": total.fired, "successes": total.successes, "failures": total.failures,
            "missed": total.missed, "late": total.late}


def _rounded(values: dict[str, float] | None) -> dict[str, float] | None:
    return None if values is None else {k: round(v, 6) for k, v in values.items()}
