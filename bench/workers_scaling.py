"""``--workers``: one worker vs N on the generator-only bench, side by side in one run.

    .venv/bin/python bench/workers_scaling.py [--duration 15] [--rate 20000] [--workers 2]
        [--repeats 1]

Starts the null node (bench/null_node.py: it includes every transaction at negligible
cost, so the orchestrator is what is measured), then runs ``python main.py`` against it
with the payment workload only, offered faster than one process can sign and send, once
with ``--workers 1`` (today's single process) and once with ``--workers N`` (N worker
processes, the parent relaying their tallies into one run's outputs); alternating when
repeated, so each pair is measured side by side. It prints per run: included tx/s
(successful transactions over the load duration, from summary.json), the null node's own
count, the load average, and where the CPU went during the load phase: the parent
(main.py; summary.json ``generator``), each worker (its ``done`` report), the null node,
as shares of one core and as microseconds per included transaction, and how many cores other
work on the machine kept busy meanwhile (/proc/stat minus this bench's processes). Then the
ratio of each pair, the median of those ratios and the ratio of the medians (goal on a 2-core
machine: >= 1.6). The null node shares the machine's cores with the generator; so may other
work: the "other work" figure says how much (near 0 for a figure that judges the goal).
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


def machine_busy() -> float:
    """CPU seconds the whole machine has been busy (every core; /proc/stat, no idle/iowait)."""
    fields = [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) of a live process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_once(url: str, node_pid: int, workers: int, duration: float, rate: float,
             out: Path) -> dict[str, Any]:
    scenario = out / "bench.toml"
    scenario.write_text("users = 256\nmerchants = 16\n")
    cmd = [sys.executable, str(REPO / "main.py"), "--rpc-url", url, "--duration", str(duration),
           "--port", "0", "--out", str(out), "--workers", str(workers), "--scenario",
           str(scenario), "--rate", f"payment={rate}", "--rate", "merchant=0",
           "--rate", "lending=0", "--rate", "iot=0", "--rate", "iot_registration=0",
           "--log-level", "WARNING", "--drain-timeout", "10", "--dapp", "transfers"]
    env = {**os.environ, "PRIVATE_KEY": secrets.token_hex(32)}
    load = os.getloadavg()[0]
    before_node, before_cpu = null_included(url), children_cpu()
    node_cpu, busy = process_cpu(node_pid), machine_busy()
    started = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=duration + 180)
    wall = time.monotonic() - started
    busy = machine_busy() - busy
    cpu = children_cpu() - before_cpu
    run_dir = (out / "latest").resolve()
    summary = json.loads((run_dir / "summary.json").read_text())
    payment = summary["kpis"]["workloads"]["payment_app"]
    generator = summary.get("generator", {})
    seconds = float(generator.get("seconds") or duration)
    procs = summary.get("workers", {}).get("processes", [])
    successes = max(1, int(payment["successes"]))
    return {"workers": workers, "exit": proc.returncode, "included_per_s": payment["successes"]
            / duration, "node_included": null_included(url) - before_node,
            "successes": payment["successes"], "missed": payment["missed"], "cpu_s": cpu,
            "wall_s": wall, "load": load, "seconds": seconds,
            "parent_cpu": float(generator.get("process_cpu", 0.0)),
            "worker_cpu": [float(p.get("load_cpu_s", 0.0)) / seconds for p in procs],
            "node_cpu_s": (node := process_cpu(node_pid) - node_cpu),
            "others": max(0.0, busy - cpu - node) / wall, "per_tx": 1e6 * seconds / successes,
            "stderr": proc.stderr[-400:]}


def describe(r: dict[str, Any]) -> str:
    """One run's line: throughput, then CPU shares of a core and microseconds per tx."""
    us = r["per_tx"]  # microseconds of load phase per included transaction
    workers = "".join(f", worker {k} {c:.0%} ({c * us:.0f} us/tx)"
                      for k, c in enumerate(r["worker_cpu"]))
    return (f"workers={r['workers']}: {r['included_per_s']:,.0f} tx/s included (node saw "
            f"{r['node_included']:,}), {r['missed']:,} missed firings, load avg "
            f"{r['load']:.2f}; load-phase CPU: parent {r['parent_cpu']:.0%} "
            f"({r['parent_cpu'] * us:.1f} us/tx){workers}; whole run incl. start-up "
            f"{r['cpu_s']:.1f} s ({r['cpu_s'] / max(1, r['successes']) * 1e6:.0f} us/tx), "
            f"null node {r['node_cpu_s']:.1f} s; other work on the machine "
            f"{r['others']:.2f} cores; exit {r['exit']}")


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
                    result = run_once(url, node.pid, workers, args.duration, args.rate,
                                      Path(tmp))
                    results.append(result)
                    print(describe(result), flush=True)
                    if result["exit"] not in (0, 1):
                        print(result["stderr"], file=sys.stderr)
    finally:
        node.terminate()
        node.wait(timeout=10)
    ones = [r["included_per_s"] for r in results if r["workers"] == 1]
    many = [r["included_per_s"] for r in results if r["workers"] == args.workers]
    pairs = [m / o if o else 0.0 for o, m in zip(ones, many, strict=True)]
    print("pair ratios, " + f"{args.workers} workers / 1 worker: "
          + ", ".join(f"{p:.2f}" for p in pairs))
    median_1, median_n = statistics.median(ones), statistics.median(many)
    print(f"median tx/s: 1 worker {median_1:,.0f}, {args.workers} workers {median_n:,.0f}; "
          f"median of pair ratios {statistics.median(pairs):.2f}, ratio of medians "
          f"{median_n / median_1 if median_1 else 0.0:.2f} (goal >= 1.6 on 2 cores; cores "
          f"here: {os.cpu_count()}; load avg now {os.getloadavg()[0]:.2f})")
    shares = [c for r in results if r["workers"] == args.workers for c in r["worker_cpu"]]
    parents = [r["parent_cpu"] for r in results if r["workers"] == args.workers]
    others = statistics.median(r["others"] for r in results)
    print(f"other work on the machine: median {others:.2f} cores during the runs (the goal needs "
          "the cores free: near 0)")
    if shares:
        print(f"{args.workers} workers: median worker CPU {statistics.median(shares):.0%} of a "
              f"core, median parent CPU {statistics.median(parents):.0%} (a worker well below "
              "~90 % while the parent is idle means the cores were busy with other work)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
