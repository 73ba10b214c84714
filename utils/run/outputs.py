"""What a run shows and leaves behind: /health, /metrics and /kpis while it runs, the CSV
sinks, the live display, and summary.json + report.html at the end. Every figure comes
from the events of the run's stats hub."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from flask import Blueprint
from prometheus_client import CollectorRegistry, generate_latest

from lcore_node.errors import DEVICE_ERROR_CODES
from server import ControlGuard, ServerThread, create_app
from utils.clock import Clock
from utils.observe.aggregate import RunAggregate
from utils.observe.aggregate_io import write_histograms
from utils.observe.csv_rotation import MB, Rotation
from utils.observe.csv_sinks import DeviceStatsSink, IotCsvSink, TxCsvSink, flush_periodically
from utils.observe.finality_stats import FinalityStats
from utils.observe.health import HealthMonitor, RefusalWindow
from utils.observe.kpi_intervals import KpiIntervalSink
from utils.observe.kpis import judge_targets, kpi_snapshot
from utils.observe.live import LiveDisplay
from utils.observe.metrics import PrometheusSink
from utils.observe.shard_labels import exposed_registry
from utils.observe.stats import StatsHub
from utils.observe.verdict import Condition, Targets, Verdict
from utils.redact import Redactor
from utils.report.figure_process import FigureProcess
from utils.report.html import build_report
from utils.report.summary import build_summary, judge_thresholds, write_summary
from utils.settings import Settings

log = logging.getLogger(__name__)


def package_version() -> str:
    try:
        return metadata.version("kcstress")
    except metadata.PackageNotFoundError:
        return "0+unknown"


class RunOutputs:
    """Owned by the Run: ``start_server`` first (a taken port fails before anything
    starts), ``open`` once the chain id is known, ``close`` at the end."""

    def __init__(self, settings: Settings, run_id: str, run_dir: Path, clock: Clock,
                 hub: StatsHub, aggregate: RunAggregate) -> None:
        self.settings = settings
        self.run_id = run_id
        self.run_dir = run_dir
        self.clock = clock
        self.hub = hub
        self.aggregate = aggregate
        self.finality: FinalityStats | None = None  # a run that follows finality stages
        self.targets = Targets(settings.target_success_rate, settings.target_max_latency_sec,
                               settings.target_daily_entries, settings.target_max_missed_share)
        self.registry = CollectorRegistry()
        # what /metrics and metrics.prom show: a shard's metrics carry its shard label
        shard = settings.shard.split("/")[0] if settings.shard else None
        self.exposed = exposed_registry(self.registry, shard)
        self.health = HealthMonitor(
            clock, device_errors=DEVICE_ERROR_CODES,
            refusals=RefusalWindow(settings.health_reject_window, settings.health_reject_share),
        )
        hub.listen(self.health)
        self.server: ServerThread | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._live: LiveDisplay | None = None
        self._closed = False
        self._figures: FigureProcess | None = None
        #: the live panel's first lines: where the console and the run folder are
        self.where: list[str] = []
        self.verdict: Verdict | None = None  # the run's one verdict, once finished
        self.iot = settings.iot_device_count > 0 and settings.iot_data_submission_rate > 0
        #: what /health and /kpis show of an error text: URLs as scheme://host:port
        self.redactor = Redactor([settings.rpc_url, settings.lcore_node_url])

    def kpis(self) -> dict[str, Any]:
        return kpi_snapshot(self.aggregate, targets=self.targets, iot=self.iot,
                            now=self.clock.now())

    def public_kpis(self) -> dict[str, Any]:
        """``GET /kpis``: :meth:`kpis`, any text in it with URLs redacted."""
        return dict(self.redactor.value(self.kpis()))

    def health_check(self) -> tuple[bool, dict[str, Any]]:
        """``GET /health``: is the run healthy (the chain answers, the node works), and its
        verdict so far (or, once finished, the run's); error texts with URLs redacted."""
        ok, details = self.health.check()
        return ok, dict(self.redactor.value(details | {"verdict": self.verdict_now()}))

    def verdict_now(self) -> dict[str, Any]:
        """What /health shows of the verdict: the run's once it finished, else its targets
        judged so far (``final`` false: conditions are known only at the end)."""
        if self.verdict is not None:
            return {"final": True, **self.verdict.as_dict()}
        live = judge_targets(self.kpis(), self.targets, self.iot)
        return {"final": False, **live.as_dict()}

    @property
    def live(self) -> LiveDisplay | None:
        """The live display once :meth:`open` made it (a capacity search adds its line)."""
        return self._live

    def start_server(self, api: Blueprint | None = None, guard: ControlGuard | None = None
                     ) -> None:
        """The run's endpoints (with ``api``: the console's routes, behind ``guard``)."""
        app = create_app(registry=self.exposed, health=self.health_check,
                         kpis=self.public_kpis, api=api, guard=guard)
        self.server = ServerThread(app, host=self.settings.host, port=self.settings.port,
                                   setting=self.settings.given_as("port")).start()
        log.info("serving /health, /metrics and /kpis on %s", self.server.url)

    def open(self, chain_id: int) -> None:
        """Subscribe the sinks (files are created now) and start the periodic tasks."""
        rates = self.settings.rates()
        self.hub.add_sink(PrometheusSink(self.registry, run_id=self.run_id, chain_id=chain_id,
                                         version=package_version(), targets=rates))
        rotation = Rotation(self.settings.csv_rotate_seconds,
                            round(self.settings.csv_rotate_mb * MB), self.settings.csv_keep_parts)
        self.hub.add_sink(TxCsvSink(self.run_dir, rotation=rotation))
        self.hub.add_sink(IotCsvSink(self.run_dir, rotation=rotation))
        self.hub.add_sink(DeviceStatsSink(self.run_dir, clock=self.clock.now,
                                          rotation=rotation))
        self.hub.add_sink(KpiIntervalSink(self.run_dir, interval=self.settings.interval,
                                          targets=rates, start=self.clock.now(),
                                          clock=self.clock.now))
        tty = sys.stderr.isatty()
        self._live = LiveDisplay(self.aggregate, sys.stderr, tty=tty,
                                 interval=None if tty else self.settings.interval,
                                 duration=self.settings.duration, clock=self.clock.now)
        self._live.where = self.where
        self._tasks = [asyncio.create_task(flush_periodically(self.hub), name="flush-sinks"),
                       asyncio.create_task(self._live.run(), name="live-display")]

    def prepare_figures(self) -> None:
        """Start the report's figure process now (it imports matplotlib while the run sets
        up), for :meth:`close` to hand the run's files to."""
        if self._figures is None:
            self._figures = FigureProcess.spawn()

    def stop_figures(self) -> None:
        if self._figures is not None:
            self._figures.stop()
            self._figures = None

    async def close(self, *, draw_figures: bool = False) -> None:
        """Stop the periodic tasks and close every sink (final rows written); then, with
        ``draw_figures``, the figure process (started now if :meth:`prepare_figures` did not)
        draws the report's figures from the closed files while the run goes on. Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._live is not None:
            self._live.stop()  # its task ends after one last refresh
        for task in self._tasks:
            if task.get_name() != "live-display":
                task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        self.hub.close()
        # what `main.py merge` merges
        write_histograms(self.run_dir, self.aggregate, self.finality)
        # the final scrape, kept: the HTTP server stops with the run
        (self.run_dir / "metrics.prom").write_bytes(generate_latest(self.exposed))
        if draw_figures:
            self.prepare_figures()
            if self._figures is not None:
                self._figures.request(self.run_dir.resolve(), self.targets.max_latency_sec)

    def stop_server(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    def finish(self, *, chain_id: int | None, seed: int, extra: dict[str, Any],
               conditions: list[Condition], result: tuple[int, str] | None) -> Verdict:
        """summary.json (with the run's one verdict, returned) and report.html (a failing
        report does not lose the summary)."""
        summary = build_summary(self.aggregate, run_id=self.run_id, targets=self.targets,
                                settings=self.settings.public_dict(), seed=seed,
                                chain_id=chain_id, iot=self.iot, conditions=conditions,
                                result=result)
        summary.update(extra)
        # thresholds judge the figures of the whole summary (dApp, IoT, capacity blocks too)
        verdict = judge_thresholds(summary, self.settings.thresholds, self.settings.baseline)
        self.verdict = verdict
        write_summary(self.run_dir, summary)
        figures = self._figures.result() if self._figures is not None else None
        self.stop_figures()
        try:
            build_report(self.run_dir, figures)
        except Exception:
            log.exception("report.html could not be built; rebuild with "
                          "`python main.py report %s`", self.run_dir)
        return verdict
