"""``python main.py capacity``: the capacity search as a run's load phase.

Set-up (chain, wallets, workloads, IoT node, outputs, server) and finish are the benchmark
run's (:class:`utils.run.run.Run`); :class:`CapacityLoad` is its load phase: the steps of
:class:`utils.load.capacity.CapacitySearch`, each one offered open-loop through the same
scheduler and engine, measured by a :class:`utils.load.step_probe.StepProbe` (its JSON-RPC
round trips among them) and the generator's self-watch, and judged by the SLOs; a step that
failed them while the provider throttled it is provider-throttled, not the chain's failure.
Wallets are topped up before each step for that step only. The search ends when it
converges, at ``--max-duration`` (no step is started that could not finish in time) or on
SIGINT (the step under way is dropped; the steps measured so far make the result).
"""

from __future__ import annotations

import asyncio
import logging
import math
from typing import Any

from utils.aio import wait_event
from utils.load.capacity import (
    CapacityConfig,
    CapacitySearch,
    Outcome,
    StepResult,
    capacity_block,
)
from utils.load.scheduler import Scheduler
from utils.load.slo import failures
from utils.load.step_probe import StepProbe
from utils.load.workload import Workload
from utils.observe.events import Event
from utils.observe.selfwatch import bound_reasons
from utils.report.capacity import CapacityCsv, step_table
from utils.run.funding import Funding, Needs
from utils.run.load_phase import drain
from utils.run.parts import Prepared, RunBase

log = logging.getLogger(__name__)

SAMPLE_EVERY = 0.05  # seconds between in-flight / base fee samples (well under a block time)
REGISTRATION_RATE = 50.0  # devices per second registered before an IoT search


class CapacityLoad:
    """The search's load phase: the same parts as a benchmark run, a step at a time."""

    def __init__(self, config: CapacityConfig) -> None:
        self.config = config
        self.search = CapacitySearch(config)
        self.outcome: Outcome | None = None
        self._probe: StepProbe | None = None
        self._fund_rate = config.start_rate
        self._status = "preparing"
        self._csv: CapacityCsv | None = None

    def _forward(self, event: Event) -> None:
        if self._probe is not None:
            self._probe.see(event)

    def needs(self, base: RunBase) -> Needs:
        """Funding for one step at the rate about to be offered (and its settle)."""
        def needs(workloads: list[Workload]) -> list[dict[str, int]]:
            rates = self.config.rates_for(self._fund_rate)
            seconds = self.config.step_seconds + self.config.settle
            return [w.funding_needs(rates[w.name] * seconds * 1.2 + 10)
                    for w in workloads if rates.get(w.name, 0) > 0]
        return needs

    def status_line(self) -> str:
        return self._status

    def summary(self) -> dict[str, Any]:
        return {"capacity": capacity_block(self.config, self.search.steps, self.outcome)}

    def result(self) -> tuple[int, str]:
        if self.outcome is None:
            self.outcome = self.search.outcome("interrupted")
        return self.outcome.exit_code, self.outcome.headline()

    def table(self, base: RunBase) -> str:
        return step_table([s.as_dict() for s in self.search.steps])

    async def run(self, base: RunBase, prepared: Prepared) -> None:
        self._csv = CapacityCsv(base.run_dir)
        base.hub.tap(self._forward)
        if base.outputs.live is not None:
            base.outputs.live.status_line = self.status_line
        scheduler = Scheduler(base.hub, base.clock, arrival=base.settings.arrival,
                              seed=base.seed)
        base.aggregate.started_at = base.clock.now()
        base.selfwatch.start_run()
        watch = asyncio.create_task(base.selfwatch.run(base.stop), name="selfwatch")
        try:
            await self._register_devices(base, prepared, scheduler)
            stopped_by = await self._search(base, prepared, scheduler)
        finally:
            base.stop.set()
            await watch
            base.selfwatch.end_run()
            base.aggregate.load_ended_at = base.clock.now()
            self._csv.close()
        self.outcome = self.search.outcome(stopped_by)
        self._status = f"result: {self.outcome.headline()}"
        log.info("%s", self._status)
        await drain(base, prepared, scheduler)

    async def _register_devices(self, base: RunBase, prepared: Prepared,
                                scheduler: Scheduler) -> None:
        """An IoT mix needs registered devices before its first step (not measured)."""
        if "data_pipeline" not in self.config.mix or prepared.iot is None:
            return
        done = asyncio.Event()
        self._status = "registering IoT devices"
        task = asyncio.create_task(scheduler.run(prepared.iot.registration, REGISTRATION_RATE,
                                                 done))
        limit = base.settings.iot_device_count / REGISTRATION_RATE + 30
        interrupted = asyncio.create_task(base.stop.wait())
        await asyncio.wait({task, interrupted}, timeout=limit,
                           return_when=asyncio.FIRST_COMPLETED)  # exhausted, Ctrl-C or late
        interrupted.cancel()
        done.set()
        await task
        await scheduler.wait_steps(10)

    async def _search(self, base: RunBase, prepared: Prepared, scheduler: Scheduler) -> str:
        loop = asyncio.get_running_loop()
        cfg = self.config
        ends = loop.time() + cfg.max_duration if cfg.max_duration > 0 else math.inf
        funding = Funding(base, prepared, self.needs(base))
        while not base.stop.is_set():
            rate = self.search.next_rate()
            if rate is None:
                return self.search.stopped_by
            if loop.time() + cfg.step_seconds + cfg.settle > ends:
                return "max-duration"
            self._fund_rate = rate
            await funding.fund()
            step = await self._step(base, prepared, scheduler, rate)
            if step is None:
                break
            self.search.record(step)
            assert self._csv is not None
            self._csv.write(step.as_dict())
            base.selfwatch.set_bound(bool(step.generator))
            self._status = (f"step {step.index} ({step.phase}) {rate:.1f}/s: {step.verdict}"
                            f"; achieved {step.figures['achieved']:.1f}/s, p95 "
                            f"{step.figures['p95']:.3f}s")
            log.info("capacity %s", self._status)
        return "interrupted"

    async def _step(self, base: RunBase, prepared: Prepared, scheduler: Scheduler,
                    rate: float) -> StepResult | None:
        """Offer ``rate`` for warm-up + hold, settle, judge; None when interrupted."""
        cfg = self.config
        index = len(self.search.steps) + 1
        start = base.clock.now() + cfg.warmup
        probe = self._probe = StepProbe(start, start + cfg.hold, rate, frozenset(cfg.mix),
                                        now=base.clock.now)
        label = f"step {index} ({self.search.phase}) {rate:.1f}/s"
        self._status = f"{label}: warming up"
        log.info("capacity step %d: offering %.1f/s (%s)", index, rate, self.search.phase)
        step_stop = asyncio.Event()
        rates = cfg.rates_for(rate)
        for name, wl in base.aggregate.workloads.items():  # the live display's target column
            wl.target_rate = rates.get(name, 0.0)
        firing = [asyncio.create_task(scheduler.run(w, rates.get(w.name, 0.0), step_stop))
                  for w in prepared.workloads]
        sampler = asyncio.create_task(self._sample(base, prepared, scheduler, probe,
                                                   step_stop))
        window = None
        try:
            if not await wait_event(base.stop, cfg.warmup):
                window = base.selfwatch.open()
                self._status = f"{label}: measuring"
                await wait_event(base.stop, cfg.hold)
        finally:
            generator = base.selfwatch.close(window) if window is not None else {}
            step_stop.set()
            await asyncio.gather(*firing, sampler)
        interrupted = base.stop.is_set()
        self._status = f"{label}: settling"
        await self._settle(prepared, scheduler)
        self._probe = None
        if interrupted:
            return None
        figures: dict[str, Any] = probe.figures()
        figures.update({f"gen_{k}": v for k, v in generator.items() if k != "seconds"})
        failed = failures(cfg.slos, probe.slo_values(figures))
        why_bound = bound_reasons(generator, figures["firing_lag_p99"]) if failed else []
        throttled = probe.throttled() if failed else None  # a pass held back still passed
        return StepResult(index, self.search.phase, rate, figures, failed, why_bound,
                          [throttled] if throttled else [])

    async def _sample(self, base: RunBase, prepared: Prepared, scheduler: Scheduler,
                      probe: StepProbe, stop: asyncio.Event) -> None:
        fees = prepared.session.fees
        while not await wait_event(stop, SAMPLE_EVERY):
            probe.sample(base.clock.now(), scheduler.running_steps,
                         fees.base_fee if fees.eip1559 else None)

    async def _settle(self, prepared: Prepared, scheduler: Scheduler) -> None:
        """Let the step's operations finish (bounded) so the next step starts clean."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.settle
        engine = prepared.session.engine
        await scheduler.wait_steps(max(0.0, deadline - loop.time()))
        while engine.in_flight and loop.time() < deadline:  # noqa: ASYNC110 - a count
            await asyncio.sleep(0.05)  # owned by the block follower, which has no event for it
