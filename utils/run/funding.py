"""Paying for a run's load: the wallets' top-ups for what the load phase needs, the dApp
set-up beside them, and the top-ups of a run without an end. Set-up transactions go through
a private engine on a private hub: they are not measured."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from utils.aio import wait_event
from utils.chain.funding import merge_needs, top_up
from utils.chain.tx_engine import TxEngine
from utils.errors import KcStressError
from utils.load.workload import Workload
from utils.observe.stats import StatsHub
from utils.run.parts import Prepared, RunBase
from utils.settings import Settings

log = logging.getLogger(__name__)

#: what the load phase will need funded, given the run's workloads
Needs = Callable[[list[Workload]], list[dict[str, int]]]


def steps_to_fund(settings: Settings, rate: float) -> float:
    """Steps a workload may take before the next top-up: the whole run, or one funding
    horizon for a run without an end (then :meth:`Funding.refill` tops up)."""
    horizon = settings.duration or settings.funding_horizon
    return rate * horizon * 1.2 + 10 if rate > 0 else 0


def whole_run_needs(settings: Settings) -> Needs:
    """What a fixed-rate run's workloads need for the whole run (or one funding horizon)."""
    def needs(workloads: list[Workload]) -> list[dict[str, int]]:
        rates = settings.rates()
        return [w.funding_needs(steps_to_fund(settings, rates.get(w.name, 0)))
                for w in workloads if rates.get(w.name, 0) > 0]
    return needs


class Funding:
    """Top-ups of ``prepared``'s wallets for ``needs``, the IoT committers' and the dApp
    set-up's."""

    def __init__(self, base: RunBase, prepared: Prepared, needs: Needs) -> None:
        self.base = base
        self.prepared = prepared
        self.needs = needs

    def _parts(self) -> list[dict[str, int]]:
        base, prepared = self.base, self.prepared
        parts = self.needs(prepared.workloads)
        if prepared.dapps is not None:
            parts.append(prepared.dapps.setup_needs(prepared.session.fees))
        iot = prepared.iot
        if iot is not None and iot.committer is not None:
            commits = steps_to_fund(base.settings, base.settings.iot_data_submission_rate)
            own = iot.committer.funding_needs(commits)
            parts.append(own)
            if not base.dist.part.whole:  # every shard's committers, as much as this one's
                parts.append({w.address: max(own.values(), default=0)
                              for w in prepared.wallets.role("committer")})
        return parts

    def engine(self) -> TxEngine:
        """An engine for set-up transactions, on a private hub: they are not measured."""
        s = self.prepared.session
        return TxEngine(s.rpc, StatsHub(), self.base.clock, s.fees, s.info.chain_id)

    async def fund(self, engine: TxEngine | None = None) -> None:
        """Top the wallets up through ``engine`` (a private one when not given)."""
        if engine is None:
            async with self.engine() as own:
                await self.fund(own)
            return
        session = self.prepared.session
        await top_up(engine, session.rpc, self.prepared.wallets.funder,
                     merge_needs(self._parts()))

    async def fund_and_set_up(self) -> None:
        """Top-ups (shard 0 or the whole run funds every slice) and the dApp set-up through
        one set-up engine: the funder's mints go beside its top-ups, the wallets' own set-up
        calls once they have gas."""
        async with self.engine() as engine:
            funding = self.fund(engine) if self.base.dist.funds else asyncio.sleep(0)
            if self.prepared.dapps is None:
                await funding
            else:
                await self.prepared.dapps.set_up(self.prepared.session, engine, funding)

    async def refill(self) -> None:
        """A run without an end outlives its first funding (one funding horizon): top the
        wallets up again every half horizon while the load runs."""
        every = self.base.settings.funding_horizon / 2
        while not await wait_event(self.base.stop, every):
            try:
                await self.fund()
            except KcStressError as exc:  # the load goes on; its failures are counted
                log.error("topping up the wallets failed: %s", exc)
