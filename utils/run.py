"""One benchmark run: wiring, the load phase, drain and the end-of-run outputs.

``Run`` owns every resource of a run (chain, RPC connection, engine, sinks,
server, lcore node) through one AsyncExitStack, so each is closed on every
path: normal end, SIGINT/SIGTERM, or an error.
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
import signal
import sys
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from contracts.lending import LendingWorkload
from contracts.transfers import merchant_workload, payment_workload
from utils.aggregate import RunAggregate
from utils.chain_setup import ChainInfo, check_chain, open_chain
from utils.clock import Clock
from utils.fees import FeePolicy
from utils.final_table import Verdict, render, verdict
from utils.funding import merge_needs, top_up
from utils.rpc import Rpc
from utils.run_dir import new_run_id
from utils.scheduler import Scheduler, Workload
from utils.settings import Settings
from utils.stats import StatsHub
from utils.tx_engine import TxEngine
from utils.wallets import WalletPool

log = logging.getLogger(__name__)

EXIT_MET, EXIT_MISSED, EXIT_CONFIG = 0, 1, 2


@dataclass
class Run:
    settings: Settings
    out: TextIO = field(default_factory=lambda: sys.stdout)
    run_id: str = field(default_factory=new_run_id)
    clock: Clock = field(default_factory=Clock)
    hub: StatsHub = field(default_factory=StatsHub)
    seed: int = 0
    run_dir: Path = Path()
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.seed = self.settings.seed if self.settings.seed is not None else secrets.randbits(32)
        self.rng = random.Random(self.seed)
        self.aggregate = RunAggregate(self.settings.rates(), clock=self.clock.now())
        self.hub.subscribe(self.aggregate.on_event)
        self.workloads: list[Workload] = []

    async def execute(self) -> int:
        """Run to the end; the exit code says whether targets were met."""
        log.info("run %s (seed %d) writing to %s", self.run_id, self.seed, self.run_dir)
        async with AsyncExitStack() as stack:
            chain = await open_chain(self.settings, stack)
            rpc = await stack.enter_async_context(Rpc(chain.url, self.hub))
            await check_chain(rpc, chain, self.settings.chain_id)
            fees = await FeePolicy.detect(rpc, self.settings.fixed_gas_price_wei)
            engine = await stack.enter_async_context(
                TxEngine(rpc, self.hub, self.clock, fees, chain.chain_id,
                         tx_timeout=self.settings.tx_timeout)
            )
            wallets = self._wallets(chain)
            self.workloads = self._build_workloads(engine, wallets)
            await self._fund(chain, rpc, fees, wallets)
            self._install_signals()
            await self._load_phase(engine)
            self.aggregate.ended_at = self.clock.now()
        return self._finish()

    def _wallets(self, chain: ChainInfo) -> WalletPool:
        s = self.settings
        return WalletPool.derive(chain.funder_key, self.seed, {
            "user": s.users, "merchant": s.merchants, "settlement": 1,
            "lender": s.lenders, "borrower": s.borrowers, "committer": s.committers,
        })

    def _build_workloads(self, engine: TxEngine, wallets: WalletPool) -> list[Workload]:
        rng = self.rng
        return [
            payment_workload(engine, wallets.role("user"), wallets.role("merchant"),
                             random.Random(rng.random())),
            merchant_workload(engine, wallets.role("merchant"), wallets.role("settlement")[0],
                              random.Random(rng.random())),
            LendingWorkload(engine, wallets.role("lender"), wallets.role("borrower"),
                            random.Random(rng.random())),
        ]

    async def _fund(self, chain: ChainInfo, rpc: Rpc, fees: FeePolicy, wallets: WalletPool) -> None:
        horizon = (self.settings.duration or self.settings.funding_horizon) + 60
        rates = self.settings.rates()
        needs = merge_needs(w.funding_needs(rates.get(w.name, 0) * horizon * 1.2 + 10)
                            for w in self.workloads if rates.get(w.name, 0) > 0)
        # set-up transactions are not part of the measurement: a private hub
        async with TxEngine(rpc, StatsHub(), self.clock, fees, chain.chain_id) as funding:
            await top_up(funding, rpc, wallets.funder, needs)

    def _install_signals(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._on_signal, sig)

    def _on_signal(self, sig: signal.Signals) -> None:
        if self.stop.is_set():
            log.warning("second %s: still draining (deadline %g s)", sig.name,
                        self.settings.drain_timeout)
            return
        log.info("%s received: stopping the load and draining", sig.name)
        self.stop.set()

    async def _load_phase(self, engine: TxEngine) -> None:
        s = self.settings
        scheduler = Scheduler(self.hub, self.clock, arrival=s.arrival, seed=self.seed)
        rates = s.rates()
        self.aggregate.started_at = self.clock.now()
        firing = [asyncio.create_task(scheduler.run(w, rates.get(w.name, 0.0), self.stop),
                                      name=f"fire-{w.name}") for w in self.workloads]
        if s.duration > 0:
            try:
                await asyncio.wait_for(self.stop.wait(), s.duration)
            except TimeoutError:
                self.stop.set()
        else:
            await self.stop.wait()
        await asyncio.gather(*firing)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + s.drain_timeout
        log.info("draining %d in-flight transactions (deadline %g s)", engine.in_flight,
                 s.drain_timeout)
        timed_out = await engine.drain(s.drain_timeout)
        await scheduler.wait_steps(max(0.0, deadline - loop.time()) + 1.0)
        if timed_out:
            log.warning("%d transactions counted as timeout at the drain deadline", timed_out)

    def _finish(self) -> int:
        v: Verdict = verdict(self.aggregate, self.settings.target_success_rate,
                             self.settings.target_max_latency_sec)
        print(render(self.aggregate), file=self.out)
        status = "met" if v.met else "NOT met: " + "; ".join(v.reasons)
        print(f"run {self.run_id}: targets {status}", file=self.out)
        print(f"results in {self.run_dir}", file=self.out)
        return EXIT_MET if v.met else EXIT_MISSED
