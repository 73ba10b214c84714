"""``python main.py merge DIR... --out DIR``: the run directories of shards as one run.

Shards of one run (``--shard I/N``) each leave a run directory. The merged directory
holds what one run would have left:

- ``histograms.json``: every shard's aggregate merged exactly (counters add, histogram
  buckets add), and ``summary.json`` computed from it by the same code as a run's;
- ``tx_metrics.csv``, ``iot_metrics.csv``, ``device_stats.csv``, ``finality.csv``: the
  shards' rows;
- summary.json's ``finality`` block: the shards' finality stage histograms (kept in their
  histograms.json) merged, their ``not_followed`` added;
- ``kpi_intervals.csv``: the shards' rows of the same interval (the shards started at
  one moment, so interval k of each is the same span) added up, latency percentiles from
  the merged ``latency_buckets`` of the interval;
- ``report.html``, built from the merged files.

Memory stays bounded: CSV rows stream through, one interval at a time is merged.
"""

from __future__ import annotations

import csv
import json
import logging
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from utils.errors import ConfigError
from utils.observe.aggregate_io import (
    merge_aggregates,
    read_finality,
    read_histograms,
    write_histograms,
)
from utils.observe.finality_stats import FinalityStats, finality_block
from utils.observe.histogram import Histogram
from utils.observe.verdict import Condition, Targets
from utils.report.summary import FILENAME as SUMMARY
from utils.report.summary import build_summary, summary_verdict, write_summary

log = logging.getLogger(__name__)

ROW_FILES = ("tx_metrics.csv", "iot_metrics.csv", "device_stats.csv", "finality.csv")
INTERVALS = "kpi_intervals.csv"
_KEEP = {"interval_start": min, "interval_end": max, "elapsed_sec": max, "latency_max": max}
_TEXT = ("workload", "latency_buckets", "latency_p50", "latency_p95", "latency_p99")


def _read_summary(run_dir: Path) -> dict[str, Any]:
    path = run_dir / SUMMARY
    if not path.is_file():
        raise ConfigError("merge", f"{run_dir} has no {SUMMARY} (not a finished run directory)")
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def merge_runs(dirs: list[Path], out: Path) -> Path:
    """Merge the run directories ``dirs`` into ``out`` (created); return ``out``."""
    if not dirs:
        raise ConfigError("merge", "no run directory given")
    summaries = [_read_summary(d) for d in dirs]
    try:
        parts = [read_histograms(d) for d in dirs]
    except (OSError, ValueError, KeyError) as exc:
        raise ConfigError("merge", f"cannot read a histograms.json: {exc}") from None
    out.mkdir(parents=True, exist_ok=True)
    for name in ROW_FILES:
        concat_rows([d / name for d in dirs], out / name)
    merge_intervals([d / INTERVALS for d in dirs], out / INTERVALS)
    total = merge_aggregates(parts)
    finality = merge_finality(dirs)
    write_histograms(out, total, finality)
    summary = merged_summary(total, summaries, dirs, out)
    if (block := finality_summary(finality, summaries)) is not None:
        summary["finality"] = block
    write_summary(out, summary)
    from utils.report.html import build_report

    build_report(out)
    return out


def merged_summary(total: Any, summaries: list[dict[str, Any]], dirs: list[Path],
                   out: Path) -> dict[str, Any]:
    first = summaries[0]
    targets = Targets.from_dict(first.get("targets") or {})
    iot = any((s.get("kpis") or {}).get("meets_success_target") is not None for s in summaries)
    conditions: list[Condition] = []
    for verdict in (summary_verdict(s) for s in summaries):
        conditions += [c for c in (verdict.conditions if verdict else ()) if c not in conditions]
    summary = build_summary(
        total, run_id=out.name, targets=targets, settings=first.get("settings") or {},
        seed=first.get("seed"), chain_id=first.get("chain_id"), iot=iot, conditions=conditions,
    )
    summary["merged_from"] = [
        {"dir": str(d), "run_id": s.get("run_id"), "shard": s.get("shard"),
         "exit_reason": s.get("exit_reason")}
        for d, s in zip(dirs, summaries, strict=True)
    ]  # fmt: skip
    return summary


def merge_finality(dirs: list[Path]) -> FinalityStats | None:
    """The shards' finality stage histograms merged (None: no shard followed any)."""
    total: FinalityStats | None = None
    for d in dirs:
        part = read_finality(d)
        if part is None:
            continue
        if total is None:
            total = FinalityStats()
        total.merge(part)
    return total


def finality_summary(finality: FinalityStats | None,
                     summaries: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The merged run's ``finality`` block: from the merged histograms, with the settings of
    the first shard that followed a sample; a shard's ``skipped`` when none did."""
    blocks = [s["finality"] for s in summaries if isinstance(s.get("finality"), dict)]
    followed = [b for b in blocks if "skipped" not in b]
    if not followed:
        return blocks[0] if blocks else None
    if finality is None:
        return {"skipped": "no shard's histograms.json holds its finality histograms"}
    first = followed[0]
    return finality_block(finality, sample=first["sample"], poll=first["poll_sec"],
                          confirmations=first["confirmations"],
                          not_followed=sum(int(b.get("not_followed", 0)) for b in followed))


def _rows(path: Path) -> tuple[list[str], Iterator[list[str]]] | None:
    if not path.is_file():
        return None
    fh = path.open(newline="", encoding="utf-8")
    reader = csv.reader(fh)
    header = next(reader, [])

    def rows() -> Iterator[list[str]]:
        with fh:
            yield from reader

    return header, rows()


def concat_rows(paths: list[Path], out: Path) -> int:
    """Every row of ``paths`` (one header) into ``out``; ConfigError if headers differ."""
    opened = [r for r in (_rows(p) for p in paths) if r is not None]
    if not opened:
        return 0
    header = opened[0][0]
    written = 0
    with out.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        for (cols, rows), path in zip(opened, paths, strict=False):
            if cols != header:
                raise ConfigError("merge", f"{path}: columns differ from the first shard's")
            for row in rows:
                writer.writerow(row)
                written += 1
    return written


def _interval_key(row: dict[str, str], length: float) -> int:
    return math.ceil(float(row["elapsed_sec"]) / length - 1e-6)


def merge_intervals(paths: list[Path], out: Path) -> int:
    """Rows of the same interval index and workload added up; returns rows written."""
    groups: dict[tuple[int, str], list[dict[str, str]]] = {}
    header: list[str] = []
    for path in paths:
        if not path.is_file():
            continue
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            header = header or list(reader.fieldnames or [])
            rows = list(reader)
        lengths = [float(r["interval_end"]) - float(r["interval_start"]) for r in rows]
        length = max(lengths, default=1.0) or 1.0
        for row in rows:
            groups.setdefault((_interval_key(row, length), row["workload"]), []).append(row)
    if not header:
        return 0
    with out.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=header)
        writer.writeheader()
        for key in sorted(groups):
            writer.writerow(_merge_interval(groups[key]))
    return len(groups)


def _merge_interval(rows: list[dict[str, str]]) -> dict[str, str]:
    merged: dict[str, str] = {"workload": rows[0]["workload"]}
    for column in rows[0]:
        if column in _TEXT:
            continue
        values = [float(r[column] or 0) for r in rows]
        if column in _KEEP:
            merged[column] = f"{_KEEP[column](values):.6f}"
        else:
            total = float(sum(values))
            merged[column] = str(int(total)) if total.is_integer() else f"{total:.3f}"
    hist = Histogram()
    for row in rows:
        hist.merge(Histogram.decode(row.get("latency_buckets", "")))
    if hist.count and "latency_max" in merged:  # the exact maximum, not a bucket bound
        hist.max = float(merged["latency_max"])
    for q, column in ((0.50, "latency_p50"), (0.95, "latency_p95"), (0.99, "latency_p99")):
        merged[column] = f"{hist.percentile(q):.9f}"
    merged["latency_buckets"] = hist.encode()
    return merged
