"""``--workers``: one worker vs N on the generator-only bench, side by side in one run.

    .venv/bin/python bench/workers_scaling.py [--duration 15] [--rate 20000] [--workers 2]
        [--repeats 1]

Starts the null node (bench/null_node.py: it includes every transaction at negligible
cost, so the orchestrator is what is measured), then runs ``python main.py`` against it
with the payment workload only, offered faster than one process can sign and send, once
with ``--workers 1`` (today's single process) and once with ``--workers N`` (N worker
processes, the parent relaying their events into one run's outputs); alternating when
repeated. It prints per run: included tx/s (successful transactions over the load
duration, from summary.json), the null node's own count, and CPU seconds of main.py and
its workers, then the ratio N workers / 1 worker (goal on a 2-core machine: >= 1.6).
The null node shares the machine's cores with the generator; so may other work.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def start_null_node() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, str(REPO / "bench" / "null_node.py")],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.startswith("listening "):
        proc.kill()
        raise SystemExit(f"null node did not start: {line!r}")
    return proc, line.split()[1]


def null_included(url: str) -> int:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "null_stats"}).encode()
    req = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return int(json.loads(resp.read())["result"]["included"])


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_once(url: str, workers: int, duration: float, rate: float, out: Path) -> dict[str, Any]:
    scenario = out / "bench.toml"
    scenario.write_text("users = 256\nmerchants = 16\n")
    cmd = [sys.executable, str(REPO / "main.py"), "--rpc-url", url, "--duration", str(duration),
           "--port", "0", "--out", str(out), "--workers", str(workers), "--scenario",
           str(scenario), "--rate", f"payment={rate}", "--rate", "merchant=0",
           "--rate", "lending=0", "--rate", "iot=0", "--rate", "iot_registration=0",
           "--log-level", "WARNING", "--drain-timeout", "10", "--dapp", "transfers"]
    env = {**os.environ, "PRIVATE_KEY": secrets.token_hex(32)}
    before_node, before_cpu = null_included(url), children_cpu()
    started = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=duration + 180)
    wall = time.monotonic() - started
    cpu = children_cpu() - before_cpu
    run_dir = (out / "latest").resolve()
    summary = json.loads((run_dir / "summary.json").read_text())
    payment = summary["kpis"]["workloads"]["payment_app"]
    return {"workers": workers, "exit": proc.returncode, "included_per_s": payment["successes"]
            / duration, "node_included": null_included(url) - before_node,
            "successes": payment["successes"], "missed": payment["missed"], "cpu_s": cpu,
            "wall_s": wall, "stderr": proc.stderr[-400:]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument("--rate", type=float, default=20_000.0, help="offered payment tx/s")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    node, url = start_null_node()
    results: list[dict[str, Any]] = []
    try:
        with tempfile.TemporaryDirectory(prefix="kcstress-workers-") as tmp:
            for _ in range(args.repeats):
                for workers in (1, args.workers):
                    result = run_once(url, workers, args.duration, args.rate, Path(tmp))
                    results.append(result)
                    print(f"workers={workers}: {result['included_per_s']:,.0f} tx/s included "
                          f"(node saw {result['node_included']:,}), {result['missed']:,} "
                          f"missed firings, CPU {result['cpu_s']:.1f} s "
                          f"({result['cpu_s'] / max(1, result['successes']) * 1e6:.0f} us/tx), "
                          "exit "
                          f"{result['exit']}", flush=True)
                    if result["exit"] not in (0, 1):
                        print(result["stderr"], file=sys.stderr)
    finally:
        node.terminate()
        node.wait(timeout=10)
    best = {w: statistics.median(r["included_per_s"] for r in results if r["workers"] == w)
            for w in (1, args.workers)}
    ratio = best[args.workers] / best[1] if best[1] else 0.0
    print(f"ratio of medians, {args.workers} workers / 1 worker: {ratio:.2f} (goal >= 1.6 on "
          f"2 cores; cores here: {os.cpu_count()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
