"""The set-up half of a run (:class:`RunSetup`, a part of :class:`utils.run.run.Run`): its
wallets, the workloads and the contracts they need (the dApp contracts and the
MVPIoTProcessor, deployed together), the funder's checks, the wallets' top-ups and the dApp
set-up, and the top-ups of a run without an end. Nothing here is measured: set-up
transactions go through private engines."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator
from pathlib import Path

from lcore_node.binding import bound_processor
from lcore_node.config import NodeConfig
from utils.aio import all_or_cancel, wait_event
from utils.chain.funding import merge_needs, require_balance, top_up
from utils.chain.processor import Processor
from utils.chain.session import ChainSession
from utils.chain.tx_engine import TxEngine
from utils.chain.wallets import WalletPool
from utils.clock import Clock
from utils.errors import KcStressError
from utils.load.workload import Workload
from utils.observe.goodput import Goodput
from utils.observe.stats import StatsHub
from utils.run.dapp_half import DEPLOY_GAS_RESERVE as DAPP_DEPLOY_GAS_RESERVE
from utils.run.dapp_half import DAppParts, choose_flavour, open_dapps
from utils.run.distributed import Distribution
from utils.run.iot_half import IotParts, iot_enabled, node_config
from utils.run.worker import transfer_workloads
from utils.settings import Settings

log = logging.getLogger(__name__)

DEPLOY_GAS_RESERVE = 3_000_000  # MVPIoTProcessor deployment (+ Stylus activation) at most
SETUP_BLOCK_TIME = 0.02  # the embedded chain's block time while a run sets up (seconds)


@contextlib.asynccontextmanager
async def quick_setup_blocks(session: ChainSession) -> AsyncIterator[None]:
    """On the embedded chain, the set-up's bursts (deployments, activations, top-ups, dApp
    set-up) are sealed within ``SETUP_BLOCK_TIME`` instead of waiting up to a block time each
    (about 0.5 s of a run's start); the configured block time is back before the load, which
    is all that is measured. Other chains are left alone."""
    info = session.info
    if not (info.embedded and info.client_version.startswith("kcdev/")):
        yield
        return
    previous = await session.rpc.call("kcdev_setBlockTime", SETUP_BLOCK_TIME)
    try:
        yield
    except BaseException:
        with contextlib.suppress(KcStressError):  # the set-up's own error is the one to see
            await session.rpc.call("kcdev_setBlockTime", previous)
        raise
    await session.rpc.call("kcdev_setBlockTime", previous)


class RunSetup:
    """What :class:`~utils.run.run.Run` prepares before its load; the attributes below are the
    run's (set in its ``__post_init__`` and ``_prepare``)."""

    settings: Settings
    seed: int
    rng: random.Random
    clock: Clock
    hub: StatsHub
    stop: asyncio.Event
    dist: Distribution
    goodput: Goodput
    workloads: list[Workload]
    wallets: WalletPool | None
    wallet_counts: dict[str, int]
    dapps: DAppParts | None
    iot: IotParts | None
    run_dir: Path

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
            self.workloads = transfer_workloads(session.engine, wallets, self.rng)
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

    def _steps_to_fund(self, rate: float) -> float:
        """Steps a workload may take before the next top-up: the whole run, or one
        funding horizon for a run without an end (then :meth:`_refill` tops up)."""
        horizon = self.settings.duration or self.settings.funding_horizon
        return rate * horizon * 1.2 + 10 if rate > 0 else 0

    def _needs(self) -> list[dict[str, int]]:
        rates = self.settings.rates()
        return [w.funding_needs(self._steps_to_fund(rates.get(w.name, 0)))
                for w in self.workloads if rates.get(w.name, 0) > 0]

    async def _fund(self, session: ChainSession, wallets: WalletPool,
                    engine: TxEngine | None = None) -> None:
        """Top the wallets up for what the run's workloads need, through ``engine`` (a
        private one when not given: set-up transactions are not part of the measurement)."""
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
        if engine is not None:
            await top_up(engine, session.rpc, wallets.funder, merge_needs(parts))
            return
        async with self._setup_engine(session) as funding:
            await top_up(funding, session.rpc, wallets.funder, merge_needs(parts))

    def _setup_engine(self, session: ChainSession) -> TxEngine:
        """An engine for set-up transactions, on a private hub: they are not measured."""
        return TxEngine(session.rpc, StatsHub(), self.clock, session.fees,
                        session.info.chain_id)

    async def _fund_and_set_up(self, session: ChainSession, wallets: WalletPool) -> None:
        """Top-ups (shard 0 or the whole run funds every slice) and the dApp set-up through
        one set-up engine: the funder's mints go beside its top-ups, the wallets' own set-up
        calls once they have gas."""
        async with self._setup_engine(session) as engine:
            funding = self._fund(session, wallets, engine) if self.dist.funds else \
                asyncio.sleep(0)
            if self.dapps is None:
                await funding
            else:
                await self.dapps.set_up(session, engine, funding)

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
