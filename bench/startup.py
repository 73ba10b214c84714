"""Start-up: the wall time of ``python main.py --duration 1`` and where it goes.

    .venv/bin/python bench/startup.py [--repeats 3] [--baseline DIR] [-- EXTRA MAIN.PY ARGS]

Runs ``main.py --duration 1`` (embedded chain, default workloads: the Stylus dApps and the
MVPIoTProcessor deployed and activated at every run) ``--repeats`` times, one after another,
each into a fresh temporary ``--out`` with ``--port 0``. For each run it prints the wall time
(from just before the process is spawned to its exit), the exit status and a breakdown by
phase read from the run's ``run.log`` timestamps (millisecond resolution); then the median of
every column. Goal (issue 10): a median of at most 4 s on the 2-core dev machine.

``--baseline DIR`` times another checkout too (e.g. ``git archive <commit> | tar -x -C DIR``;
it runs with this ``.venv``), alternating with this one run by run, and prints both medians
and their ratio: on a shared machine whose load changes by the minute, only figures taken
side by side compare.

Phases (each ends at the first log line that marks it; a missing marker is skipped):
``boot`` interpreter, imports, settings and the chain child up to the run's first log line;
``connect`` the chain session; ``deploy`` dApp contracts and the MVPIoTProcessor (deploy +
Stylus activation) up to the run directory; ``fund`` wallet top-ups and the dApp set-up
(mints, deposits); ``load`` the ``--duration``; ``verify`` the drain, the books and the IoT
records; ``summary`` summary.json; ``report`` report.html; ``exit`` the final table, stopping
the chain and the interpreter's exit.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
#: (phase, markers): the phase ends at the first line of its first marker that is in the log
PHASES: list[tuple[str, tuple[str, ...]]] = [
    ("boot", (r"will write to",)),
    ("connect", (r"utils\.chain\.connect: ",)),
    ("deploy", (r" writing to ",)),
    ("fund", (r"dApp set-up done", r"topping up")),
    ("load", (r"draining: ",)),
    ("verify", (r"verified \d+ records",)),
    ("summary", (r"summary written",)),
    ("report", (r"report written",)),
]
STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ")


def log_times(run_log: Path) -> list[tuple[float, str]]:
    """(epoch seconds, line) of every timestamped line of ``run_log``."""
    out = []
    for line in run_log.read_text().splitlines():
        if (m := STAMP.match(line)) is not None:
            stamp = datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f")  # local time
            out.append((stamp.timestamp(), line))
    return out


def phases(started: float, ended: float, lines: list[tuple[float, str]]) -> dict[str, float]:
    """Seconds per phase: from the previous marker found (or the spawn) to this one."""
    out: dict[str, float] = {}
    last = started
    for name, markers in PHASES:
        found = (next((t for t, line in lines if re.search(m, line)), None) for m in markers)
        at = next((t for t in found if t is not None), None)
        if at is None:
            continue
        out[name] = max(0.0, at - last)
        last = max(last, at)
    out["exit"] = max(0.0, ended - last)
    return out


def run_once(repo: Path, extra: list[str]) -> tuple[float, int, dict[str, float]]:
    with tempfile.TemporaryDirectory(prefix="kc-startup-") as tmp:
        argv = [sys.executable, str(repo / "main.py"), "--duration", "1", "--out", tmp,
                "--port", "0", *extra]
        started = time.time()
        proc = subprocess.run(argv, cwd=repo, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True, timeout=120)
        ended = time.time()
        logs = sorted(Path(tmp).glob("*/run.log"))
        if proc.returncode not in (0, 1) or not logs:
            sys.stderr.write(proc.stderr[-4000:])
            raise SystemExit(f"main.py failed (exit {proc.returncode})")
        return ended - started, proc.returncode, phases(started, ended, log_times(logs[0]))


NAMES = [name for name, _ in PHASES] + ["exit"]


def row(label: str, wall: float, code: str, parts: dict[str, float]) -> str:
    return f"{label:>9} {wall:>7.2f} {code:>4} " + " ".join(f"{parts.get(n, 0.0):>7.2f}"
                                                          for n in NAMES)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs per tree (default 3)")
    parser.add_argument("--baseline", type=Path, metavar="DIR",
                        help="another checkout to time alternately with this one")
    parser.add_argument("extra", nargs="*", help="more main.py arguments (after --)")
    args = parser.parse_args(argv)
    trees = [("this", REPO)] + ([("baseline", args.baseline.resolve())] if args.baseline else [])
    print(f"load average {os.getloadavg()[0]:.2f}; main.py --duration 1, "
          f"{args.repeats} runs per tree")
    print(f"{'run':>9} {'wall s':>7} {'exit':>4} " + " ".join(f"{n:>7}" for n in NAMES))
    walls: dict[str, list[float]] = {label: [] for label, _ in trees}
    table: dict[str, dict[str, list[float]]] = {label: {n: [] for n in NAMES}
                                                 for label, _ in trees}
    for i in range(args.repeats):
        for label, repo in trees if i % 2 == 0 else trees[::-1]:
            wall, code, parts = run_once(repo, args.extra)
            walls[label].append(wall)
            for n in NAMES:
                table[label][n].append(parts.get(n, 0.0))
            print(row(f"{label[:4]} {i + 1}", wall, str(code), parts))
    for label, _ in trees:
        medians = {n: statistics.median(table[label][n]) for n in NAMES}
        print(row(f"{label[:4]} med", statistics.median(walls[label]), "", medians))
    this = statistics.median(walls["this"])
    line = f"median wall {this:.2f} s (goal <= 4 s)"
    if args.baseline:
        base = statistics.median(walls["baseline"])
        line += f"; baseline {base:.2f} s; this/baseline {this / base:.2f}"
    print(f"{line}; load average {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
