"""``histograms.json``: a run's aggregate (counters and histograms) on disk, and back.

Every run directory gets one at the end. It holds, per workload, the counters and the
latency and scheduler-lag histograms, and the IoT counts, stage histograms and commit
statuses: everything summary.json's figures are computed from. Read back and merged
(:func:`merge_aggregates`: counters add, histograms merge bucket by bucket, never an
average of percentiles) it gives the summary of several shards as one run.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from utils.observe.aggregate import RunAggregate, WorkloadStats
from utils.observe.events import Outcome
from utils.observe.finality_stats import FinalityStats
from utils.observe.histogram import Histogram

FILENAME = "histograms.json"
VERSION = 1
_COUNTERS = ("fired", "late", "missed", "sent", "gas_used", "finished_sent", "l1_gas_used",
             "fee_wei")


def workload_to_dict(wl: WorkloadStats) -> dict[str, Any]:
    return {
        "target_rate": wl.target_rate,
        **{name: getattr(wl, name) for name in _COUNTERS},
        "outcomes": {o.value: n for o, n in wl.outcomes.items()},
        "latency": wl.latency.to_dict(),
        "lag": wl.lag.to_dict(),
    }


def workload_from_dict(name: str, data: dict[str, Any]) -> WorkloadStats:
    wl = WorkloadStats(name, target_rate=float(data.get("target_rate", 0.0)))
    for counter in _COUNTERS:
        setattr(wl, counter, int(data.get(counter, 0)))
    wl.outcomes = Counter({Outcome(o): int(n) for o, n in data.get("outcomes", {}).items()})
    wl.latency = Histogram.from_dict(data["latency"])
    wl.lag = Histogram.from_dict(data["lag"])
    return wl


def aggregate_to_dict(agg: RunAggregate) -> dict[str, Any]:
    return {
        "version": VERSION,
        "started_at": agg.started_at,
        "ended_at": agg.ended_at,
        "load_ended_at": agg.load_ended_at,  # rates are over the load window, not the drain
        "workloads": {n: workload_to_dict(w) for n, w in list(agg.workloads.items())},
        "iot_ops": [[op, stage, ok, n] for (op, stage, ok), n in sorted(agg.iot_ops.items())],
        "iot_latency": {s: h.to_dict() for s, h in sorted(agg.iot_latency.items())},
        "iot_bytes": agg.iot_bytes,
        "commit_statuses": dict(sorted(agg.commits.counts.items())),
        "head_block": agg.head_block,
    }


def aggregate_from_dict(data: dict[str, Any]) -> RunAggregate:
    """The inverse of :func:`aggregate_to_dict`; ValueError for another version."""
    if data.get("version") != VERSION:
        raise ValueError(f"{FILENAME} version {data.get('version')!r} is not {VERSION}")
    agg = RunAggregate({}, clock=float(data["started_at"]))
    agg.ended_at = None if data.get("ended_at") is None else float(data["ended_at"])
    load_end = data.get("load_ended_at")
    agg.load_ended_at = None if load_end is None else float(load_end)
    agg.workloads = {n: workload_from_dict(n, w) for n, w in data["workloads"].items()}
    agg.iot_ops = Counter({(op, stage, bool(ok)): int(n) for op, stage, ok, n in data["iot_ops"]})
    agg.iot_latency = {s: Histogram.from_dict(h) for s, h in data["iot_latency"].items()}
    agg.iot_bytes = int(data.get("iot_bytes", 0))
    agg.commits.counts = Counter({s: int(n) for s, n in data["commit_statuses"].items()})
    agg.head_block = data.get("head_block")
    return agg


def merge_into(total: RunAggregate, part: RunAggregate) -> None:
    """Add ``part`` to ``total``: counters add, histograms merge, the span covers both."""
    total.started_at = min(total.started_at, part.started_at)
    if part.ended_at is not None:
        total.ended_at = max(total.ended_at or part.ended_at, part.ended_at)
    if part.load_ended_at is not None:
        total.load_ended_at = max(total.load_ended_at or part.load_ended_at,
                                  part.load_ended_at)
    for name, wl in part.workloads.items():
        mine = total.workloads.setdefault(name, WorkloadStats(name))
        mine.target_rate += wl.target_rate
        for counter in _COUNTERS:
            setattr(mine, counter, getattr(mine, counter) + getattr(wl, counter))
        mine.outcomes.update(wl.outcomes)
        mine.latency.merge(wl.latency)
        mine.lag.merge(wl.lag)
    total.iot_ops.update(part.iot_ops)
    for stage, hist in part.iot_latency.items():
        total.iot_latency.setdefault(stage, Histogram()).merge(hist)
    total.iot_bytes += part.iot_bytes
    total.commits.counts.update(part.commits.counts)
    if part.head_block is not None:
        total.head_block = max(total.head_block or 0, part.head_block)


def merge_aggregates(parts: Iterable[RunAggregate]) -> RunAggregate:
    parts = list(parts)
    if not parts:
        raise ValueError("nothing to merge")
    total = aggregate_from_dict(aggregate_to_dict(parts[0]))  # a copy
    for part in parts[1:]:
        merge_into(total, part)
    return total


def write_histograms(run_dir: Path, agg: RunAggregate,
                     finality: FinalityStats | None = None) -> Path:
    """``agg``, and the finality stage histograms under ``finality`` (runs that sampled)."""
    path = Path(run_dir) / FILENAME
    tmp = path.with_suffix(".json.tmp")
    data = aggregate_to_dict(agg)
    if finality is not None:
        data["finality"] = finality.to_dict()
    tmp.write_text(json.dumps(data, separators=(",", ":")) + "\n")
    tmp.replace(path)
    return path


def read_histograms(run_dir: Path) -> RunAggregate:
    return aggregate_from_dict(json.loads((Path(run_dir) / FILENAME).read_text()))


def read_finality(run_dir: Path) -> FinalityStats | None:
    """The finality stage histograms :func:`write_histograms` kept (None: the run had none)."""
    data = json.loads((Path(run_dir) / FILENAME).read_text()).get("finality")
    return None if data is None else FinalityStats.from_dict(data)
