"""The conformance matrix: every node x every provider fault, longer runs than the test suite's,
and the figures table of issue 20.5.

    .venv/bin/python scripts/fault_matrix.py                       # everything, 20 s of load each
    .venv/bin/python scripts/fault_matrix.py --nodes anvil-1 hardhat-1 --modes none drop
    .venv/bin/python scripts/fault_matrix.py --duration 10 --jobs 2 --json figures.json

Each cell: a fresh node (tests/nodes.py), the mixed run (every workload, IoT on, the chain's
dApp flavour) for ``--duration`` seconds through tests/rpc_proxy.py with the fault, then the
check against the node itself (tests/chain_truth.py). The table gives, per node and fault:
the run's exit status, wrong outcomes, unrecorded transactions, requests sent to the node
(calls forwarded, batch items one by one), what was injected, and the first thing wrong.
Needs `make tools` (anvil, hardhat, ganache); a node that is not installed is left out with a
note. Only 127.0.0.1; every node is stopped by its pid.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.chain_truth import THROTTLING, WORKLOADS, RunResult, mixed_run, read_rows  # noqa: E402
from tests.nodes import node_missing, start_node  # noqa: E402
from tests.rpc_proxy import FAULT_MODES  # noqa: E402

NODES = {"embedded-0.25": ("embedded", 0.25), "anvil-1": ("anvil", 1.0),
         "anvil-0.25": ("anvil", 0.25), "hardhat-1": ("hardhat", 1.0),
         "ganache-1": ("ganache", 1.0)}


@dataclass
class Cell:
    node: str
    mode: str
    exit_status: int | str
    wrong: int | None
    unrecorded: int | None
    requests: int
    rows: int
    injected: dict[str, int]
    seconds: float
    note: str

    @property
    def ok(self) -> bool:
        return self.wrong == 0 and self.unrecorded == 0 and not self.note


def _note(result: RunResult) -> str:
    """The first reason this cell is not clean, in one line ('' when it is). Under a throttling
    fault, a verdict naming only the provider (exit 1) is what the run should say."""
    if result.check_error:
        return f"check: {result.check_error}"[:140]
    if result.truth is not None and result.truth.wrong:
        return f"wrong: {result.truth.wrong[0]}"[:140]
    if result.truth is not None and result.truth.unrecorded:
        return f"unrecorded: {result.truth.unrecorded[0]}"[:140]
    verdict = (result.summary or {}).get("verdict", {})
    missed = [c["key"] for c in verdict.get("checks", []) if c["status"] == "missed"]
    conditions = [c["reason"] for c in verdict.get("conditions", [])]
    expected = ["provider-throttled"] if result.mode in THROTTLING else []
    if result.exit_status != (1 if expected else 0) or missed or conditions != expected:
        lines = [ln for ln in (result.stderr + result.stdout).splitlines()
                 if ln.startswith(("error", "Traceback")) or "targets NOT met" in ln]
        return (lines[-1] if lines else f"exit {result.exit_status}")[:160]
    if result.run_dir is not None:
        modules = {r.get("module") for r in read_rows(result.run_dir)}
        missing = [w for w in WORKLOADS if w not in modules]
        if missing:
            return f"no transactions recorded for {', '.join(missing)}"
    return ""


def run_cell(node_name: str, mode: str, duration: float, seed: int, out: Path) -> Cell:
    kind, block_time = NODES[node_name]
    started = time.monotonic()
    try:
        with start_node(kind, block_time=block_time) as node:
            result = mixed_run(node, FAULT_MODES[mode].with_seed(seed),
                               out / f"{node_name}-{mode}", duration=duration)
    except RuntimeError as exc:  # the node did not start
        return Cell(node_name, mode, "no node", None, None, 0, 0, {},
                    time.monotonic() - started, str(exc).splitlines()[0][:140])
    (out / f"{node_name}-{mode}.stderr.log").write_text(result.stderr)
    truth = result.truth
    return Cell(node_name, mode, result.exit_status,
                None if truth is None else len(truth.wrong),
                None if truth is None else len(truth.unrecorded), result.requests,
                0 if truth is None else truth.rows, result.injected,
                time.monotonic() - started, _note(result))


def table(cells: list[Cell]) -> str:
    """The figures as a Markdown table (it also reads as plain text)."""
    head = ("| node | fault | exit | wrong | unrecorded | requests to node | rows | "
            "injected | s | first problem |")
    lines = [head, "|" + "---|" * 10]
    for c in cells:
        injected = ", ".join(f"{k} {v}" for k, v in sorted(c.injected.items())) or "-"
        dash = "-"
        lines.append(f"| {c.node} | {c.mode} | {c.exit_status} | "
                     f"{dash if c.wrong is None else c.wrong} | "
                     f"{dash if c.unrecorded is None else c.unrecorded} | {c.requests} | "
                     f"{c.rows} | {injected} | {c.seconds:.0f} | "
                     f"{c.note.replace('|', '/') or 'clean'} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", nargs="+", choices=list(NODES), default=list(NODES))
    parser.add_argument("--modes", nargs="+", choices=list(FAULT_MODES),
                        default=list(FAULT_MODES))
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of load a run")
    parser.add_argument("--seed", type=int, default=20, help="the faults' and the runs' seed")
    parser.add_argument("--jobs", type=int, default=1, help="cells run at once (default 1)")
    parser.add_argument("--out", type=Path, help="keep the run folders here (default: a "
                                                  "temporary folder, removed)")
    parser.add_argument("--json", type=Path, help="also write the cells as JSON here")
    args = parser.parse_args(argv)

    cells_todo: list[tuple[str, str]] = []
    skipped: list[str] = []
    for node_name in args.nodes:
        why = node_missing(NODES[node_name][0])
        if why is not None:
            skipped.append(f"{node_name}: {why}")
            continue
        for mode in args.modes:
            if FAULT_MODES[mode].anvil_only and NODES[node_name][0] != "anvil":
                continue
            cells_todo.append((node_name, mode))
    with tempfile.TemporaryDirectory(prefix="kc-fault-matrix-") as tmp:
        out = args.out or Path(tmp)
        cells: list[Cell] = []

        def one(todo: tuple[str, str]) -> Cell:
            cell = run_cell(*todo, args.duration, args.seed, out)
            print(f"{cell.node:>14} {cell.mode:<20} exit {cell.exit_status}  wrong "
                  f"{cell.wrong}  unrecorded {cell.unrecorded}  requests {cell.requests}  "
                  f"({cell.seconds:.0f} s) {cell.note}", flush=True)
            return cell

        with ThreadPoolExecutor(max(1, args.jobs)) as pool:
            cells = list(pool.map(one, cells_todo))
    print()
    print(table(cells))
    for line in skipped:
        print(f"left out: {line}")
    clean = sum(c.ok for c in cells)
    print(f"\n{clean} of {len(cells)} cells clean (exit 0, or 1 naming only the throttling "
          "provider; 0 wrong, 0 unrecorded)")
    if args.json:
        args.json.write_text(json.dumps([asdict(c) for c in cells], indent=1))
    return 0 if clean == len(cells) else 1


if __name__ == "__main__":
    sys.exit(main())
