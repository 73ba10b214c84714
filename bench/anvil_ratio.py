"""Benchmark: the orchestrator vs. bare pipelined loops with the same fast signer, on anvil.

    .venv/bin/python bench/anvil_ratio.py [--seconds 8] [--senders 256] [--offered 9000]
                                          [--rounds 3] [--inflight 64] [--bare-batch 200]
                                          [--bare-conns 4] [--max-in-flight N] [--block-time 1]
                                          [--isolate]

anvil comes from ``scripts/install_anvil.sh`` (npm ``@foundry-rs/anvil-linux-amd64``) and runs
with ``--block-time 1`` (its automine mode collapses under pipelined load). Each side gets a
fresh anvil and the same ``--senders`` user wallets (one seed, funded before the load):

* engine: the way a run drives it (``bench/engine_throughput.py``'s engine side): a Scheduler
  fires ``payment_workload`` steps open-loop at ``--offered`` steps/s through a TxEngine (fast
  signer, batched ordered sends, outcomes from traces or receipts, one TxEvent per transaction);
* bare: ``--inflight`` workers on one keep-alive aiohttp session; nonces counted locally from
  one read; each worker takes the next sender, signs the next transfer with the same
  :class:`~utils.chain.signer.Signer` and POSTs ``eth_sendRawTransaction`` alone;
* bare-batch: the same, ``--bare-conns`` workers each POSTing a JSON-RPC batch of
  ``--bare-batch`` sends. Neither bare loop reads an outcome.

All are measured from the chain: after a warm-up, the window runs from the first block seen
sealed to the first block seen sealed ``--seconds`` later; the blocks in it are read back and
the benchmark senders' transactions counted. The side order rotates per round; each round's
engine / (faster bare loop) ratio and the median are printed. Goal: >= 0.9. Each side's line
gives the client's CPU share and µs per included transaction, and anvil's CPU share: on a
2-core machine the client's CPU is taken from anvil's. ``--isolate`` puts anvil on one CPU and
the client on the others, for every side alike: then the node alone is the limit.
Bounded: about rounds x 3 x (seconds + 12) s.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import random
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import aiohttp
from engine_throughput import SEED, Setup, SideResult, engine_load, measured, positive, prepare
from generator_ceiling import cpu_seconds

from contracts.transfers import PAYMENT_WEI
from utils.chain.signer import Signer, address_bytes
from utils.chain.tx_request import TRANSFER_GAS
from utils.devchain.anvil import AnvilChain


async def bare_load(setup: Setup, stop: asyncio.Event, batch: int) -> str:
    """The bare pipelined loop: sign with the fast signer, POST, next. ``batch`` 1: one
    ``eth_sendRawTransaction`` per request from ``--inflight`` workers; else ``--bare-conns``
    workers each POSTing a JSON-RPC batch of ``batch`` sends."""
    rng = random.Random(SEED)
    fees = setup.fees
    counts: Counter[str] = Counter()
    signers = {w.address: Signer(bytes(w.account.key)) for w in setup.users}
    recipients = [address_bytes(m.address) for m in setup.merchants]
    workers = setup.args.inflight if batch == 1 else setup.args.bare_conns
    connector = aiohttp.TCPConnector(limit=workers, keepalive_timeout=30)
    async with aiohttp.ClientSession(connector=connector) as session:
        async def post(body: object) -> object:
            async with session.post(setup.url, json=body) as response:
                return json.loads(await response.read())

        def rpc(method: str, *params: object, id_: int = 1) -> dict[str, object]:
            return {"jsonrpc": "2.0", "id": id_, "method": method, "params": list(params)}

        nonces: dict[str, int] = {}
        for a in signers:
            reply = await post(rpc("eth_getTransactionCount", a, "pending"))
            nonces[a] = int(str(reply["result"]), 16)  # type: ignore[index]
        senders = itertools.cycle(list(signers))

        def next_raw() -> str:
            address = next(senders)
            nonce = nonces[address]
            nonces[address] = nonce + 1
            signed = signers[address].sign_eip1559(
                chain_id=setup.chain_id, nonce=nonce, max_priority_fee=fees.priority_fee,
                max_fee=fees.max_fee, gas=TRANSFER_GAS, to=rng.choice(recipients),
                value=rng.randint(*PAYMENT_WEI), data=b"")
            return "0x" + signed.raw.hex()

        async def worker() -> None:
            while not stop.is_set():
                calls = [rpc("eth_sendRawTransaction", next_raw(), id_=i) for i in range(batch)]
                try:
                    reply = await post(calls[0] if batch == 1 else calls)
                except aiohttp.ClientError as exc:  # counted, never hidden
                    counts[type(exc).__name__] += batch
                    continue
                for r in reply if isinstance(reply, list) else [reply]:
                    counts["sent" if isinstance(r, dict) and "result" in r else "error"] += 1

        await asyncio.gather(*(worker() for _ in range(workers)))
    return f"send results {dict(counts)}"


SIDES = ("engine", "bare", "bare-batch")


async def run_side(side: str, chain: AnvilChain, args: argparse.Namespace) -> SideResult:
    setup = await prepare(chain, args)  # type: ignore[arg-type]  # a DevChain-like chain
    if side == "engine":
        result = await measured(setup, lambda stop: engine_load(setup, stop))
    else:
        batch = 1 if side == "bare" else args.bare_batch
        result = await measured(setup, lambda stop: bare_load(setup, stop, batch))
    result.side = side
    return result


def isolate(pid: int) -> set[int]:
    """anvil's threads on the last CPU, this process on the others (for the client not to take
    the node's CPU on a small machine); returns this process's CPUs before."""
    mine = os.sched_getaffinity(0)
    if len(mine) < 2:
        raise SystemExit("--isolate needs at least 2 CPUs")
    node = max(mine)
    for tid in os.listdir(f"/proc/{pid}/task"):  # tokio's threads; later ones inherit
        os.sched_setaffinity(int(tid), {node})
    os.sched_setaffinity(0, mine - {node})
    return mine


def one_side(side: str, args: argparse.Namespace) -> float:
    with AnvilChain.start(block_time=args.block_time) as chain:
        before = isolate(chain.pid) if args.isolate else None
        started = time.perf_counter()
        result = asyncio.run(run_side(side, chain, args))
        node_share = cpu_seconds(chain.pid) / (time.perf_counter() - started)
        if before is not None:
            os.sched_setaffinity(0, before)
    w = result.window
    blocks = max(1, w.last - w.first)
    print(f"  {side:10} {w.rate:7.1f} tx/s  ({w.included} txs in {blocks} blocks, "
          f"{w.seconds:.2f} s; client CPU {w.client_cpu:.0%} = "
          f"{w.client_cpu / max(w.rate, 1e-9) * 1e6:.0f} us/tx; anvil CPU over the side "
          f"{node_share:.0%}; {result.client})", flush=True)
    return w.rate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=positive(float), default=8.0)
    parser.add_argument("--senders", type=positive(int), default=256)
    parser.add_argument("--offered", type=positive(float), default=9000.0,
                        help="engine steps/s offered (above anvil's capacity)")
    parser.add_argument("--rounds", type=positive(int), default=3)
    parser.add_argument("--inflight", type=positive(int), default=64,
                        help="bare: single-send requests in flight")
    parser.add_argument("--bare-batch", type=positive(int), default=200,
                        help="bare-batch: sends per JSON-RPC batch")
    parser.add_argument("--bare-conns", type=positive(int), default=4,
                        help="bare-batch: batches in flight")
    parser.add_argument("--max-in-flight", type=positive(int), default=None,
                        help="engine: the scheduler's in-flight bound (default: a run's)")
    parser.add_argument("--block-time", type=positive(float), default=1.0)
    parser.add_argument("--isolate", action="store_true",
                        help="anvil on one CPU, the client on the others (every side alike)")
    args = parser.parse_args(argv)
    ratios, engine, bare, single = [], [], [], []
    for r in range(args.rounds):
        order = SIDES[r % 3:] + SIDES[:r % 3]
        print(f"round {r + 1}: {' then '.join(order)}", flush=True)
        rates = {side: one_side(side, args) for side in order}
        best = max(rates["bare"], rates["bare-batch"])
        engine.append(rates["engine"])
        bare.append(best)
        ratios.append(rates["engine"] / best)
        single.append(rates["engine"] / rates["bare"])
        print(f"  ratio engine/best bare {ratios[-1]:.3f} (engine/bare {single[-1]:.3f})",
              flush=True)
    print(f"median engine {statistics.median(engine):7.1f} tx/s  best bare "
          f"{statistics.median(bare):7.1f} tx/s  engine/bare {statistics.median(ratios):.3f} "
          f"(goal >= 0.9; against the one-send-per-request loop alone "
          f"{statistics.median(single):.3f}){' [--isolate]' if args.isolate else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
