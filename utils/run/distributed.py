"""A run spread over processes: ``--workers M`` on this machine, ``--shard I/N`` across many.

:class:`Distribution` answers what the run needs to know about it: how many wallets to
derive (every slice needs one of each sending role), which slice this process and each of
its workers offers, what share of each rate, who funds (shard 0 alone: it funds the whole
pool, so the shared funder has one sender and no nonce can clash), when the load starts
(the start time shard 0 publishes on the chain, :mod:`utils.load.start_barrier`), and the
worker processes themselves (:class:`utils.load.workers.WorkerPool`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

from utils.chain.session import ChainSession
from utils.chain.tx_engine import TxEngine
from utils.chain.wallets import WalletPool
from utils.errors import ConfigError
from utils.load.gc_tuning import tune_for_load
from utils.load.shards import Slice, parse_shard, pool_counts, slice_pool
from utils.load.start_barrier import await_start, barrier_address, publish_start
from utils.load.workers import WorkerPool
from utils.load.workload import Workload
from utils.observe.stats import StatsHub
from utils.run.worker import TRANSFER_WORKLOADS, transfer_workloads
from utils.settings import Settings

log = logging.getLogger(__name__)

#: shard 0 publishes a start this far ahead, so every shard sees it in time
START_LEAD = 2.0


class Distribution:
    def __init__(self, settings: Settings, launched_at: float) -> None:
        self.settings = settings
        self.part = parse_shard(settings.shard) if settings.shard else Slice()
        self.workers = settings.workers
        self.launched_at = launched_at
        self.pool: WorkerPool | None = None
        self.failure: str | None = None
        self.start_at: float | None = None
        self.barrier: str | None = None

    @property
    def slices(self) -> int:
        """Processes offering transfer load over the whole run (shards x workers)."""
        return self.part.count * self.workers

    @property
    def funds(self) -> bool:
        return self.part.index == 0

    @property
    def shard_label(self) -> str | None:
        return None if self.part.whole else str(self.part.index)

    def check(self, iot: bool) -> None:
        """Shards need a chain they share, and an IoT contract nobody deploys twice."""
        s = self.settings
        if self.part.whole:
            return
        if not s.rpc_url:
            raise ConfigError("--shard", "shards share one chain: give --rpc-url")
        if iot and not s.lcore_node_url and not s.contract_address:
            raise ConfigError("--shard", "shards with IoT load need MVP_IOT_PROCESSOR_ADDRESS "
                              "(one contract for every shard), or --rate iot=0 "
                              "--rate iot_registration=0")

    def counts(self, counts: dict[str, int]) -> dict[str, int]:
        return pool_counts(counts, self.slices)

    def rates(self, rates: dict[str, float]) -> dict[str, float]:
        """What this process fires itself: its shard's share, minus what workers fire."""
        local = {name: self.part.share(rate) for name, rate in rates.items()}
        if self.workers > 1:
            local = {n: 0.0 if n in TRANSFER_WORKLOADS else r for n, r in local.items()}
        return local

    def local_workloads(self, workloads: list[Workload], engine: TxEngine, wallets: WalletPool,
                        rng: random.Random) -> list[Workload]:
        """The workloads this process fires: on its own slice of the wallets."""
        others = [w for w in workloads if w.name not in TRANSFER_WORKLOADS]
        if self.workers > 1:
            return others
        if self.part.whole:
            return workloads
        return transfer_workloads(engine, slice_pool(wallets, self.part), rng) + others

    def iot_wallets(self, wallets: WalletPool) -> WalletPool:
        return slice_pool(wallets, self.part)

    def device_seed(self, seed: int) -> int:
        """Shards simulate different devices (their records must not collide on chain)."""
        return seed if self.part.whole else seed * 1_000 + self.part.index

    def worker_configs(self, session: ChainSession, wallets: WalletPool, seed: int,
                       counts: dict[str, int], log_level: str) -> list[dict[str, Any]]:
        s = self.settings
        share = {n: self.part.share(r) / self.workers for n, r in s.rates().items()
                 if n in TRANSFER_WORKLOADS}
        base = {
            "url": session.info.url, "chain_id": session.info.chain_id,
            "funder_key": session.info.funder_key.hex(), "seed": seed, "counts": counts,
            "rates": share, "arrival": s.arrival, "tx_timeout": s.tx_timeout,
            "drain_timeout": s.drain_timeout, "fees": dataclasses.asdict(session.fees),
            "log_level": log_level,
            "finality": {"sample": s.finality_sample, "wait": s.finality_wait,
                         "confirmations": s.finality_confirmations},
        }  # fmt: skip
        slices = [self.part.split(Slice(k, self.workers)) for k in range(self.workers)]
        return [{**base, "slice": [p.index, p.count]} for p in slices]

    async def start_workers(self, hub: StatsHub, run_dir: Path, configs: list[dict[str, Any]],
                            on_failure: Callable[[str], None]) -> None:
        if self.workers <= 1:
            return

        def failed(reason: str) -> None:
            self.failure = reason
            on_failure(reason)

        self.pool = WorkerPool(hub, run_dir, on_failure=failed)
        await self.pool.start(configs)

    async def synchronise_start(self, session: ChainSession, wallets: WalletPool, seed: int,
                                now: Callable[[], float]) -> float:
        """The moment every slice starts firing; workers are told it. The last step before
        the load: this process's collector is tuned for it here (workers tune their own)."""
        if self.part.whole:
            start_at = now()
        else:
            self.barrier = barrier_address(session.info.funder_key, seed, self.settings.run_tag)
            if self.funds:
                start_at = round(now() + START_LEAD, 3)  # what the barrier holds (ms)
                async with TxEngine(session.rpc, StatsHub(), session.clock, session.fees,
                                    session.info.chain_id) as engine:
                    await publish_start(engine, session.rpc, wallets.funder, self.barrier,
                                        start_at)
            else:
                start_at = await await_start(session.rpc, self.barrier, self.launched_at,
                                             self.settings.shard_start_timeout)
        self.start_at = start_at
        if self.pool is not None:
            await self.pool.go(start_at)
        tune_for_load()
        return start_at

    async def stop_workers(self) -> None:
        if self.pool is not None:
            s = self.settings  # a worker drains, then follows its samples' finality
            await self.pool.stop(s.drain_timeout + s.finality_wait + 10.0)

    def summary(self) -> dict[str, Any]:
        extra: dict[str, Any] = {}
        if self.pool is not None:
            extra["workers"] = {"count": self.workers, "processes": self.pool.summary(),
                                "failure": self.failure}
        if not self.part.whole:
            extra["shard"] = {"index": self.part.index, "count": self.part.count,
                              "start_at": self.start_at, "barrier": self.barrier,
                              "funded_by_this_shard": self.funds}
        return extra


async def sleep_until(stop: asyncio.Event, at: float, now: Callable[[], float]) -> None:
    from utils.aio import wait_event

    delay = at - now()
    if delay > 0:
        await wait_event(stop, delay)
