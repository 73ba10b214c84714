"""Bounded soak: does a long run on the embedded chain stay flat in memory?

Runs ``main.py`` for ``--duration`` seconds (default 600) at payment 100/s plus IoT load on the
embedded chain, samples every ``--interval`` seconds (default 10) the RSS of main.py and of its
chain child (``/proc/PID/status``) and the chain's retention figures (``kcdev_chainStats``:
head, oldest kept block, store entries and bytes), prints the series and the least-squares slope
of the second half, and exits 1 when a process's second half trends upward beyond noise (slope
above ``--max-slope`` MB/s and its rise over the half above 3 standard deviations of the
residuals). Bounded: main.py is stopped (SIGTERM, then SIGKILL by pid) if it outlives its
duration by ``--grace`` seconds.

    .venv/bin/python scripts/soak.py                              # 10 minutes, the default load
    .venv/bin/python scripts/soak.py --archive                    # the same with no pruning
    .venv/bin/python scripts/soak.py --state-cache-mb 0           # the chain's store in memory
    .venv/bin/python scripts/soak.py --duration 60 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_RATES = ("payment_app=100", "data_pipeline=2", "iot_registration=0.2")
CHAIN_LINE = re.compile(r"embedded chain \d+ \(pid (\d+)\) at (http://\S+)")


def rss_mb(pid: int) -> float | None:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    match = re.search(r"^VmRSS:\s+(\d+) kB", text, re.M)
    return int(match.group(1)) / 1024 if match else None


def rpc(url: str, method: str, params: list[Any] | None = None) -> dict[str, Any]:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []})
    request = urllib.request.Request(url, body.encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as reply:
        answer: dict[str, Any] = json.loads(reply.read())
    return answer


def slope(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """Least-squares slope of ys over xs and the standard deviation of its residuals."""
    if len(xs) < 3:
        return 0.0, 0.0
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    k = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
    residuals = [y - (my + k * (x - mx)) for x, y in zip(xs, ys, strict=True)]
    return k, statistics.pstdev(residuals)


def verdict(samples: list[dict[str, Any]], key: str, max_slope: float) -> dict[str, Any]:
    half = [s for s in samples[len(samples) // 2:] if s.get(key) is not None]
    xs, ys = [s["t"] for s in half], [s[key] for s in half]
    k, noise = slope(xs, ys)
    span = (xs[-1] - xs[0]) if len(xs) > 1 else 0.0
    rising = k > max_slope and k * span > 3 * noise
    return {"slope_mb_s": round(k, 5), "noise_mb": round(noise, 2), "samples": len(xs),
            "first_mb": ys[0] if ys else None, "last_mb": ys[-1] if ys else None,
            "upward": rising}  # fmt: skip


def start_main(args: argparse.Namespace, out: Path) -> tuple[subprocess.Popen[bytes], Path]:
    argv = [sys.executable, str(ROOT / "main.py"), "--duration", str(args.duration),
            "--port", "0", "--out", str(out), "--log-level", "INFO",
            "--dapp", args.dapp, "--chain-grace", str(args.chain_grace)]  # fmt: skip
    for spec in args.rate or DEFAULT_RATES:
        argv += ["--rate", spec]
    if args.chain_history_blocks is not None:
        argv += ["--chain-history-blocks", str(args.chain_history_blocks)]
    lines = []
    if args.archive:  # the chain as it was before pruning: every block and state kept
        lines += ["chain_history_blocks = 0", "chain_state_blocks = 0"]
    if args.state_cache_mb is not None:  # 0: the store in memory, as before the disk store
        lines.append(f"chain_state_cache_mb = {args.state_cache_mb}")
    if lines:
        scenario = out / "chain.toml"
        scenario.write_text("\n".join(lines) + "\n")
        argv += ["--scenario", str(scenario)]
    stderr = out / "main.stderr"
    with stderr.open("wb") as err, (out / "main.stdout").open("wb") as std:
        process = subprocess.Popen(argv, cwd=ROOT, stdout=std, stderr=err)
    return process, stderr


def find_chain(process: subprocess.Popen[bytes], stderr: Path, timeout: float) -> tuple[int, str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        match = CHAIN_LINE.search(stderr.read_text(errors="replace"))
        if match:
            return int(match.group(1)), match.group(2)
        time.sleep(0.5)
    raise SystemExit(f"no embedded chain line in {stderr} (main.py code {process.poll()})")


def sample(t0: float, main_pid: int, chain_pid: int, url: str) -> dict[str, Any]:
    row: dict[str, Any] = {"t": round(time.monotonic() - t0, 1), "main_mb": rss_mb(main_pid),
                           "chain_mb": rss_mb(chain_pid)}  # fmt: skip
    try:
        row["stats"] = rpc(url, "kcdev_chainStats").get("result")
    except OSError as exc:
        row["stats_error"] = str(exc)
    return row


def probe_pruned(url: str) -> dict[str, Any]:
    """How the chain answers for block 1 and for the state of block 1 (pruned or not)."""
    try:
        block = rpc(url, "eth_getBlockByNumber", ["0x1", False])
        state = rpc(url, "eth_getBalance", ["0x" + "00" * 20, "0x1"])
    except OSError as exc:
        return {"error": str(exc)}
    return {"block_1": block.get("error") or "kept", "state_1": state.get("error") or "kept"}


def soak(args: argparse.Namespace, out: Path) -> dict[str, Any]:
    process, stderr = start_main(args, out)
    try:
        chain_pid, url = find_chain(process, stderr, 180)
        t0, samples = time.monotonic(), []
        end = t0 + args.duration
        while time.monotonic() < end and process.poll() is None:
            samples.append(sample(t0, process.pid, chain_pid, url))
            print(json.dumps(samples[-1]), flush=True)
            time.sleep(max(0.0, min(args.interval, end - time.monotonic())))
        probe = probe_pruned(url)
        try:
            code: int | None = process.wait(timeout=args.grace)
        except subprocess.TimeoutExpired:
            code = None
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    return {"exit_code": code, "probe": probe, "samples": samples,
            "main": verdict(samples, "main_mb", args.max_slope),
            "chain": verdict(samples, "chain_mb", args.max_slope)}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--duration", type=float, default=600.0)
    p.add_argument("--interval", type=float, default=10.0)
    p.add_argument("--rate", action="append",
                   help=f"as main.py (default {' '.join(DEFAULT_RATES)})")
    p.add_argument("--chain-history-blocks", type=int, help="passed to main.py (0 = no pruning)")
    p.add_argument("--dapp", default="transfers", choices=("transfers", "evm", "stylus"),
                   help="what payment_app runs on (default transfers: Stylus dApps through the "
                   "embedded WASM host cannot sustain 100/s on 2 cores)")
    p.add_argument("--chain-grace", type=float, default=120.0,
                   help="main.py --chain-grace (default 120: a loaded machine stalls the chain)")
    p.add_argument("--archive", action="store_true", help="chain keeps every block and state")
    p.add_argument("--state-cache-mb", type=float,
                   help="MB of the chain's store kept in memory, the rest on disk (default: "
                   "main.py's, 16); 0 = all in memory")
    p.add_argument("--max-slope", type=float, default=0.01, help="MB/s allowed (default 0.01)")
    p.add_argument("--grace", type=float, default=240.0, help="seconds main.py may need to end")
    p.add_argument("--json", type=Path, help="write the result here")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="kcsoak-") as tmp:
        result = soak(args, Path(tmp))
    for name in ("main", "chain"):
        v = result[name]
        print(f"{name}: second half {v['first_mb']} -> {v['last_mb']} MB, slope "
              f"{v['slope_mb_s']} MB/s, noise {v['noise_mb']} MB, upward: {v['upward']}")
    print(f"main.py exit code {result['exit_code']}; block 1: {result['probe']}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    upward = result["main"]["upward"] or result["chain"]["upward"]
    return 1 if upward or result["exit_code"] not in (0, 1) else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
