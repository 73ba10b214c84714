"""A run's load phase: the strategy between set-up and finish. :class:`FixedRateLoad` offers
every workload its rate profile for the run's duration (the benchmark);
:class:`utils.run.capacity_run.CapacityLoad` steps the offered rate (the capacity search).
Both run over the same parts (:class:`~utils.run.parts.RunBase`,
:class:`~utils.run.parts.Prepared`) and end with the same :func:`drain`."""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Any, Protocol

from utils.aio import wait_event
from utils.load.profiles import RateProfile
from utils.load.rate_control import RateControl
from utils.load.scheduler import Scheduler
from utils.load.workload import Workload
from utils.observe.events import TargetRateEvent
from utils.report.final_table import render
from utils.run.distributed import sleep_until
from utils.run.funding import Funding, Needs, whole_run_needs
from utils.run.parts import Prepared, RunBase
from utils.run.worker import TRANSFER_WORKLOADS

log = logging.getLogger(__name__)


class LoadPhase(Protocol):
    def needs(self, base: RunBase) -> Needs:
        """What the wallets must be funded with before the load (and at each top-up)."""
        ...

    async def run(self, base: RunBase, prepared: Prepared) -> None:
        """Offer the load until it ends or ``base.stop`` is set, then drain."""
        ...

    def summary(self) -> dict[str, Any]:
        """The phase's own keys of summary.json."""
        ...

    def result(self) -> tuple[int, str] | None:
        """(exit code, headline) of a phase that judges itself (a capacity search); None:
        the run's targets judge it."""
        ...

    def table(self, base: RunBase) -> str:
        """The final table printed before the verdict."""
        ...


async def drain(base: RunBase, prepared: Prepared, scheduler: Scheduler) -> None:
    """Firing has stopped: let steps, the IoT outbox and the engine finish by a shared
    deadline; what is left then is counted as timeout."""
    loop = asyncio.get_running_loop()
    session = prepared.session
    timeout = base.settings.drain_timeout
    # a lost chain commits nothing more: what is in flight counts as timeout at once
    deadline = loop.time() + (0.0 if prepared.chain_lost() else timeout)
    log.info("draining: %d steps, %d transactions in flight (deadline %g s)",
             scheduler.running_steps, session.engine.in_flight, timeout)
    await scheduler.wait_steps(max(0.0, deadline - loop.time()))
    node = prepared.iot.node if prepared.iot is not None else None
    if node is not None and node.outbox:
        left = await node.outbox.drain(max(0.0, deadline - loop.time()))
        if left:
            log.warning("%d IoT records not committed by the drain deadline", left)
    cartesi = prepared.iot.cartesi if prepared.iot is not None else None
    if cartesi is not None:  # the application reads what the outbox put in the InputBox
        await cartesi.finish(max(5.0, deadline - loop.time()))
    timed_out = await session.engine.drain(max(0.0, deadline - loop.time()))
    if timed_out:
        log.warning("%d transactions counted as timeout at the drain deadline", timed_out)


class FixedRateLoad:
    """Every workload at its rate profile (spread over workers or shards) for the duration,
    or until stopped; a run without an end tops its wallets up as it goes."""

    def needs(self, base: RunBase) -> Needs:
        return whole_run_needs(base.settings)

    def summary(self) -> dict[str, Any]:
        return {}

    def result(self) -> tuple[int, str] | None:
        return None

    def table(self, base: RunBase) -> str:
        return render(base.aggregate)

    async def run(self, base: RunBase, prepared: Prepared) -> None:
        s, dist, session = base.settings, base.dist, prepared.session
        # with worker processes each fires a slice: the target stays the whole run's rate
        scheduler = Scheduler(base.hub, base.clock, arrival=s.arrival, seed=base.seed,
                              report_targets=dist.workers == 1)
        local = dist.local_workloads(prepared.workloads, session.engine, prepared.wallets,
                                     random.Random(base.rng.random()))
        await dist.start_workers(base.hub, base.run_dir, dist.worker_configs(
            session, prepared.wallets, base.seed, prepared.wallet_counts,
            logging.getLevelName(logging.getLogger().getEffectiveLevel())),
            lambda _reason: _stop(base))
        start_at = await dist.synchronise_start(session, prepared.wallets, base.seed,
                                                base.clock.now)
        await sleep_until(base.stop, start_at, base.clock.now)
        base.aggregate.started_at = base.clock.now()
        log.info("load started: %s", ", ".join(f"{w.name}" for w in local) or "workers only")
        base.selfwatch.start_run()
        tasks = [asyncio.create_task(base.selfwatch.run(base.stop), name="selfwatch"),
                 asyncio.create_task(prepared.chain_watch.run(base.stop), name="chain")]
        controls = steer_load(base, local)
        tasks += [asyncio.create_task(scheduler.run(w, controls[w.name], base.stop),
                                      name=f"fire-{w.name}") for w in local]
        if s.duration == 0:
            refill = Funding(base, prepared, self.needs(base)).refill()
            tasks.append(asyncio.create_task(refill, name="refill"))
        if s.duration > 0:
            await wait_event(base.stop, s.duration)
            base.stop.set()
        else:
            await base.stop.wait()
        await asyncio.gather(*tasks)
        base.aggregate.load_ended_at = base.clock.now()
        _steered_targets(base)
        base.selfwatch.end_run()
        await asyncio.gather(dist.stop_workers(), drain(base, prepared, scheduler))


def steer_load(base: RunBase, local: list[Workload]) -> dict[str, RateControl]:
    """The run's rate controls (``base.control``): one per workload this process fires, at its
    profile (or, spread over workers or shards, its slice's share of the rate: profiles then
    run constant), and one per workload its worker processes fire, whose changes are relayed
    to them (each takes its share)."""
    dist, control = base.dist, base.control
    whole = dist.slices == 1 and dist.workers == 1
    rates = base.settings.rates()
    local_rates = dist.rates(rates)
    for w in local:
        if whole:
            control.add(w.name, base.profiles.get(w.name, RateProfile.constant(0.0)))
        else:
            rate = rates.get(w.name, 0.0)
            share = local_rates.get(w.name, 0.0) / rate if rate > 0 else 0.0
            control.add(w.name, RateProfile.constant(rate), scale=share)
    pool = dist.pool
    if pool is not None:
        names = {w.name for w in local}
        for name in TRANSFER_WORKLOADS:
            if name in rates and name not in names:
                control.add(name, RateProfile.constant(rates[name]))
        control.listeners.append(lambda c, _what: _relay(base, c))
    for c in control.controls.values():  # time 0 of every profile: the load's start
        c.start = base.aggregate.started_at if c.start is None else c.start
    return {w.name: control.controls[w.name] for w in local}


def _steered_targets(base: RunBase) -> None:
    """A workload steered during the run (a rate, a profile, a pause): its target in the
    final table and summary is the mean of what it was told to offer over the load window,
    not its first profile's (a payment steered from 20/s to 40/s read 'target 20.00,
    achieved 36.17')."""
    agg = base.aggregate
    if agg.load_ended_at is None:
        return
    for name, c in base.control.controls.items():
        wl = agg.workloads.get(name)
        if c.version and wl is not None:
            wl.target_rate = c.mean_target(agg.started_at, agg.load_ended_at)


def _relay(base: RunBase, control: RateControl) -> None:
    """A change of a workload the workers fire: each worker fires its share from now."""
    pool, dist = base.dist.pool, base.dist
    if pool is None or control.name not in TRANSFER_WORKLOADS:
        return
    share = dist.part.share(1.0) / dist.workers
    pool.steer(control.name, control.effective.scaled(share).describe())
    now = base.clock.now()  # the whole run's target (worker processes report none)
    base.hub.emit(TargetRateEvent(control.name, now, control.target(now)))


def _stop(base: RunBase) -> None:
    """A worker died: the run stops firing and ends cleanly, with the reason."""
    base.outputs.health.phase = "draining"
    base.stop.set()
