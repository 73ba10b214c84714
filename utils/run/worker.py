"""One worker process of ``--workers N``: its own event loop, its slice of the wallets, its
share of each transfer rate; every measured event streamed to the parent.

Started by :class:`utils.load.workers.WorkerPool` as ``python -m utils.run.worker``. stdin:
one JSON line of configuration, then ``go START_AT`` (unix seconds: fire from then on),
``rate NAME SPEC`` (fire NAME at SPEC, a rate or profile string, from now: the parent relays
the console's changes, this worker's share) and ``stop`` (stop firing, drain, report
``done``, exit). End of file on stdin (the parent is gone) stops it too. stdout carries only
frames; logs go to stderr (the parent points it at ``worker-K.log``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import sys
import time
from typing import Any, BinaryIO

from contracts.lending import LendingWorkload
from contracts.transfers import merchant_workload, payment_workload
from utils.aio import wait_event
from utils.chain.fees import FeePolicy
from utils.chain.finality import FinalityTracker
from utils.chain.rpc import Rpc
from utils.chain.tx_engine import TxEngine
from utils.chain.wallets import WalletPool
from utils.clock import Clock
from utils.errors import ConfigError
from utils.load.event_stream import EventWriter
from utils.load.gc_tuning import tune_for_load
from utils.load.profiles import RateProfile, parse_profile
from utils.load.rate_control import LoadControl
from utils.load.scheduler import Scheduler
from utils.load.shards import Slice, slice_pool
from utils.load.workload import Workload
from utils.observe.stats import StatsHub
from utils.redact import RedactFilter, Redactor

log = logging.getLogger(__name__)

#: the workloads a worker runs; the IoT workloads stay with the parent (it owns the node)
TRANSFER_WORKLOADS = ("payment_app", "merchant_app", "lending_app")
FLUSH_EVERY = 0.05
#: events tallied into one frame at most (a frame per FLUSH_EVERY below that)
BATCH = 4096


def transfer_workloads(engine: TxEngine, wallets: WalletPool, rng: random.Random
                       ) -> list[Workload]:
    """payment, merchant and lending on ``wallets`` (the run and its workers build the same)."""
    return [
        payment_workload(engine, wallets.role("user"), wallets.role("merchant"),
                         random.Random(rng.random())),
        merchant_workload(engine, wallets.role("merchant"), wallets.role("settlement")[0],
                          random.Random(rng.random())),
        LendingWorkload(engine, wallets.role("lender"), wallets.role("borrower"),
                        random.Random(rng.random())),
    ]


class Worker:
    def __init__(self, config: dict[str, Any], out: BinaryIO) -> None:
        self.config = config
        self.hub = StatsHub(batch=BATCH)
        self.writer = EventWriter(out, self.hub)  # each tally of the hub, a frame
        self.clock = Clock()
        self.go = asyncio.Event()
        self.stop = asyncio.Event()
        self.start_at = 0.0
        self.controls = LoadControl(self.clock.now)

    def wallets(self) -> WalletPool:
        c = self.config
        pool = WalletPool.derive(bytes.fromhex(c["funder_key"]), int(c["seed"]), c["counts"])
        return slice_pool(pool, Slice(*c["slice"]))

    async def control(self, reader: asyncio.StreamReader) -> None:
        """``go`` and ``stop`` lines from the parent; end of file means stop."""
        while line := (await reader.readline()).decode().strip():
            if line.startswith("go "):
                self.start_at = float(line.split()[1])
                self.go.set()
            elif line.startswith("rate "):
                self.steer(line)
            elif line == "stop":
                break
        self.stop.set()
        self.go.set()

    def steer(self, line: str) -> None:
        _, name, spec = line.split(" ", 2)
        control = self.controls.controls.get(name)
        try:
            profile = parse_profile(spec)
        except ConfigError as exc:
            log.error("ignoring the parent's rate line %r: %s", line, exc)
            return
        if control is not None:
            control.switch(profile, self.clock.now())
            log.info("%s now fires at %s", name, spec)

    def finality(self, rpc: Rpc) -> FinalityTracker:
        """This worker's finality tracker: it follows the sample of this worker's own
        transactions (the same hash rule in every process); its stage events reach the parent
        in the tallies, as every other event does."""
        f = self.config["finality"]
        return FinalityTracker(rpc, self.hub, self.clock.now, sample=float(f["sample"]),
                               confirmations=int(f["confirmations"]))

    async def flush_periodically(self) -> None:
        while not self.stop.is_set():
            await wait_event(self.stop, FLUSH_EVERY)
            self.writer.flush()

    async def run(self, reader: asyncio.StreamReader) -> None:
        c = self.config
        control = asyncio.create_task(self.control(reader))
        flusher = asyncio.create_task(self.flush_periodically())
        async with Rpc(c["url"], self.hub) as rpc, TxEngine(
            rpc, self.hub, self.clock, FeePolicy(**c["fees"]), int(c["chain_id"]),
            tx_timeout=float(c["tx_timeout"]),
        ) as engine:
            rng = random.Random(f"{c['seed']}/{c['slice'][0]}")
            workloads = transfer_workloads(engine, self.wallets(), rng)
            finality = self.finality(rpc)
            await finality.start()
            self.writer.send("ready", {"pid": os.getpid()})
            await self.go.wait()
            await wait_event(self.stop, max(0.0, self.start_at - self.clock.now()))
            tune_for_load()
            cpu_at_start = time.process_time()
            scheduler = Scheduler(self.hub, self.clock, arrival=c["arrival"],
                                  seed=rng.randrange(2**32), report_targets=False)
            rates: dict[str, float] = c["rates"]
            for w in workloads:
                self.controls.add(w.name, RateProfile.constant(rates.get(w.name, 0.0)))
            firing = [asyncio.create_task(scheduler.run(w, self.controls.controls[w.name],
                                                        self.stop)) for w in workloads]
            await asyncio.gather(*firing)
            load_cpu = time.process_time() - cpu_at_start
            drain = float(c["drain_timeout"])
            loop = asyncio.get_running_loop()
            deadline = loop.time() + drain
            cancelled = await scheduler.wait_steps(drain)
            timed_out = await engine.drain(max(0.0, deadline - loop.time()))
            resyncs = engine.nonce_resyncs
            await finality.finish(float(c["finality"]["wait"]))
        flusher.cancel()
        control.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(flusher, control)
        self.writer.flush()
        self.writer.send("done", {"nonce_resyncs": resyncs, "timed_out": timed_out,
                                  "cancelled_steps": cancelled,
                                  "finality_not_followed": finality.not_followed,
                                  "load_cpu_s": round(load_cpu, 3),
                                  "cpu_s": round(time.process_time(), 3)})


async def _main() -> int:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    config = json.loads(await reader.readline())
    logging.basicConfig(level=config.get("log_level", "INFO"), stream=sys.stderr,
                        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:  # the run's URL may carry an API key
        handler.addFilter(RedactFilter(Redactor([config["url"]])))
    out = sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing but frames on the real stdout
    worker = Worker(config, out)
    try:
        await worker.run(reader)
    except Exception as exc:
        log.exception("worker failed")
        worker.writer.send("error", f"{type(exc).__name__}: {exc}")
        return 1
    return 0


def main() -> int:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when workers stop
    return asyncio.run(_main())


if __name__ == "__main__":
    sys.exit(main())
