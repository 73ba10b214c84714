"""The parts of a run, as values: what exists before anything starts (:class:`RunBase`) and
what set-up made (:class:`Prepared`). The run's steps (prepare -> load phase -> finish) are
functions of these; nothing adds attributes to them as a side effect of another step."""

from __future__ import annotations

import asyncio
import random
import secrets
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from utils.chain.session import ChainSession
from utils.chain.wallets import WalletPool
from utils.clock import Clock
from utils.load.profiles import RateProfile, rate_profiles
from utils.load.rate_control import LoadControl
from utils.load.workload import Workload
from utils.observe.aggregate import RunAggregate
from utils.observe.goodput import Goodput
from utils.observe.head_watch import HeadWatch
from utils.observe.selfwatch import SelfWatch
from utils.observe.stats import StatsHub
from utils.observe.timeline import Timeline
from utils.run.chain_watch import ChainLossWatch
from utils.run.dapp_half import DAppParts
from utils.run.distributed import Distribution
from utils.run.finality_part import FinalityPart
from utils.run.iot_half import IotParts
from utils.run.outputs import RunOutputs
from utils.settings import NON_TX_WORKLOADS, Settings


@dataclass
class RunBase:
    """A run before it starts: its settings and identity, and the measuring parts every step
    feeds (hub, aggregate, outputs, self-watch, goodput). Made by :meth:`make`."""

    settings: Settings
    run_id: str
    run_dir: Path
    out: TextIO
    clock: Clock
    hub: StatsHub
    stop: asyncio.Event
    seed: int
    rng: random.Random
    profiles: dict[str, RateProfile]
    dist: Distribution
    aggregate: RunAggregate
    outputs: RunOutputs
    selfwatch: SelfWatch
    goodput: Goodput
    control: LoadControl  # the workloads' rates as the load phase fires them (steering)
    timeline: Timeline  # every change made while the run ran (summary.json, the console)
    heads: HeadWatch

    @classmethod
    def make(cls, settings: Settings, run_id: str, run_dir: Path, *,
             out: TextIO | None = None, clock: Clock | None = None) -> RunBase:
        clock = clock or Clock()
        hub = StatsHub()
        seed = settings.seed if settings.seed is not None else secrets.randbits(32)
        profiles = rate_profiles(settings.rates(), settings.rate_profiles)
        dist = Distribution(settings, clock.now())  # workers, shards
        tx_rates = {k: dist.part.share(nominal_rate(profiles[k], settings.duration))
                    for k in settings.rates() if k not in NON_TX_WORKLOADS}
        aggregate = RunAggregate(tx_rates, clock=clock.now(), not_transactions=NON_TX_WORKLOADS)
        hub.listen(aggregate)
        outputs = RunOutputs(settings, run_id, run_dir, clock, hub, aggregate)
        selfwatch = SelfWatch()
        selfwatch.register(outputs.registry)
        heads = HeadWatch()
        hub.listen(heads)
        timeline = Timeline(clock.now, lambda: aggregate.started_at
                            if aggregate.started_at > aggregate.opened_at else None)
        return cls(settings, run_id, run_dir, out or sys.stdout, clock, hub, asyncio.Event(),
                   seed, random.Random(seed), profiles, dist, aggregate, outputs, selfwatch,
                   Goodput(outputs.registry), LoadControl(clock.now), timeline, heads)

    def load_seconds(self) -> float:
        """Seconds the load was offered (start of firing to its stop)."""
        ended = self.aggregate.load_ended_at
        return max(0.0, ended - self.aggregate.started_at) if ended is not None else 0.0


def nominal_rate(profile: RateProfile, duration: float) -> float:
    """A workload's target for the tables: its profile's mean over the run (its peak for a
    run without an end)."""
    return profile.mean_rate(0.0, duration) if duration > 0 else profile.peak


@dataclass
class Prepared:
    """What set-up made: the chain session, wallets, workloads and the IoT and dApp halves."""

    session: ChainSession
    wallets: WalletPool
    wallet_counts: dict[str, int]
    chain_watch: ChainLossWatch
    workloads: list[Workload] = field(default_factory=list)
    iot: IotParts | None = None
    dapps: DAppParts | None = None
    finality: FinalityPart | None = None  # followed from the load's start (run.py)

    def chain_lost(self) -> bool:
        return self.chain_watch.lost
