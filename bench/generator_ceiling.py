"""Benchmark: the generator's own ceiling, one worker against a null node.

    .venv/bin/python bench/generator_ceiling.py [--seconds 10] [--offered 9000] [--senders 512]
                                                [--rounds 1] [--main-arg=--flag ...]

A null JSON-RPC node (``bench/null_node.py``: accepts raw transactions, seals every 0.25 s,
serves blocks and receipts at negligible cost) runs as a child; ``main.py`` runs as another
child pointed at it (``--rpc-url``, a generated funder key, payment load only at
``--offered`` tx/s from ``--senders`` user wallets as plain value transfers (``--dapp
transfers``), every other workload at 0), exactly as a user runs it: scheduler, engine, block
follower, stats hub and every sink, HTTP server.

Measured outside the worker: after the load has started and a 2 s warm-up, the window runs
from a block seal to the block seal ``--seconds`` later (the node's ``null_stats`` polled
every 20 ms); included tx/s = transactions sealed in the window / its length, client CPU per
transaction = the worker process's user+system CPU time in the window (``/proc/PID/stat``)
/ those transactions. The node's CPU share is printed too, to show it is not the limit.
Bounded: about rounds x (seconds + 15) s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from utils.chain.rpc import Rpc

REPO = Path(__file__).resolve().parent.parent
TICK = os.sysconf("SC_CLK_TCK")
START_TIMEOUT_S = 60.0
WARMUP_S = 2.0
POLL_S = 0.02


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def start_child(cmd: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env, cwd=REPO)


def start_null_node() -> tuple[subprocess.Popen[str], str]:
    node = start_child([sys.executable, str(REPO / "bench" / "null_node.py"), "--port", "0"])
    assert node.stdout is not None
    line = node.stdout.readline()
    if not line.startswith("listening "):
        node.kill()
        raise RuntimeError(f"null node did not start: {line!r}")
    return node, line.split()[1]


def _exited(pid: int) -> bool:
    """The child is gone or a zombie (it exited; the bench reaps it later)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


@dataclass
class Window:
    seconds: float
    included: int
    worker_cpu: float  # CPU seconds of the worker in the window
    node_cpu: float

    @property
    def rate(self) -> float:
        return self.included / self.seconds

    @property
    def us_per_tx(self) -> float:
        return self.worker_cpu / max(1, self.included) * 1e6


async def seal_edge(rpc: Rpc, after: int) -> tuple[int, int, float]:
    """Wait for the first block above ``after``: (block, included so far, when seen)."""
    deadline = time.perf_counter() + 10
    while time.perf_counter() < deadline:
        stats = await rpc.call("null_stats")
        if stats["blocks"] > after:
            return stats["blocks"], stats["included"], time.perf_counter()
        await asyncio.sleep(POLL_S)
    raise RuntimeError("the null node sealed no block for 10 s")


async def measure(url: str, worker: int, node: int, seconds: float) -> Window:
    async with Rpc(url) as rpc:
        start = time.perf_counter()
        while True:  # the load phase has begun once blocks carry many transactions
            stats = await rpc.call("null_stats")
            block, included, _ = await seal_edge(rpc, stats["blocks"])
            _, later, _ = await seal_edge(rpc, block)
            if later - included > 50:
                break
            if _exited(worker):
                raise RuntimeError("main.py exited before its load started")
            if time.perf_counter() - start > START_TIMEOUT_S:
                raise RuntimeError("the worker did not start its load within 60 s")
        await asyncio.sleep(WARMUP_S)
        b0, n0, t0 = await seal_edge(rpc, (await rpc.call("null_stats"))["blocks"])
        w0, c0 = cpu_seconds(worker), cpu_seconds(node)
        await asyncio.sleep(max(0.0, seconds - 0.3))
        _, n1, t1 = await seal_edge(rpc, b0 + round(seconds / 0.25) - 1)
        w1, c1 = cpu_seconds(worker), cpu_seconds(node)
    return Window(t1 - t0, n1 - n0, w1 - w0, c1 - c0)


def worker_cmd(url: str, args: argparse.Namespace, out: Path) -> list[str]:
    scenario = out / "ceiling.toml"
    scenario.write_text(f"users = {args.senders}\nmerchants = 16\ntx_timeout = 30\n")
    return [sys.executable, str(REPO / "main.py"), "--rpc-url", url, "--port", "0",
            "--out", str(out), "--scenario", str(scenario), "--duration", "0",
            "--interval", "5", "--drain-timeout", "5", "--log-level", "WARNING",
            "--dapp", "transfers",  # payments as plain value transfers
            "--rate", f"payment={args.offered}", "--rate", "merchant=0", "--rate", "lending=0",
            "--rate", "iot=0", "--rate", "registration=0", *args.main_arg]


def one_round(args: argparse.Namespace) -> Window:
    node, url = start_null_node()
    try:
        with tempfile.TemporaryDirectory(prefix="kc-ceiling-") as tmp:
            env = {**os.environ, "PRIVATE_KEY": secrets.token_hex(32)}  # a throwaway funder
            env.pop("RPC_HTTP_URL", None)
            worker = start_child(worker_cmd(url, args, Path(tmp)), env)
            try:
                window = asyncio.run(measure(url, worker.pid, node.pid, args.seconds))
            finally:
                worker.send_signal(signal.SIGINT)
                output, _ = worker.communicate(timeout=60)
            if worker.returncode not in (0, 1):
                raise RuntimeError(f"main.py exited {worker.returncode}:\n{output[-3000:]}")
            table = [ln for ln in output.splitlines() if ln.startswith(("workload", "payment_app"))]
            print("\n".join("  main.py: " + ln for ln in table[-2:]))
    finally:
        node.terminate()
        node.wait(10)
    return window


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="measured window (s)")
    parser.add_argument("--offered", type=float, default=9000.0, help="payment tx/s offered")
    parser.add_argument("--senders", type=int, default=512, help="user wallets sending")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--main-arg", action="append", default=[],
                        help="extra main.py argument, repeatable (e.g. --main-arg=--workers=2)")
    args = parser.parse_args(argv)
    for r in range(args.rounds):
        print(f"round {r + 1}: main.py, {args.offered:g} tx/s offered, {args.senders} senders",
              flush=True)
        w = one_round(args)
        print(f"  included {w.rate:7.1f} tx/s ({w.included} txs in {w.seconds:.2f} s); worker "
              f"CPU {w.worker_cpu / w.seconds:.0%} = {w.us_per_tx:.0f} us/tx; null node CPU "
              f"{w.node_cpu / w.seconds:.0%}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
