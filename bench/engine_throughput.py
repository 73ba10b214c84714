"""Benchmark: included tx/s of the tx engine vs. a bare pipelined web3 loop, both over capacity.

    .venv/bin/python bench/engine_throughput.py [--seconds 8] [--senders 64] [--offered 1500]
                                                [--rounds 2] [--inflight 64]

Each side gets a fresh embedded DevChain (0.25 s blocks) and the same ``--senders`` user
wallets (derived from one seed, funded before the load):

* engine: the way a run drives it: a Scheduler fires ``payment_workload`` steps open-loop at
  ``--offered`` steps/s through a TxEngine (local nonces, per-sender serialised sends, receipts
  found by the block follower, one TxEvent per tx);
* bare: ``--inflight`` workers over one keep-alive aiohttp session, AsyncWeb3 +
  AsyncHTTPProvider, nonces counted locally from one read, each worker signing the next
  transfer and awaiting ``w3.eth.send_raw_transaction``; no receipts.

Both are measured from the chain alone: after a warm-up, the window runs from the first block
seen sealed to the first block seen sealed ``--seconds`` later (eth_blockNumber polled every
10 ms on a separate connection); after the window the blocks in it are read back and the
transactions sent by the benchmark's senders counted. Rate = that count / window length.
The side order alternates per round; each round and the best/median are printed.
Bounded: about rounds x 2 x (seconds + 3) s, 45 s with the defaults.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import random
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp
from eth_account import Account
from web3 import AsyncHTTPProvider, AsyncWeb3

from contracts.transfers import PAYMENT_WEI, payment_workload
from utils.chain.fees import FeePolicy
from utils.chain.funding import top_up
from utils.chain.rpc import Rpc, hex_int
from utils.chain.tx_engine import TxEngine
from utils.chain.tx_request import TRANSFER_GAS
from utils.chain.wallets import Wallet, WalletPool
from utils.clock import Clock
from utils.devchain import DevChain
from utils.load.gc_tuning import tune_for_load
from utils.load.scheduler import Scheduler
from utils.observe.events import Event, FiringEvent, TxEvent
from utils.observe.stats import StatsHub

SEED = 1337
MERCHANTS = 16
WARMUP_S = 1.0
HEAD_POLL_S = 0.01
NO_BLOCK_S = 10.0  # the chain seals only non-empty blocks: none this long means no load
FUNDS_WEI = 10**21  # per user: far more than a run of this length spends
Number = TypeVar("Number", int, float)


@dataclass
class Setup:
    url: str
    chain_id: int
    fees: FeePolicy
    users: list[Wallet]
    merchants: list[Wallet]
    args: argparse.Namespace


@dataclass
class Window:
    """Included transactions of the benchmark's senders in blocks (first, last]."""

    first: int
    last: int
    seconds: float
    included: int
    last_hash: str
    client_cpu: float  # CPU time of this (client) process in the window / window length

    @property
    def rate(self) -> float:
        return self.included / self.seconds


@dataclass
class SideResult:
    side: str
    window: Window
    client: str  # client-side counters, for information only


class HeadWatch:
    """Sees new blocks by polling eth_blockNumber on its own connection."""

    def __init__(self, rpc: Rpc) -> None:
        self.rpc = rpc

    async def next_block(self) -> tuple[int, float]:
        """The number of the next block sealed from now, and when it was first seen."""
        start = hex_int(await self.rpc.call("eth_blockNumber"))
        deadline = time.perf_counter() + NO_BLOCK_S
        while time.perf_counter() < deadline:
            await asyncio.sleep(HEAD_POLL_S)
            head = hex_int(await self.rpc.call("eth_blockNumber"))
            if head > start:
                return head, time.perf_counter()
        raise RuntimeError(f"no block sealed after {start} within {NO_BLOCK_S:g} s")

    async def window(self, seconds: float) -> tuple[int, int, float, float]:
        """(first, last, length, client CPU share): blocks first seen at the window's ends."""
        await asyncio.sleep(WARMUP_S)
        first, t0 = await self.next_block()
        cpu0 = time.process_time()
        await asyncio.sleep(max(0.0, t0 + seconds - time.perf_counter()))
        last, t1 = await self.next_block()
        return first, last, t1 - t0, (time.process_time() - cpu0) / (t1 - t0)

    async def count(
        self, first: int, last: int, senders: set[str], seconds: float, cpu: float
    ) -> Window:
        """Read blocks (first, last] back and count the transactions ``senders`` sent."""
        included, last_hash = 0, ""
        for start in range(first + 1, last + 1, 8):
            chunk = range(start, min(start + 8, last + 1))
            blocks = await self.rpc.batch([("eth_getBlockByNumber", [hex(n), True]) for n in chunk])
            for block in blocks:
                if not isinstance(block, dict):
                    raise RuntimeError(f"block not readable after the window: {block!r}")
                included += sum(tx["from"].lower() in senders for tx in block["transactions"])
                last_hash = block["hash"]
        return Window(first, last, seconds, included, last_hash, cpu)


Load = Callable[[asyncio.Event], Coroutine[Any, Any, str]]


async def measured(setup: Setup, load: Load) -> SideResult:
    """Run ``load`` until the window is over, then count what the chain included."""
    async with Rpc(setup.url) as rpc:
        watch = HeadWatch(rpc)
        stop = asyncio.Event()
        tune_for_load()  # as a run does just before its load; both sides alike
        task = asyncio.create_task(load(stop))
        first, last, seconds, cpu = await watch.window(setup.args.seconds)
        stop.set()
        client = await task
        senders = {w.address.lower() for w in setup.users}
        window = await watch.count(first, last, senders, seconds, cpu)
    return SideResult("", window, client)


# -- the engine, driven like a run ------------------------------------------------------------
async def engine_load(setup: Setup, stop: asyncio.Event) -> str:
    hub, clock = StatsHub(), Clock()
    outcomes: Counter[str] = Counter()
    missed = 0

    def on_event(event: Event) -> None:
        nonlocal missed
        if isinstance(event, TxEvent):
            outcomes[event.outcome.value] += 1
        elif isinstance(event, FiringEvent):
            missed += event.missed

    hub.tap(on_event)
    async with Rpc(setup.url, hub) as rpc, TxEngine(
        rpc, hub, clock, setup.fees, setup.chain_id
    ) as engine:
        workload = payment_workload(engine, setup.users, setup.merchants, random.Random(SEED))
        bound = getattr(setup.args, "max_in_flight", None)  # anvil_ratio.py --max-in-flight
        scheduler = Scheduler(hub, clock, seed=SEED) if bound is None else \
            Scheduler(hub, clock, seed=SEED, max_in_flight=bound)
        await scheduler.run(workload, setup.args.offered, stop)
        backlog = scheduler.running_steps
        await scheduler.wait_steps(0.0)  # the backlog is not part of the measurement
    return f"steps left {backlog}, missed firings {missed}, outcomes {dict(outcomes)}"


# -- the bare loop ----------------------------------------------------------------------------
async def bare_load(setup: Setup, stop: asyncio.Event) -> str:
    rng = random.Random(SEED)
    fees = setup.fees.fields()
    counts = Counter[str]()
    connector = aiohttp.TCPConnector(limit=setup.args.inflight, keepalive_timeout=30)
    async with aiohttp.ClientSession(connector=connector, raise_for_status=True) as session:
        provider = AsyncHTTPProvider(setup.url, exception_retry_configuration=None)
        await provider.cache_async_session(session)
        w3 = AsyncWeb3(provider)
        nonces: dict[str, int] = {
            w.address: await w3.eth.get_transaction_count(w.account.address) for w in setup.users
        }
        senders = itertools.cycle(setup.users)

        async def worker() -> None:
            while not stop.is_set():
                sender = next(senders)
                nonce = nonces[sender.address]
                nonces[sender.address] = nonce + 1
                tx = {"chainId": setup.chain_id, "nonce": nonce, "gas": TRANSFER_GAS,
                      "to": rng.choice(setup.merchants).address,
                      "value": rng.randint(*PAYMENT_WEI), "data": b"", **fees}
                signed = Account.sign_transaction(tx, sender.account.key)
                try:
                    await w3.eth.send_raw_transaction(signed.raw_transaction)
                    counts["sent"] += 1
                except Exception as exc:  # counted, never hidden: a bare loop has no taxonomy
                    counts[type(exc).__name__] += 1

        await asyncio.gather(*(worker() for _ in range(setup.args.inflight)))
        await provider.disconnect()
    return f"send results {dict(counts)}"


# -- sides, rounds, report --------------------------------------------------------------------
async def prepare(chain: DevChain, args: argparse.Namespace) -> Setup:
    pool = WalletPool.derive(chain.funder_key, SEED, {"user": args.senders, "merchant": MERCHANTS})
    async with Rpc(chain.url) as rpc:
        fees = await FeePolicy.detect(rpc)
        async with TxEngine(rpc, StatsHub(), Clock(), fees, chain.chain_id) as funding:
            await top_up(funding, rpc, pool.funder, {w.address: FUNDS_WEI for w in pool})
    return Setup(chain.url, chain.chain_id, fees, pool.role("user"), pool.role("merchant"), args)


async def run_side(side: str, chain: DevChain, args: argparse.Namespace) -> SideResult:
    setup = await prepare(chain, args)
    load = engine_load if side == "engine" else bare_load
    result = await measured(setup, lambda stop: load(setup, stop))
    result.side = side
    return result


def one_side(side: str, args: argparse.Namespace) -> SideResult:
    with DevChain.start() as chain:
        result = asyncio.run(run_side(side, chain, args))
    w = result.window
    blocks = w.last - w.first
    print(f"  {side:6} {w.rate:7.1f} tx/s  ({w.included} txs in {blocks} blocks "
          f"{w.first + 1}..{w.last} = {w.included / blocks:.1f}/block, {w.seconds:.2f} s, "
          f"last {w.last_hash[:12]}; client CPU {w.client_cpu:.0%}; {result.client})", flush=True)
    return result


def summary(name: str, engine: Sequence[float], bare: Sequence[float]) -> str:
    pick = max if name == "best" else statistics.median
    e, b = pick(engine), pick(bare)
    return f"{name:6} engine {e:7.1f} tx/s  bare {b:7.1f} tx/s  engine/bare {e / b:.3f}"


def positive(kind: type[Number]) -> Callable[[str], Number]:
    def parse(text: str) -> Number:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
        return value

    return parse


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=positive(float), default=8.0,
                        help="measured window per side (s)")
    parser.add_argument("--senders", type=positive(int), default=64, help="user wallets sending")
    parser.add_argument("--offered", type=positive(float), default=1500.0,
                        help="engine steps/s offered (above the chain's capacity)")
    parser.add_argument("--rounds", type=positive(int), default=2,
                        help="rounds (the side order alternates)")
    parser.add_argument("--inflight", type=positive(int), default=64,
                        help="bare loop: requests in flight")
    args = parser.parse_args(argv)
    engine: list[float] = []
    bare: list[float] = []
    for r in range(args.rounds):
        order = ("engine", "bare") if r % 2 == 0 else ("bare", "engine")
        print(f"round {r + 1}: {' then '.join(order)}", flush=True)
        rates = {side: one_side(side, args).window.rate for side in order}
        engine.append(rates["engine"])
        bare.append(rates["bare"])
        print(f"  ratio engine/bare {rates['engine'] / rates['bare']:.3f}", flush=True)
    print(summary("best", engine, bare))
    print(summary("median", engine, bare))
    return 0


if __name__ == "__main__":
    sys.exit(main())
