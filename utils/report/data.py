"""The data behind report.html, read from a run directory's files alone.

``load_run`` reads ``kpi_intervals.csv``, ``tx_metrics.csv``, ``iot_metrics.csv``
(each optional) and ``summary.json`` (optional) with bounded memory; the table
helpers turn it into rows for :mod:`utils.report.html`.
"""

from __future__ import annotations

import csv
import json
import math
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from utils.errors import ConfigError
from utils.observe.csv_rotation import csv_parts, open_part
from utils.observe.events import FINALITY_STAGES
from utils.observe.histogram import Histogram
from utils.observe.iot_rows import OPERATION_NAMES
from utils.observe.iot_rows import STAGES as IOT_STAGES
from utils.observe.verdict import Status, Verdict

OUTCOMES = ("success", "reverted", "rejected", "dropped", "timeout", "reorged")
FAILURE_COLUMNS = OUTCOMES[1:]


@dataclass(slots=True)
class Series:
    """One workload's per-interval KPIs from kpi_intervals.csv."""

    elapsed: list[float] = field(default_factory=list)
    target: list[float] = field(default_factory=list)
    offered: list[float] = field(default_factory=list)
    achieved: list[float] = field(default_factory=list)
    p50: list[float] = field(default_factory=list)
    p95: list[float] = field(default_factory=list)
    p99: list[float] = field(default_factory=list)
    finished: int = 0  # transactions with an outcome, over all intervals


@dataclass(slots=True)
class TxTotals:
    """One workload's totals from tx_metrics.csv."""

    outcomes: Counter[str] = field(default_factory=Counter)
    latency: Histogram = field(default_factory=Histogram)
    gas_used: int = 0


@dataclass(slots=True)
class ReportData:
    run_dir: Path
    summary: dict[str, Any] = field(default_factory=dict)
    series: dict[str, Series] = field(default_factory=dict)
    tx: dict[str, TxTotals] = field(default_factory=dict)
    iot_stages: dict[str, Histogram] = field(default_factory=dict)
    iot_ops: Counter[tuple[str, bool]] = field(default_factory=Counter)
    missing: list[str] = field(default_factory=list)
    #: finality stage -> latencies of the sampled transactions (finality.csv, optional)
    finality: dict[str, Histogram] = field(default_factory=dict)


_REQUIRED = {
    "kpi_intervals.csv": ("interval_start", "interval_end", "elapsed_sec", "workload",
                          "target_rate", "offered_rate", "achieved_rate", "successes",
                          *FAILURE_COLUMNS, "latency_p50", "latency_p95", "latency_p99"),
    "tx_metrics.csv": ("module", "status", "gas_used", "latency_sec"),
    "iot_metrics.csv": ("operation", "success", "latency_sec", "pipeline_stage"),
}  # fmt: skip


def _rows(path: Path, missing: list[str]) -> Iterator[dict[str, str]]:
    """Rows of a run CSV and of its rotated (gzipped) parts, oldest first; ConfigError if a
    column the report needs is absent."""
    parts = csv_parts(path)
    if not parts:
        missing.append(path.name)
        return
    for part in parts:
        with open_part(part) as fh:
            reader = csv.DictReader(fh)
            fields = reader.fieldnames or []
            absent = [c for c in _REQUIRED.get(path.name, ()) if c not in fields]
            if absent:
                raise ConfigError("RUN_DIR", f"{part}: missing column(s) {', '.join(absent)}")
            yield from reader


def _float(text: str | None) -> float:
    try:
        return float(text) if text else 0.0
    except ValueError:
        return 0.0


def load_run(run_dir: Path) -> ReportData:
    """Read everything the report needs from ``run_dir`` (bounded memory for big CSVs)."""
    data = ReportData(Path(run_dir))
    summary_path = data.run_dir / "summary.json"
    if summary_path.exists():
        data.summary = json.loads(summary_path.read_text(encoding="utf-8"))
    else:
        data.missing.append(summary_path.name)
    _load_intervals(data)
    for row in _rows(data.run_dir / "tx_metrics.csv", data.missing):
        t = data.tx.setdefault(row.get("workload") or row["module"], TxTotals())
        t.outcomes[row["status"]] += 1
        t.latency.observe(_float(row["latency_sec"]))
        t.gas_used += int(_float(row["gas_used"]))
    _apply_corrections(data)
    for row in _rows(data.run_dir / "iot_metrics.csv", data.missing):
        if "commit_status" in row:
            _iot_operation_row(data, row)
        else:
            _iot_stage_row(data, row)
    for row in _rows(data.run_dir / "finality.csv", []):  # only runs that sampled have it
        for stage in FINALITY_STAGES:
            if row.get(f"{stage}_sec"):
                data.finality.setdefault(stage, Histogram()).observe(
                    _float(row[f"{stage}_sec"]))
    return data


def _apply_corrections(data: ReportData) -> None:
    """tx_corrections.csv (written only when the chain corrected an outcome): each row takes
    its old outcome and gas away and adds the new ones, as the run's aggregate did."""
    path = data.run_dir / "tx_corrections.csv"
    if not csv_parts(path):
        return
    for row in _rows(path, []):
        t = data.tx.setdefault(row["workload"], TxTotals())
        t.outcomes[row["old_status"]] -= 1
        t.outcomes[row["new_status"]] += 1
        t.gas_used += int(_float(row["new_gas_used"])) - int(_float(row["old_gas_used"]))


def _iot_operation_row(data: ReportData, row: dict[str, str]) -> None:
    """A row of today's iot_metrics.csv: one operation, its stage timings, its commit."""
    data.iot_ops[(row["operation"], row["success"] == "True")] += 1
    data.iot_stages.setdefault("total", Histogram()).observe(_float(row["latency_sec"]))
    for stage in IOT_STAGES:
        if row.get(f"{stage}_sec"):
            data.iot_stages.setdefault(stage, Histogram()).observe(_float(row[f"{stage}_sec"]))
    if row["commit_status"] in ("committed", "failed"):
        data.iot_ops[("on-chain commit", row["commit_status"] == "committed")] += 1


def _iot_stage_row(data: ReportData, row: dict[str, str]) -> None:
    """A row of an older run's iot_metrics.csv: one row per stage and one per ``total``."""
    ok = row["success"] == "True"
    data.iot_stages.setdefault(row["pipeline_stage"], Histogram()).observe(
        _float(row["latency_sec"])
    )
    if row["pipeline_stage"] == "total":
        data.iot_ops[(OPERATION_NAMES.get(row["operation"], row["operation"]), ok)] += 1
    elif row["pipeline_stage"] == "commit":
        data.iot_ops[("on-chain commit", ok)] += 1


def _load_intervals(data: ReportData) -> None:
    """Per-workload series of the full intervals. The last, partial interval (the drain,
    when nothing is offered any more) is left out: rates over a sliver mislead; its
    events are in the tables. Percentiles of an interval where nothing finished are NaN."""
    rows = list(_rows(data.run_dir / "kpi_intervals.csv", data.missing))
    lengths = [_float(r["interval_end"]) - _float(r["interval_start"]) for r in rows]
    full = max(lengths, default=0.0)
    for row, length in zip(rows, lengths, strict=True):
        if length < 0.9 * full:
            continue
        s = data.series.setdefault(row["workload"], Series())
        s.elapsed.append(_float(row["elapsed_sec"]))
        s.target.append(_float(row["target_rate"]))
        s.offered.append(_float(row["offered_rate"]))
        s.achieved.append(_float(row["achieved_rate"]))
        finished = sum(int(_float(row[k])) for k in ("successes", *FAILURE_COLUMNS))
        s.finished += finished
        for key, values in (("latency_p50", s.p50), ("latency_p95", s.p95),
                            ("latency_p99", s.p99)):  # fmt: skip
            values.append(_float(row[key]) if finished else math.nan)
    for name in [n for n, s in data.series.items() if _idle(s)]:
        del data.series[name]  # a workload at rate 0 gets no empty panel


def _idle(series: Series) -> bool:
    """Nothing targeted, offered or finished in any interval."""
    return not (any(series.target) or any(series.offered) or series.finished)


def tx_table(data: ReportData) -> list[dict[str, Any]]:
    """Per-workload totals (from tx_metrics.csv) for the report's table."""
    rows = []
    for name, t in sorted(data.tx.items()):
        finished = sum(t.outcomes.values())
        rows.append(
            {
                "workload": name,
                "finished": finished,
                **{o: t.outcomes[o] for o in OUTCOMES},
                "success_rate": t.outcomes["success"] / finished if finished else 0.0,
                "p50": t.latency.percentile(0.5),
                "p95": t.latency.percentile(0.95),
                "p99": t.latency.percentile(0.99),
                "max": t.latency.max,
                "gas_used": t.gas_used,
            }
        )
    return rows


def targets_rows(verdict: Verdict) -> list[tuple[str, str, str, Status]]:
    """(target, threshold, measured, status) of every check of ``verdict``."""
    return [(c.label, f"{c.op} {c.fmt(c.threshold)}", c.fmt(c.measured), c.status)
            for c in verdict.checks]


def iot_table(data: ReportData) -> list[dict[str, Any]]:
    ops: dict[str, dict[str, int]] = defaultdict(lambda: {"ok": 0, "failed": 0})
    for (operation, ok), n in data.iot_ops.items():
        ops[operation]["ok" if ok else "failed"] += n
    return [{"operation": op, **counts} for op, counts in sorted(ops.items())]
