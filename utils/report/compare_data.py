"""What ``main.py compare`` reads of a run folder: its summary.json (every figure, read where
it is computed: :mod:`utils.observe.run_figures`) and the time blocks the confidence
intervals resample: per workload, consecutive intervals of ``kpi_intervals.csv`` (counts and
the exact latency histogram of each), and per workload and operation, the receipts of
``tx_metrics.csv`` binned by the same blocks (gas, L1 gas, fee).

Memory stays bounded: rows stream through, only per-block sums are kept; a long run's
intervals are grouped into at most :data:`MAX_BLOCKS` consecutive blocks.
"""

from __future__ import annotations

import csv
import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from utils.observe.histogram import Histogram
from utils.observe.run_figures import Figure, run_figures
from utils.report.compare_blocks import Block, CostBlock
from utils.report.compare_rows import (
    operation_figures,
    read_costs,
    read_iot,
    read_operations,
)
from utils.report.summary import read_summary
from utils.workload_names import NON_TX_WORKLOADS

MAX_BLOCKS = 60
INTERVALS = "kpi_intervals.csv"
_FAILED = ("reverted", "rejected", "dropped", "timeout", "reorged")


@dataclass
class RunData:
    run_dir: Path
    summary: dict[str, Any]
    figures: dict[str, Figure]
    blocks: dict[str, list[Block]]  # scope (workload, "totals", "iot") -> blocks in order
    costs: dict[str, list[CostBlock]]  # "scope" or "workload.operation" -> blocks
    interval: float  # seconds per interval row
    starts: list[float]  # each block's start (unix seconds)
    #: scope -> (seconds from the load's start to the interval's end, successes/s, p95 s)
    curves: dict[str, list[tuple[float, float, float | None]]] = field(default_factory=dict)
    #: the chain's mean interval between the blocks holding the run's transactions
    block_seconds: float | None = None

    @property
    def label(self) -> str:
        return str(self.summary.get("run_id") or self.run_dir.name)


def _csv(path: Path) -> Iterator[dict[str, str]]:
    if not path.is_file():
        return
    with path.open(newline="", encoding="utf-8") as fh:
        yield from csv.DictReader(fh)


def _interval_block(row: dict[str, str]) -> Block:
    failed = sum(int(row.get(c) or 0) for c in _FAILED)
    successes = int(row.get("successes") or 0)
    return Block(float(row["interval_end"]) - float(row["interval_start"]), successes,
                 successes + failed, int(row.get("offered") or 0), int(row.get("missed") or 0),
                 Counter(Histogram.decode(row.get("latency_buckets") or "").counts))


def load_window(summary: dict[str, Any]) -> tuple[float, float]:
    """The load window (unix seconds) of a summary: from its start, load_window_sec long."""
    started = summary.get("started_at")
    if not started:
        return -math.inf, math.inf
    start = datetime.fromisoformat(str(started)).timestamp()
    return start, start + float((summary.get("kpis") or {}).get("load_window_sec") or 0)


def read_intervals(run_dir: Path, window: tuple[float, float]
                   ) -> tuple[dict[float, dict[str, Block]], float]:
    """Full intervals (the last, partial one is the drain's remainder) by start time; those
    wholly inside the load ``window`` (to a tenth of a second) marked ``in_load``."""
    rows: dict[float, dict[str, Block]] = {}
    for row in _csv(run_dir / INTERVALS):
        if row["workload"] in NON_TX_WORKLOADS:
            continue
        start = round(float(row["interval_start"]), 3)
        block = _interval_block(row)
        block.in_load = start >= window[0] - 0.1 and start + block.seconds <= window[1] + 0.1
        rows.setdefault(start, {})[row["workload"]] = block
    lengths = sorted(b.seconds for scopes in rows.values() for b in scopes.values())
    interval = lengths[len(lengths) // 2] if lengths else 1.0
    full = {s: scopes for s, scopes in rows.items()
            if all(b.seconds >= 0.99 * interval for b in scopes.values())}
    return full, interval


def group_blocks(rows: dict[float, dict[str, Block]]) -> tuple[dict[str, list[Block]],
                                                                list[float]]:
    """Intervals where something happened, grouped into at most MAX_BLOCKS consecutive
    blocks, per scope and for ``totals``."""
    busy = [s for s in sorted(rows) if any(b.fired or b.finished or b.missed
                                           for b in rows[s].values())]
    per = -(-len(busy) // MAX_BLOCKS) if busy else 1
    starts = [busy[i] for i in range(0, len(busy), per)]
    scopes = {name for s in busy for name in rows[s]}
    blocks: dict[str, list[Block]] = {name: [Block() for _ in starts]
                                      for name in (*scopes, "totals")}
    for i, start in enumerate(busy):
        for name, block in rows[start].items():
            blocks[name][i // per].add(block)
        blocks["totals"][i // per].add(_totals(rows[start].values()))
    return blocks, starts


def _totals(parts: Any) -> Block:
    total = Block()
    seconds = 0.0
    for block in parts:
        total.add(block)
        seconds = max(seconds, block.seconds)
    total.seconds = seconds
    return total


def load_run(run_dir: Path) -> RunData:
    """A finished run folder (a run, a merged shard run, a capacity search)."""
    summary = read_summary(run_dir, "compare")
    rows, interval = read_intervals(run_dir, load_window(summary))
    blocks, starts = group_blocks(rows)
    blocks["iot"] = read_iot(run_dir, starts)
    costs, block_seconds = read_costs(run_dir, starts)
    figures = run_figures(summary)
    window = load_window(summary)
    for name, op_blocks in read_operations(run_dir, starts, blocks.get("totals", [])).items():
        blocks[name] = op_blocks
        figures.update(operation_figures(name, op_blocks, window[1] - window[0]))
    return RunData(run_dir, summary, figures, blocks, costs, interval, starts,
                   curves(rows, window[0]), block_seconds)


def curves(rows: dict[float, dict[str, Block]], start: float
           ) -> dict[str, list[tuple[float, float, float | None]]]:
    """Each scope's throughput and p95 per interval, for compare.html's overlaid curves."""
    found: dict[str, list[tuple[float, float, float | None]]] = {}
    origin = start if math.isfinite(start) else min(rows, default=0.0)
    for at in sorted(rows):
        scopes = dict(rows[at])
        scopes["totals"] = _totals(rows[at].values())
        for name, b in scopes.items():
            hist = Histogram()
            for index, n in b.latency.items():
                hist.add_bucket(index, n)
            p95 = hist.percentile(0.95) if hist.count else None
            found.setdefault(name, []).append(
                (round(at + b.seconds - origin, 3), b.successes / b.seconds, p95))
    return found
