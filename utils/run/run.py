"""One benchmark run: wiring, the load phase, drain and the end-of-run outputs.

``Run`` owns every resource of a run (chain, RPC connection, engine, lcore
node, sinks, server) through one AsyncExitStack, so each is closed on every
path: normal end, SIGINT/SIGTERM, or an error. Its set-up (wallets, contracts,
funding) is :class:`~utils.run.run_setup.RunSetup`, its end (verdict, summary
parts, final lines) :class:`~utils.run.run_end.RunEnd`.
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
import signal
import sys
import threading
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from utils.aio import wait_event
from utils.chain.connect import LocalLauncher
from utils.chain.session import ChainSession, open_session
from utils.chain.wallets import WalletPool
from utils.clock import Clock
from utils.devchain.launch import launch_embedded
from utils.iot.verify import VerifyCounts, verify_records
from utils.load.profiles import rate_profiles
from utils.load.scheduler import Scheduler
from utils.load.workload import Workload
from utils.observe.aggregate import RunAggregate
from utils.observe.goodput import Goodput
from utils.observe.selfwatch import SelfWatch
from utils.observe.stats import StatsHub
from utils.run.chain_watch import REASON as CHAIN_LOST
from utils.run.chain_watch import ChainLossWatch
from utils.run.dapp_half import DAppParts
from utils.run.distributed import Distribution, sleep_until
from utils.run.iot_half import IotParts, iot_enabled, open_iot
from utils.run.outputs import RunOutputs
from utils.run.run_dir import check_out_dir, make_run_dir
from utils.run.run_end import EXIT_CONFIG, EXIT_MET, EXIT_MISSED, RunEnd
from utils.run.run_setup import RunSetup, quick_setup_blocks
from utils.settings import NON_TX_WORKLOADS, Settings

log = logging.getLogger(__name__)

PRELOAD_PLOTS_MAX_S = 300.0  # runs up to this long start the report's figure process at set-up

__all__ = ["EXIT_CONFIG", "EXIT_MET", "EXIT_MISSED", "Run"]


@dataclass
class Run(RunSetup, RunEnd):
    settings: Settings
    run_id: str
    run_dir: Path
    out: TextIO = field(default_factory=lambda: sys.stdout)
    clock: Clock = field(default_factory=Clock)
    hub: StatsHub = field(default_factory=StatsHub)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    #: called once the run directory exists (main.py attaches run.log there)
    on_run_dir: Callable[[Path], None] | None = None
    #: starts the local chain when there is no --rpc-url (main.py passes one that hands over
    #: a chain it started while the run's modules were importing)
    launch: LocalLauncher = launch_embedded

    def __post_init__(self) -> None:
        self.seed = self.settings.seed if self.settings.seed is not None else secrets.randbits(32)
        self.rng = random.Random(self.seed)
        self.profiles = rate_profiles(self.settings.rates(), self.settings.rate_profiles)
        self.dist = Distribution(self.settings, self.clock.now())  # workers, shards
        tx_rates = {k: self.dist.part.share(self._nominal(k)) for k in self.settings.rates()
                    if k not in NON_TX_WORKLOADS}
        self.aggregate = RunAggregate(tx_rates, clock=self.clock.now(),
                                      not_transactions=NON_TX_WORKLOADS)
        self.hub.subscribe(self.aggregate.on_event)
        self.workloads: list[Workload] = []
        self.iot: IotParts | None = None
        self.session: ChainSession | None = None
        self.verified: VerifyCounts | None = None
        self.wallets: WalletPool | None = None
        self.chain_watch: ChainLossWatch | None = None
        self.outputs = RunOutputs(self.settings, self.run_id, self.run_dir, self.clock,
                                  self.hub, self.aggregate)
        self.selfwatch = SelfWatch()
        self.selfwatch.register(self.outputs.registry)
        self.goodput = Goodput(self.outputs.registry)  # business operations (dApp flows)
        self.dapps: DAppParts | None = None

    def _nominal(self, name: str) -> float:
        """A workload's target for the tables: its profile's mean over the run (its peak for
        a run without an end)."""
        profile = self.profiles[name]
        duration = self.settings.duration
        return profile.mean_rate(0.0, duration) if duration > 0 else profile.peak

    async def execute(self) -> int:
        """Run to the end; the exit code says whether targets were met. Every check that can
        fail at start runs before the run directory is made (a failure leaves nothing)."""
        check_out_dir(self.settings.out)
        log.info("run %s (seed %d) will write to %s", self.run_id, self.seed, self.run_dir)
        self.outputs.start_server()  # a taken port fails before anything starts
        self._install_signals()  # a signal during set-up: no load, straight to the end
        try:
            async with AsyncExitStack() as stack:
                await self._prepare(stack)
                assert self.session is not None
                self.outputs.health.phase = "load"
                await self._load_phase(self.session)
                self.aggregate.ended_at = self.clock.now()
                self.outputs.health.phase = "verifying"
                # the CSVs are complete: the report's figures are drawn while the run verifies
                await self.outputs.close(draw_figures=True)
                await self._verify()
            # the endpoints have nothing more to show (metrics.prom holds the last scrape):
            # their server stops (up to one 0.2 s poll) while the summary and report are built
            stopping = threading.Thread(target=self.outputs.stop_server, name="stop-http")
            stopping.start()
            try:
                return self._finish()
            finally:
                stopping.join()
        finally:
            self.outputs.stop_server()
            self.outputs.stop_figures()

    async def _prepare(self, stack: AsyncExitStack) -> None:
        """Chain, outputs, wallets, workloads, IoT node and funding."""
        self.outputs.health.phase = "setup"
        self.dist.check(iot_enabled(self.settings))
        # the report's figure process imports matplotlib while the run sets up; not for a long
        # run, which would carry its 40 MB for hours to save 0.45 s at its end
        duration = self.settings.duration
        if duration and duration <= PRELOAD_PLOTS_MAX_S:
            self.outputs.prepare_figures()
        self.session = session = await open_session(self.settings, self.hub, self.clock, stack,
                                                    self.launch)
        self.outputs.health.follower = session.engine.follower
        session.engine.on_send_wait = self.selfwatch.observe_send_wait
        self.chain_watch = ChainLossWatch(session.engine.follower, self.clock,
                                          self.settings.chain_grace)
        wallets = self._wallets(session)
        async with quick_setup_blocks(session):
            processor, config = await self._contracts(session, wallets)
            self._make_run_dir()
            self.outputs.open(session.info.chain_id)
            stack.push_async_callback(self.outputs.close)  # idempotent: also on error paths
            if config is not None:
                self.iot = await open_iot(self.settings, session,
                                          self.dist.iot_wallets(wallets), config, processor,
                                          self.dist.device_seed(self.seed), stack)
                self.workloads += [self.iot.registration, self.iot.submission]
            self.wallets = wallets
            await self._fund_and_set_up(session, wallets)

    def _make_run_dir(self) -> None:
        make_run_dir(self.run_dir.parent, self.run_id)
        if self.on_run_dir is not None:
            self.on_run_dir(self.run_dir)
        log.info("run %s writing to %s", self.run_id, self.run_dir)

    def _install_signals(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._on_signal, sig)

    def _on_signal(self, sig: signal.Signals) -> None:
        if self.stop.is_set():
            log.warning("%s again: already draining (deadline %g s)", sig.name,
                        self.settings.drain_timeout)
            return
        log.info("%s received: stopping the load and draining", sig.name)
        self.outputs.health.phase = "draining"
        self.stop.set()

    async def _load_phase(self, session: ChainSession) -> None:
        s = self.settings
        # with worker processes each fires a slice: the target stays the whole run's rate
        scheduler = Scheduler(self.hub, self.clock, arrival=s.arrival, seed=self.seed,
                              report_targets=self.dist.workers == 1)
        rates = self.dist.rates(s.rates())
        assert self.wallets is not None
        local = self.dist.local_workloads(self.workloads, session.engine, self.wallets,
                                          random.Random(self.rng.random()))
        await self.dist.start_workers(self.hub, self.run_dir, self.dist.worker_configs(
            session, self.wallets, self.seed, self.wallet_counts,
            logging.getLevelName(logging.getLogger().getEffectiveLevel())),
            self._on_worker_failure)
        start_at = await self.dist.synchronise_start(session, self.wallets, self.seed,
                                                     self.clock.now)
        await sleep_until(self.stop, start_at, self.clock.now)
        self.aggregate.started_at = self.clock.now()
        self.selfwatch.start_run()
        watch = asyncio.create_task(self.selfwatch.run(self.stop), name="selfwatch")
        firing = [asyncio.create_task(scheduler.run(w, self._local_rate(w.name, rates),
                                                    self.stop), name=f"fire-{w.name}")
                  for w in local]
        if s.duration == 0:
            firing.append(asyncio.create_task(self._refill(session), name="refill"))
        if self.chain_watch is not None:
            firing.append(asyncio.create_task(self.chain_watch.run(self.stop), name="chain"))
        if s.duration > 0:
            await wait_event(self.stop, s.duration)
            self.stop.set()
        else:
            await self.stop.wait()
        await asyncio.gather(*firing, watch)
        self.aggregate.load_ended_at = self.clock.now()
        self.selfwatch.end_run()
        await asyncio.gather(self.dist.stop_workers(), self._drain(session, scheduler))

    def _local_rate(self, name: str, rates: dict[str, float]) -> Any:
        """What this process fires for ``name``: its profile, or its slice's share of the
        rate when the run is spread over workers or shards (profiles then run constant)."""
        if self.dist.slices == 1 and self.dist.workers == 1:
            return self.profiles.get(name, rates.get(name, 0.0))
        return rates.get(name, 0.0)

    def _on_worker_failure(self, reason: str) -> None:
        """A worker died: the run stops firing and ends cleanly, with the reason."""
        self.outputs.health.phase = "draining"
        self.stop.set()

    async def _drain(self, session: ChainSession, scheduler: Scheduler) -> None:
        """Stop firing (done), then let steps, the IoT outbox and the engine finish by a
        shared deadline; what is left then is counted as timeout."""
        loop = asyncio.get_running_loop()
        # a lost chain commits nothing more: what is in flight counts as timeout at once
        drain = 0.0 if self._chain_lost() else self.settings.drain_timeout
        deadline = loop.time() + drain
        log.info("draining: %d steps, %d transactions in flight (deadline %g s)",
                 scheduler.running_steps, session.engine.in_flight, self.settings.drain_timeout)
        await scheduler.wait_steps(max(0.0, deadline - loop.time()))
        if self.iot is not None and self.iot.node is not None and self.iot.node.outbox:
            left = await self.iot.node.outbox.drain(max(0.0, deadline - loop.time()))
            if left:
                log.warning("%d IoT records not committed by the drain deadline", left)
        timed_out = await session.engine.drain(max(0.0, deadline - loop.time()))
        if timed_out:
            log.warning("%d transactions counted as timeout at the drain deadline", timed_out)

    async def _verify(self) -> None:
        """The embedded chain ends with the run: verify the run's records while it is up."""
        if self.dapps is not None and self.session is not None and not self._chain_lost():
            await self.dapps.check(self.session)  # the books, after every run
        if self.iot is None or self.iot.node is None:
            return
        if self._chain_lost():
            log.warning("%s: the run's records are not verified on chain; they stay in %s "
                        "for a later run or `serve`", CHAIN_LOST, self.iot.node.config.db_path)
            return
        self.verified = await verify_records(self.iot.node, on_chain=True)
        log.info("%s", self.verified.line())
