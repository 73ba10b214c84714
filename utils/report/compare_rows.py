"""What ``main.py compare`` reads of a run's row files, summed into its blocks of time:
receipts of ``tx_metrics.csv`` (gas, L1 gas, fee per workload and operation; the chain's block
interval), every transaction of a business operation (``workload.operation``: successes,
outcomes, the latency histogram) and the IoT operations of ``iot_metrics.csv``.

Per-operation transaction figures (throughput, success, p50/p95/p99 of e.g.
``payment_app.payment``) exist only here, from the rows: summary.json has none, so they are
compared, not gated. The rows are as written (a reorg's later corrections, which the run's
aggregate applies from tx_corrections.csv, are not).
"""

from __future__ import annotations

import bisect
import csv
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from utils.observe.histogram import Histogram, bucket_index
from utils.observe.run_figures import TX_METRICS, Figure
from utils.report.compare_blocks import Block, CostBlock

TX_ROWS, IOT_ROWS = "tx_metrics.csv", "iot_metrics.csv"


def _csv(path: Path) -> Iterator[dict[str, str]]:
    if not path.is_file():
        return
    with path.open(newline="", encoding="utf-8") as fh:
        yield from csv.DictReader(fh)


def _index(starts: list[float], at: float) -> int:
    return max(0, bisect.bisect_right(starts, at) - 1)


def read_costs(run_dir: Path, starts: list[float]
               ) -> tuple[dict[str, list[CostBlock]], float | None]:
    """Receipts (success or reverted) of tx_metrics.csv summed per block of their inclusion,
    per workload, per ``workload.operation`` and for ``totals``; and the chain's mean block
    interval over the blocks that held them (seconds; None for fewer than two blocks)."""
    costs: dict[str, list[CostBlock]] = {}
    chain_blocks: dict[int, float] = {}
    if not starts:
        return costs, None
    for row in _csv(run_dir / TX_ROWS):
        if row.get("status") not in ("success", "reverted") or not row.get("included_at"):
            continue
        at = float(row["included_at"])
        if row.get("block_number"):
            number = int(row["block_number"])
            chain_blocks[number] = min(at, chain_blocks.get(number, at))
        index = _index(starts, at)
        gas, l1 = int(row.get("gas_used") or 0), int(row.get("l1_gas_used") or 0)
        fee = int(row.get("fee_wei") or 0)
        workload = row.get("workload") or row.get("module") or ""
        keys = ["totals", workload]
        if row.get("operation"):
            keys.append(f"{workload}.{row['operation']}")
        for key in keys:
            block = costs.setdefault(key, [CostBlock() for _ in starts])[index]
            block.ops += 1
            block.l2_gas += max(0, gas - l1)
            block.l1_gas += l1
            block.fee_wei += fee
    if len(chain_blocks) < 2:
        return costs, None
    times = sorted(chain_blocks.values())
    return costs, (times[-1] - times[0]) / (len(times) - 1)


def read_iot(run_dir: Path, starts: list[float]) -> list[Block]:
    """Whole IoT operations (iot_metrics.csv rows) per block: finished, successes, latency."""
    blocks = [Block() for _ in starts]
    for row in _csv(run_dir / IOT_ROWS) if starts else ():
        try:
            at = datetime.fromisoformat(row["timestamp"]).timestamp()
            latency = float(row["latency_sec"])
        except (KeyError, ValueError):
            continue
        block = blocks[_index(starts, at)]
        block.finished += 1
        block.successes += row.get("success") == "True"
        block.latency[bucket_index(latency)] += 1
    return blocks


def read_operations(run_dir: Path, starts: list[float], totals: list[Block]
                    ) -> dict[str, list[Block]]:
    """Every transaction of each ``workload.operation`` per block of its outcome's time:
    successes, finished, latency; each block's length and load-window flag are the totals'."""
    found: dict[str, list[Block]] = {}
    if not starts or len(totals) != len(starts):
        return found
    for row in _csv(run_dir / TX_ROWS):
        if not row.get("operation") or not row.get("latency_sec"):
            continue
        try:
            at = datetime.fromisoformat(row["timestamp"]).timestamp()
        except (KeyError, ValueError):
            continue
        name = f"{row.get('workload') or row.get('module')}.{row['operation']}"
        blocks = found.get(name)
        if blocks is None:
            blocks = found[name] = [Block(b.seconds, in_load=b.in_load) for b in totals]
        block = blocks[_index(starts, at)]
        block.finished += 1
        block.successes += row.get("status") == "success"
        block.latency[bucket_index(float(row["latency_sec"]))] += 1
    return found


def operation_figures(name: str, blocks: list[Block], load_seconds: float
                      ) -> dict[str, Figure]:
    """An operation's throughput (successes over the load window, as a workload's), success
    and latency quantiles (its transactions' exact histogram)."""
    hist = Histogram()
    for block in blocks:
        for index, n in block.latency.items():
            hist.add_bucket(index, n)
    successes = sum(b.successes for b in blocks)
    finished = sum(b.finished for b in blocks)
    values = {
        "throughput": successes / load_seconds if load_seconds > 0 else None,
        "success": successes / finished if finished else None,
        **{f"p{round(q * 100)}": hist.percentile(q) if hist.count else None
           for q in (0.50, 0.95, 0.99)},
    }
    return {f"{name}.{key}": Figure(f"{name}.{key}", value, TX_METRICS[key])
            for key, value in values.items()}
