"""The generator watching itself: is the orchestrator, not the chain, the limit?

While a run (or a capacity step) goes, :class:`SelfWatch` measures, in the event-loop
thread:

- process CPU (all threads) and event-loop-thread CPU, each as a share of one core;
- event-loop lag: a probe sleeps ``probe_interval`` and records how late it wakes up
  (a loop busy with other work, or starved of CPU, wakes it late);
- the sign/send wait: from the moment a transaction is submitted to the engine until its
  signed bytes go to the node (sender queue + nonce + signing), reported by the engine
  through :meth:`observe_send_wait`.

A measured window is *generator-bound* when the loop thread was busy almost all the time,
its lag p99 was high, or the scheduler's firings were late (the firing lag comes from the
caller, who has the scheduler's events). The thresholds are :class:`Saturation`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Gauge

from utils.observe.histogram import Histogram
from utils.observe.prom_series import HistogramSeries, SeriesCollector

LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)
SEND_WAIT_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5)


@dataclass(frozen=True, slots=True)
class Saturation:
    """When a window counts as generator-bound (any one suffices)."""

    # measured on the shared 2-core machine: an unsaturated loop (25 % of a core) shows lag
    # p99 spikes of 50-60 ms from other processes and GC; a saturated or starved one, firing
    # lag of seconds
    loop_cpu: float = 0.90  # loop thread CPU, share of one core
    loop_lag_p99: float = 0.20  # seconds
    firing_lag_p99: float = 0.25  # seconds: the scheduler could not fire on time


@dataclass(slots=True)
class Window:
    """What the generator did between :meth:`SelfWatch.open` and :meth:`SelfWatch.close`."""

    started: float
    cpu_start: float
    loop_cpu_start: float
    lag: Histogram = field(default_factory=Histogram)
    send_wait: Histogram = field(default_factory=Histogram)
    figures: dict[str, float] = field(default_factory=dict)


MIN_JUDGED_SECONDS = 1.0  # a shorter run window says nothing of the generator's limits


def bound_reasons(figures: dict[str, float], firing_lag_p99: float | None,
                  limits: Saturation = Saturation()) -> list[str]:
    """Why a window was generator-bound (empty: it was not)."""
    reasons = []
    if figures.get("loop_cpu", 0.0) >= limits.loop_cpu:
        reasons.append(f"event-loop thread at {figures['loop_cpu']:.0%} of a core")
    if figures.get("loop_lag_p99", 0.0) >= limits.loop_lag_p99:
        reasons.append(f"event-loop lag p99 {figures['loop_lag_p99'] * 1000:.0f} ms")
    if firing_lag_p99 is not None and firing_lag_p99 >= limits.firing_lag_p99:
        reasons.append(f"firings late (lag p99 {firing_lag_p99:.2f} s)")
    return reasons


class SelfWatch:
    """``task = create_task(watch.run(stop))`` in the loop thread; windows on demand."""

    def __init__(self, *, probe_interval: float = 0.02,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.probe_interval = probe_interval
        self._clock = clock
        self._windows: list[Window] = []
        self.run_window: Window | None = None
        self._gauges: dict[str, Gauge] = {}
        self._gauge_window: Window | None = None
        self._prom_lag: HistogramSeries | None = None
        self._prom_wait: HistogramSeries | None = None

    def open(self) -> Window:
        """A new window from now. Open, close and read windows in the event-loop thread
        (thread CPU is that thread's)."""
        window = Window(self._clock(), time.process_time(), time.thread_time())
        self._windows.append(window)
        return window

    def start_run(self) -> None:
        """The run's window: the load phase (summary.json ``generator``)."""
        self.run_window = self.open()

    def end_run(self) -> None:
        if self.run_window is not None:
            self.close(self.run_window)

    def close(self, window: Window) -> dict[str, float]:
        """Stop feeding ``window``; its figures (also kept in ``window.figures``)."""
        if window in self._windows:
            self._windows.remove(window)
            window.figures = self.figures(window)
        return window.figures

    def figures(self, window: Window) -> dict[str, float]:
        wall = max(1e-9, self._clock() - window.started)
        return {
            "seconds": round(wall, 3),
            "process_cpu": round((time.process_time() - window.cpu_start) / wall, 4),
            "loop_cpu": round((time.thread_time() - window.loop_cpu_start) / wall, 4),
            "loop_lag_p99": round(window.lag.percentile(0.99), 6),
            "loop_lag_max": round(window.lag.max, 6),
            "send_wait_p50": round(window.send_wait.percentile(0.50), 6),
            "send_wait_p99": round(window.send_wait.percentile(0.99), 6),
        }

    def observe_send_wait(self, seconds: float) -> None:
        """The engine's hook: a transaction waited ``seconds`` to be signed and sent."""
        for window in self._windows:
            window.send_wait.observe(seconds)
        if self._prom_wait is not None:
            self._prom_wait.observe((), seconds)

    def _observe_lag(self, lag: float) -> None:
        for window in self._windows:
            window.lag.observe(lag)
        if self._prom_lag is not None:
            self._prom_lag.observe((), lag)

    async def run(self, stop: asyncio.Event) -> None:
        """The probe: sleep, measure the oversleep, refresh the CPU figures, until ``stop``."""
        next_gauges = self._clock()
        while not stop.is_set():
            before = self._clock()
            await asyncio.sleep(self.probe_interval)
            now = self._clock()
            self._observe_lag(max(0.0, now - before - self.probe_interval))
            if now >= next_gauges:
                self._refresh_gauges()
                next_gauges = now + 1.0

    # -- Prometheus --------------------------------------------------------------------------
    def register(self, registry: CollectorRegistry) -> None:
        """``kcstress_generator_*`` metrics on ``registry`` (see docs/observability.md)."""
        names = {
            "process_cpu": ("kcstress_generator_process_cpu_ratio",
                            "Orchestrator process CPU over the last second window, "
                            "share of one core"),
            "loop_cpu": ("kcstress_generator_loop_cpu_ratio",
                         "Event-loop thread CPU, share of one core"),
            "bound": ("kcstress_generator_bound",
                      "1 while the generator itself looks saturated (capacity steps: the step)"),
        }
        for key, (name, doc) in names.items():
            self._gauges[key] = Gauge(name, doc, registry=registry)
        # per transaction: a series without prometheus_client's lock (prom_series.py)
        self._prom_lag = HistogramSeries(
            "kcstress_generator_loop_lag_seconds", "Event-loop lag (probe oversleep)", (),
            LAG_BUCKETS)
        self._prom_wait = HistogramSeries(
            "kcstress_generator_send_wait_seconds",
            "Submit to signed bytes on the wire (sender queue, nonce, signing)", (),
            SEND_WAIT_BUCKETS)
        self._prom_lag.touch()
        self._prom_wait.touch()
        SeriesCollector(registry, [self._prom_lag, self._prom_wait])
        self._gauge_window = self.open()

    def _refresh_gauges(self) -> None:
        if not self._gauges or self._gauge_window is None:
            return
        figures = self.close(self._gauge_window)
        self._gauge_window = self.open()
        self._gauges["process_cpu"].set(figures["process_cpu"])
        self._gauges["loop_cpu"].set(figures["loop_cpu"])

    def set_bound(self, bound: bool) -> None:
        if "bound" in self._gauges:
            self._gauges["bound"].set(1 if bound else 0)

    def summary(self, firing_lag_p99: float | None) -> dict[str, Any]:
        """The whole run's figures for summary.json, with the generator-bound verdict; a load
        of under MIN_JUDGED_SECONDS is not judged (a Ctrl-C during set-up left a load of a
        few ms whose loop CPU read 101 %: 'generator-bound')."""
        window = self.run_window
        if window is None:
            return {"generator_bound": False, "reasons": [], "firing_lag_p99": firing_lag_p99}
        figures = window.figures or self.figures(window)
        judged = figures["seconds"] >= MIN_JUDGED_SECONDS
        reasons = bound_reasons(figures, firing_lag_p99) if judged else []
        return {**figures, "firing_lag_p99": firing_lag_p99, "generator_bound": bool(reasons),
                "reasons": reasons}
