"""``python main.py capacity``: a run whose load phase is the capacity search.

Set-up (chain, wallets, workloads, IoT node, outputs, server) is the benchmark run's
(:class:`utils.run.run.Run`); the load phase is replaced by the steps of
:class:`utils.load.capacity.CapacitySearch`, each one offered open-loop through the same
scheduler and engine, measured by a :class:`utils.load.step_probe.StepProbe` and the
generator's self-watch, and judged by the SLOs. Wallets are topped up before each step
for that step only. The search ends when it converges, at ``--max-duration`` (no step is
started that could not finish in time) or on SIGINT (the step under way is dropped; the
steps measured so far make the result).
"""

from __future__ import annotations

import asyncio
import logging
import math
from dataclasses import dataclass, field
from typing import Any

from utils.aio import wait_event
from utils.chain.session import ChainSession
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
from utils.observe.events import Event
from utils.observe.selfwatch import bound_reasons
from utils.report.capacity import CapacityCsv, step_table
from utils.run.run import Run

log = logging.getLogger(__name__)

SAMPLE_EVERY = 0.05  # seconds between in-flight / base fee samples (well under a block time)
REGISTRATION_RATE = 50.0  # devices per second registered before an IoT search


@dataclass
class CapacityRun(Run):
    capacity: CapacityConfig = field(default_factory=CapacityConfig)

    def __post_init__(self) -> None:
        super().__post_init__()
        self.search = CapacitySearch(self.capacity)
        self.result: Outcome | None = None
        self._probe: StepProbe | None = None
        self._fund_rate = self.capacity.start_rate
        self._status = "preparing"
        self._csv: CapacityCsv | None = None
        self.hub.subscribe(self._forward)

    def _forward(self, event: Event) -> None:
        if self._probe is not None:
            self._probe.on_event(event)

    def _needs(self) -> list[dict[str, int]]:
        """Funding for one step at the rate about to be offered (and its settle)."""
        rates = self.capacity.rates_for(self._fund_rate)
        seconds = self.capacity.step_seconds + self.capacity.settle
        return [w.funding_needs(rates[w.name] * seconds * 1.2 + 10)
                for w in self.workloads if rates.get(w.name, 0) > 0]

    def status_line(self) -> str:
        return self._status

    async def _load_phase(self, session: ChainSession) -> None:
        self._csv = CapacityCsv(self.run_dir)
        if self.outputs.live is not None:
            self.outputs.live.status_line = self.status_line
        scheduler = Scheduler(self.hub, self.clock, arrival=self.settings.arrival,
                              seed=self.seed)
        self.aggregate.started_at = self.clock.now()
        self.selfwatch.start_run()
        watch = asyncio.create_task(self.selfwatch.run(self.stop), name="selfwatch")
        try:
            await self._register_devices(scheduler)
            stopped_by = await self._search(session, scheduler)
        finally:
            self.stop.set()
            await watch
            self.selfwatch.end_run()
            self.aggregate.load_ended_at = self.clock.now()
            self._csv.close()
        self.result = self.search.outcome(stopped_by)
        self._status = f"result: {self.result.headline()}"
        log.info("%s", self._status)
        await self._drain(session, scheduler)

    async def _register_devices(self, scheduler: Scheduler) -> None:
        """An IoT mix needs registered devices before its first step (not measured)."""
        if "data_pipeline" not in self.capacity.mix or self.iot is None:
            return
        done = asyncio.Event()
        self._status = "registering IoT devices"
        task = asyncio.create_task(scheduler.run(self.iot.registration, REGISTRATION_RATE, done))
        limit = self.settings.iot_device_count / REGISTRATION_RATE + 30
        interrupted = asyncio.create_task(self.stop.wait())
        await asyncio.wait({task, interrupted}, timeout=limit,
                           return_when=asyncio.FIRST_COMPLETED)  # exhausted, Ctrl-C or late
        interrupted.cancel()
        done.set()
        await task
        await scheduler.wait_steps(10)

    async def _search(self, session: ChainSession, scheduler: Scheduler) -> str:
        loop = asyncio.get_running_loop()
        cfg = self.capacity
        ends = loop.time() + cfg.max_duration if cfg.max_duration > 0 else math.inf
        while not self.stop.is_set():
            rate = self.search.next_rate()
            if rate is None:
                return self.search.stopped_by
            if loop.time() + cfg.step_seconds + cfg.settle > ends:
                return "max-duration"
            self._fund_rate = rate
            assert self.wallets is not None
            await self._fund(session, self.wallets)
            step = await self._step(session, scheduler, rate)
            if step is None:
                break
            self.search.record(step)
            assert self._csv is not None
            self._csv.write(step.as_dict())
            self.selfwatch.set_bound(bool(step.generator))
            self._status = (f"step {step.index} ({step.phase}) {rate:.1f}/s: {step.verdict}"
                            f"; achieved {step.figures['achieved']:.1f}/s, p95 "
                            f"{step.figures['p95']:.3f}s")
            log.info("capacity %s", self._status)
        return "interrupted"

    async def _step(self, session: ChainSession, scheduler: Scheduler,
                    rate: float) -> StepResult | None:
        """Offer ``rate`` for warm-up + hold, settle, judge; None when interrupted."""
        cfg = self.capacity
        index = len(self.search.steps) + 1
        start = self.clock.now() + cfg.warmup
        probe = self._probe = StepProbe(start, start + cfg.hold, rate, frozenset(cfg.mix))
        self._status = f"step {index} ({self.search.phase}) {rate:.1f}/s: warming up"
        log.info("capacity step %d: offering %.1f/s (%s)", index, rate, self.search.phase)
        step_stop = asyncio.Event()
        rates = cfg.rates_for(rate)
        for name, wl in self.aggregate.workloads.items():  # the live display's target column
            wl.target_rate = rates.get(name, 0.0)
        firing = [asyncio.create_task(scheduler.run(w, rates.get(w.name, 0.0), step_stop))
                  for w in self.workloads]
        sampler = asyncio.create_task(self._sample(session, scheduler, probe, step_stop))
        window = None
        try:
            if not await wait_event(self.stop, cfg.warmup):
                window = self.selfwatch.open()
                self._status = f"step {index} ({self.search.phase}) {rate:.1f}/s: measuring"
                await wait_event(self.stop, cfg.hold)
        finally:
            generator = self.selfwatch.close(window) if window is not None else {}
            step_stop.set()
            await asyncio.gather(*firing, sampler)
        interrupted = self.stop.is_set()
        self._status = f"step {index} ({self.search.phase}) {rate:.1f}/s: settling"
        await self._settle(session, scheduler)
        self._probe = None
        if interrupted:
            return None
        figures: dict[str, Any] = probe.figures()
        figures.update({f"gen_{k}": v for k, v in generator.items() if k != "seconds"})
        failed = failures(cfg.slos, probe.slo_values(figures))
        why_bound = bound_reasons(generator, figures["firing_lag_p99"]) if failed else []
        return StepResult(index, self.search.phase, rate, figures, failed, why_bound)

    async def _sample(self, session: ChainSession, scheduler: Scheduler, probe: StepProbe,
                      stop: asyncio.Event) -> None:
        fees = session.fees
        while not await wait_event(stop, SAMPLE_EVERY):
            probe.sample(self.clock.now(), scheduler.running_steps,
                         fees.base_fee if fees.eip1559 else None)

    async def _settle(self, session: ChainSession, scheduler: Scheduler) -> None:
        """Let the step's operations finish (bounded) so the next step starts clean."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.capacity.settle
        await scheduler.wait_steps(max(0.0, deadline - loop.time()))
        while session.engine.in_flight and loop.time() < deadline:  # noqa: ASYNC110 - a count
            await asyncio.sleep(0.05)  # owned by the block follower, which has no event for it

    def _summary_extra(self) -> dict[str, Any]:
        extra = super()._summary_extra()
        extra["capacity"] = capacity_block(self.capacity, self.search.steps, self.result)
        return extra

    def _finish(self) -> int:
        self.outputs.health.phase = "done"
        result = self.result or self.search.outcome("interrupted")
        self.result = result
        self.outputs.finish(
            chain_id=self.session.info.chain_id if self.session else None, seed=self.seed,
            extra=self._summary_extra(), exit_reason=result.headline(),
        )
        print(step_table([s.as_dict() for s in self.search.steps]), file=self.out)
        for line in self._generator_lines():
            print(line, file=self.out)
        print(f"capacity search {self.run_id}: {result.headline()}", file=self.out)
        print(f"results in {self.run_dir}", file=self.out)
        return result.exit_code
