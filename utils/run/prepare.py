"""A run's set-up: the chain session, its wallets, the workloads and the contracts they need
(the dApp contracts and the MVPIoTProcessor, deployed together), the funder's checks, the
run directory and outputs, the IoT node, the wallets' top-ups and the dApp set-up. Nothing
here is measured: set-up transactions go through private engines (:mod:`utils.run.funding`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from pathlib import Path

from lcore_node.binding import bound_processor
from lcore_node.config import NodeConfig
from utils.aio import all_or_cancel
from utils.chain.connect import LocalLauncher
from utils.chain.funding import merge_needs, require_balance
from utils.chain.processor import Processor
from utils.chain.session import ChainSession, open_session
from utils.chain.wallets import WalletPool
from utils.errors import KcStressError
from utils.run.chain_watch import ChainLossWatch
from utils.run.dapp_half import DEPLOY_GAS_RESERVE as DAPP_DEPLOY_GAS_RESERVE
from utils.run.dapp_half import choose_flavour, open_dapps
from utils.run.finality_part import open_finality
from utils.run.funding import Funding, Needs
from utils.run.iot_half import iot_enabled, node_config, open_iot
from utils.run.parts import Prepared, RunBase
from utils.run.run_dir import make_run_dir
from utils.run.worker import transfer_workloads

log = logging.getLogger(__name__)

DEPLOY_GAS_RESERVE = 3_000_000  # MVPIoTProcessor deployment (+ Stylus activation) at most
SETUP_BLOCK_TIME = 0.02  # the embedded chain's block time while a run sets up (seconds)
PRELOAD_PLOTS_MAX_S = 300.0  # runs up to this long start the report's figure process at set-up

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


async def open_chain(base: RunBase, stack: AsyncExitStack, launch: LocalLauncher) -> Prepared:
    """The chain session (closed with ``stack``), its loss watch and the run's wallets."""
    base.outputs.health.phase = "setup"
    base.dist.check(iot_enabled(base.settings))
    # the report's figure process imports matplotlib while the run sets up; not for a long
    # run, which would carry its 40 MB for hours to save 0.45 s at its end
    if base.settings.duration and base.settings.duration <= PRELOAD_PLOTS_MAX_S:
        base.outputs.prepare_figures()
    session = await open_session(base.settings, base.hub, base.clock, stack, launch)
    base.outputs.health.follower = session.engine.follower
    session.engine.on_send_wait = base.selfwatch.observe_send_wait
    s = base.settings
    counts = base.dist.counts({
        "user": s.users, "merchant": s.merchants, "settlement": 1,
        "lender": s.lenders, "borrower": s.borrowers, "committer": s.committers,
    })
    wallets = WalletPool.derive(session.info.funder_key, base.seed, counts)
    watch = ChainLossWatch(session.engine.follower, base.clock, s.chain_grace)
    return Prepared(session, wallets, counts, watch)


async def prepare(base: RunBase, stack: AsyncExitStack, launch: LocalLauncher, needs: Needs,
                  on_run_dir: Callable[[Path], None] | None = None) -> Prepared:
    """Chain, wallets, workloads and contracts, the run directory and outputs, the IoT node;
    then the funder's top-ups for ``needs`` and the dApp set-up."""
    prepared = await open_chain(base, stack, launch)
    session = prepared.session
    async with quick_setup_blocks(session):
        processor, config = await _contracts(base, prepared, needs)
        make_run_dir(base.run_dir.parent, base.run_id)
        if on_run_dir is not None:
            on_run_dir(base.run_dir)
        log.info("run %s writing to %s", base.run_id, base.run_dir)
        base.outputs.open(session.info.chain_id)
        stack.push_async_callback(base.outputs.close)  # idempotent: also on error paths
        if config is not None:
            prepared.iot = await open_iot(base.settings, session,
                                          base.dist.iot_wallets(prepared.wallets), config,
                                          processor, base.dist.device_seed(base.seed), stack)
            prepared.workloads += [prepared.iot.registration, prepared.iot.submission]
        await Funding(base, prepared, needs).fund_and_set_up()
        if prepared.iot is not None and prepared.iot.node is not None:
            await prepared.iot.node.start_outbox()  # records an earlier process left go now
    prepared.finality = open_finality(base, session)  # the load's transactions only
    stack.push_async_callback(prepared.finality.tracker.finish, 0.0)  # on every path
    await prepared.finality.start()
    return prepared


async def _iot_preflight(base: RunBase, session: ChainSession
                         ) -> tuple[Processor | None, NodeConfig | None]:
    """The lcore node's environment and the contract its database commits to."""
    if not iot_enabled(base.settings):
        return None, None
    config = node_config(base.settings, base.run_dir)  # its environment checked here
    if base.settings.lcore_node_url:
        return None, config
    return await bound_processor(session, base.settings, config.db_path), config


async def _contracts(base: RunBase, prepared: Prepared, needs: Needs
                     ) -> tuple[Processor | None, NodeConfig | None]:
    """The workloads and their contracts: the dApp contracts (``--dapp stylus|evm``) and
    the MVPIoTProcessor deploy together, their transactions sharing blocks, once the
    funder is known to afford them; then: can it pay for the load too?"""
    session, wallets = prepared.session, prepared.wallets
    flavour = await choose_flavour(base.settings, session)
    iot_reserve = DEPLOY_GAS_RESERVE * session.fees.max_fee if iot_enabled(
        base.settings) else 0
    if flavour == "transfers":
        prepared.workloads = transfer_workloads(session.engine, wallets, base.rng)
        await _require_funds(base, prepared, needs, iot_reserve)
        return await _iot_preflight(base, session)
    await require_balance(session.rpc, wallets.funder,
                          DAPP_DEPLOY_GAS_RESERVE * session.fees.max_fee + iot_reserve,
                          f"for deploying the dApp contracts ({flavour})"
                          + (" and the MVPIoTProcessor" if iot_reserve else ""))
    dapps = asyncio.ensure_future(open_dapps(
        base.settings, session, wallets, base.goodput, base.hub,
        random.Random(base.rng.random()), flavour))
    preflight = asyncio.ensure_future(_iot_preflight(base, session))
    await all_or_cancel(dapps, preflight)
    prepared.dapps = dapps.result()
    prepared.workloads = list(prepared.dapps.workloads)
    await _require_funds(base, prepared, needs, 0)
    return preflight.result()


async def _require_funds(base: RunBase, prepared: Prepared, needs: Needs,
                         deploy_reserve: int) -> None:
    """Before spending on a contract deployment: can the funder pay for the load?"""
    if base.dist.funds:  # shard 0 (or the whole run) funds every slice
        await require_balance(prepared.session.rpc, prepared.wallets.funder,
                              sum(merge_needs(needs(prepared.workloads)).values())
                              + deploy_reserve,
                              "for the transfer workloads and the contract deployment")
