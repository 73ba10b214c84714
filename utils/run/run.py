"""One benchmark run: wiring, the load phase, drain and the end-of-run outputs.

``Run`` owns every resource of a run (chain, RPC connection, engine, lcore
node, sinks, server) through one AsyncExitStack, so each is closed on every
path: normal end, SIGINT/SIGTERM, or an error.
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
import signal
import sys
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from contracts.lending import LendingWorkload
from contracts.transfers import merchant_workload, payment_workload
from lcore_node.binding import bound_processor
from lcore_node.config import NodeConfig
from utils.aio import all_or_cancel, wait_event
from utils.chain.connect import LocalLauncher
from utils.chain.funding import merge_needs, require_balance, top_up
from utils.chain.processor import Processor
from utils.chain.session import ChainSession, open_session
from utils.chain.wallets import WalletPool
from utils.clock import Clock
from utils.devchain.launch import launch_embedded
from utils.errors import KcStressError
from utils.iot.verify import VerifyCounts, verify_records
from utils.load.profiles import rate_profiles
from utils.load.scheduler import Scheduler
from utils.load.workload import Workload
from utils.observe.aggregate import RunAggregate
from utils.observe.goodput import Goodput
from utils.observe.kpis import iot_costs_per_record
from utils.observe.selfwatch import SelfWatch
from utils.observe.stats import StatsHub
from utils.report.final_table import render, verdict
from utils.run.chain_watch import REASON as CHAIN_LOST
from utils.run.chain_watch import ChainLossWatch
from utils.run.dapp_half import DEPLOY_GAS_RESERVE as DAPP_DEPLOY_GAS_RESERVE
from utils.run.dapp_half import DAppParts, choose_flavour, open_dapps
from utils.run.distributed import Distribution, sleep_until
from utils.run.iot_half import IotParts, iot_enabled, node_config, open_iot
from utils.run.outputs import RunOutputs
from utils.run.run_dir import check_out_dir, make_run_dir
from utils.settings import NON_TX_WORKLOADS, Settings

log = logging.getLogger(__name__)

EXIT_MET, EXIT_MISSED, EXIT_CONFIG = 0, 1, 2
DEPLOY_GAS_RESERVE = 3_000_000  # MVPIoTProcessor deployment (+ Stylus activation) at most


@dataclass
class Run:
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
                await self._verify()
                await self.outputs.close()
            return self._finish()
        finally:
            self.outputs.stop_server()

    async def _prepare(self, stack: AsyncExitStack) -> None:
        """Chain, outputs, wallets, workloads, IoT node and funding."""
        self.outputs.health.phase = "setup"
        self.dist.check(iot_enabled(self.settings))
        self.session = session = await open_session(self.settings, self.hub, self.clock, stack,
                                                    self.launch)
        self.outputs.health.follower = session.engine.follower
        session.engine.on_send_wait = self.selfwatch.observe_send_wait
        self.chain_watch = ChainLossWatch(session.engine.follower, self.clock,
                                          self.settings.chain_grace)
        wallets = self._wallets(session)
        processor, config = await self._contracts(session, wallets)
        self._make_run_dir()
        self.outputs.open(session.info.chain_id)
        stack.push_async_callback(self.outputs.close)  # idempotent: also on error paths
        if config is not None:
            self.iot = await open_iot(self.settings, session, self.dist.iot_wallets(wallets),
                                      config, processor, self.dist.device_seed(self.seed), stack)
            self.workloads += [self.iot.registration, self.iot.submission]
        self.wallets = wallets
        if self.dist.funds:
            await self._fund(session, wallets)
        if self.dapps is not None:  # mint, approve, deposit: after the wallets have gas
            await self.dapps.set_up(session)

    async def _iot_preflight(
        self, session: ChainSession
    ) -> tuple[Processor | None, NodeConfig | None]:
        """The lcore node's environment and the contract its database commits to."""
        if not iot_enabled(self.settings):
            return None, None
        config = node_config(self.settings, self.run_dir)  # its environment checked here
        if self.settings.lcore_node_url:
            return None, config
        return await bound_processor(session, self.settings, config.db_path), config

    def _make_run_dir(self) -> None:
        make_run_dir(self.run_dir.parent, self.run_id)
        if self.on_run_dir is not None:
            self.on_run_dir(self.run_dir)
        log.info("run %s writing to %s", self.run_id, self.run_dir)

    def _wallets(self, session: ChainSession) -> WalletPool:
        s = self.settings
        self.wallet_counts = self.dist.counts({
            "user": s.users, "merchant": s.merchants, "settlement": 1,
            "lender": s.lenders, "borrower": s.borrowers, "committer": s.committers,
        })
        return WalletPool.derive(session.info.funder_key, self.seed, self.wallet_counts)

    async def _contracts(
        self, session: ChainSession, wallets: WalletPool
    ) -> tuple[Processor | None, NodeConfig | None]:
        """The workloads and their contracts: the dApp contracts (``--dapp stylus|evm``) and
        the MVPIoTProcessor deploy together, their transactions sharing blocks, once the
        funder is known to afford them; then: can it pay for the load too?"""
        flavour = await choose_flavour(self.settings, session)
        iot_reserve = DEPLOY_GAS_RESERVE * session.fees.max_fee if iot_enabled(
            self.settings) else 0
        if flavour == "transfers":
            self.workloads = self._transfer_workloads(session, wallets)
            await self._require_funds(session, wallets, iot_reserve)
            return await self._iot_preflight(session)
        await require_balance(session.rpc, wallets.funder,
                              DAPP_DEPLOY_GAS_RESERVE * session.fees.max_fee + iot_reserve,
                              f"for deploying the dApp contracts ({flavour})"
                              + (" and the MVPIoTProcessor" if iot_reserve else ""))
        dapps = asyncio.ensure_future(open_dapps(
            self.settings, session, wallets, self.goodput, self.hub,
            random.Random(self.rng.random()), flavour))
        preflight = asyncio.ensure_future(self._iot_preflight(session))
        await all_or_cancel(dapps, preflight)
        self.dapps = dapps.result()
        self.workloads = list(self.dapps.workloads)
        await self._require_funds(session, wallets, 0)
        return preflight.result()

    async def _require_funds(self, session: ChainSession, wallets: WalletPool,
                             deploy_reserve: int) -> None:
        """Before spending on a contract deployment: can the funder pay for the load?"""
        if self.dist.funds:  # shard 0 (or the whole run) funds every slice
            await require_balance(session.rpc, wallets.funder,
                                  sum(merge_needs(self._needs()).values()) + deploy_reserve,
                                  "for the transfer workloads and the contract deployment")

    def _load_seconds(self) -> float:
        started, ended = self.aggregate.started_at, self.aggregate.load_ended_at
        return max(0.0, ended - started) if started is not None and ended is not None else 0.0

    def _transfer_workloads(self, session: ChainSession, wallets: WalletPool) -> list[Workload]:
        engine, rng = session.engine, self.rng
        return [
            payment_workload(engine, wallets.role("user"), wallets.role("merchant"),
                             random.Random(rng.random())),
            merchant_workload(engine, wallets.role("merchant"), wallets.role("settlement")[0],
                              random.Random(rng.random())),
            LendingWorkload(engine, wallets.role("lender"), wallets.role("borrower"),
                            random.Random(rng.random())),
        ]

    def _steps_to_fund(self, rate: float) -> float:
        """Steps a workload may take before the next top-up: the whole run, or one
        funding horizon for a run without an end (then :meth:`_refill` tops up)."""
        horizon = self.settings.duration or self.settings.funding_horizon
        return rate * horizon * 1.2 + 10 if rate > 0 else 0

    def _needs(self) -> list[dict[str, int]]:
        rates = self.settings.rates()
        return [w.funding_needs(self._steps_to_fund(rates.get(w.name, 0)))
                for w in self.workloads if rates.get(w.name, 0) > 0]

    async def _fund(self, session: ChainSession, wallets: WalletPool) -> None:
        parts = self._needs()
        if self.dapps is not None:
            parts.append(self.dapps.setup_needs(session.fees.max_fee))
        if self.iot is not None and self.iot.committer is not None:
            commits = self._steps_to_fund(self.settings.iot_data_submission_rate)
            own = self.iot.committer.funding_needs(commits)
            parts.append(own)
            if not self.dist.part.whole:  # every shard's committers, as much as this one's
                parts.append({w.address: max(own.values(), default=0)
                              for w in wallets.role("committer")})
        # set-up transactions are not part of the measurement: a private hub
        from utils.chain.tx_engine import TxEngine

        async with TxEngine(session.rpc, StatsHub(), self.clock, session.fees,
                            session.info.chain_id) as funding:
            await top_up(funding, session.rpc, wallets.funder, merge_needs(parts))

    async def _refill(self, session: ChainSession) -> None:
        """A run without an end outlives its first funding (one funding horizon): top the
        wallets up again every half horizon while the load runs."""
        every = self.settings.funding_horizon / 2
        while True:
            await wait_event(self.stop, every)
            if self.stop.is_set():
                return
            try:
                assert self.wallets is not None
                await self._fund(session, self.wallets)
            except KcStressError as exc:  # the load goes on; its failures are counted
                log.error("topping up the wallets failed: %s", exc)

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

    def _finish(self) -> int:
        reasons = list(verdict(self.outputs.kpis()).reasons)
        if self.dist.failure:
            reasons.insert(0, self.dist.failure)
        if self._chain_lost():
            assert self.chain_watch is not None
            reasons.insert(0, f"{CHAIN_LOST} ({self.chain_watch.detail})")
        if self.verified is not None and not self.verified.passed:
            reasons.append(self.verified.line())
        if self.dapps is not None and self.dapps.discrepancies:
            reasons.append(f"books do not balance ({len(self.dapps.discrepancies)} "
                           "discrepancies)")
        self.outputs.health.phase = "done"
        extra = self._summary_extra()
        self.outputs.finish(
            chain_id=self.session.info.chain_id if self.session else None, seed=self.seed,
            extra=extra, exit_reason="; ".join(reasons) or "targets met",
        )
        print(render(self.aggregate), file=self.out)
        for line in self._extra_lines(extra):
            print(line, file=self.out)
        status = "met" if not reasons else "NOT met: " + "; ".join(reasons)
        print(f"run {self.run_id}: targets {status}", file=self.out)
        print(f"results in {self.run_dir}", file=self.out)
        return EXIT_MISSED if reasons else EXIT_MET

    def _chain_lost(self) -> bool:
        return self.chain_watch is not None and self.chain_watch.lost

    def _lending(self) -> LendingWorkload | None:
        return next((w for w in self.workloads if isinstance(w, LendingWorkload)), None)

    def _summary_extra(self) -> dict[str, Any]:
        extra: dict[str, Any] = {"generator": self.selfwatch.summary(
            self.aggregate.totals().lag.percentile(0.99) if self.aggregate.totals().fired
            else None), **self.dist.summary()}
        if self.session is not None:
            extra["chain"] = {"embedded": self.session.info.embedded,
                              "client": self.session.info.client_version,
                              "nonce_resyncs": self.session.engine.nonce_resyncs}
        if (lending := self._lending()) is not None:
            extra["loan_book"] = lending.book.summary()
        if self.iot is not None:
            pipeline = self.aggregate.workloads.get("data_pipeline")
            commits = pipeline.successes if pipeline else 0
            if self.settings.iot_commit == "batch":  # records committed, not transactions
                commits = self.aggregate.iot_ops[("submit", "commit", True)]
            processor = self.iot.processor
            extra["contract"] = None if processor is None else {
                "address": processor.address, "flavour": processor.flavour,
                "deploy_gas": processor.deploy_gas,
            }
            extra["iot"] = {
                "gas_per_record": round(pipeline.gas_used / commits) if pipeline and commits
                else None,
                "commit_mode": self.settings.iot_commit,
                "costs_per_record": iot_costs_per_record(self.aggregate, pipeline),
                "submissions_skipped_no_device": self.iot.submission.skipped,
                "verify": self.verified.as_dict() if self.verified else None,
            }
        extra["dapp"] = (self.dapps.summary(self._load_seconds()) if self.dapps is not None
                         else {"flavour": "transfers"})
        return extra

    def _generator_lines(self) -> list[str]:
        """The final table's warning when the generator itself was saturated."""
        gen = self.selfwatch.summary(self.aggregate.totals().lag.percentile(0.99)
                                     if self.aggregate.totals().fired else None)
        if not gen["generator_bound"]:
            return []
        return [f"WARNING: the generator was saturated ({'; '.join(gen['reasons'])}): the "
                "rates above are what this orchestrator could drive, not the chain's limit; "
                "use more --workers or shards (--shard I/N)"]

    def _extra_lines(self, extra: dict[str, Any]) -> list[str]:
        lines = self._generator_lines()
        if (lending := self._lending()) is not None and lending.book.originated:
            book = lending.book.summary()
            lines.append(f"loan book: {book['originated']} originated, {book['repaid']} repaid, "
                         f"{book['open']} open; origination to repayment p50 "
                         f"{book['repay_time_p50_sec']:.2f} s")
        if self.iot is not None and extra.get("contract"):
            gas = extra["iot"]["gas_per_record"]
            lines.append(f"IoT contract: {extra['contract']['flavour']} at "
                         f"{extra['contract']['address']}; gas per record "
                         f"{gas if gas is not None else 'n/a'}")
        if self.verified is not None:
            lines.append(self.verified.line())
        if self.dapps is not None:
            lines += self.dapps.lines(self._load_seconds())
        return lines
