"""``report.html``: one self-contained file rebuilt from a run directory alone.

:func:`build_report` reads ``kpi_intervals.csv``, ``tx_metrics.csv``,
``iot_metrics.csv`` (each optional) and ``summary.json`` (optional), so the
report can be redone on another machine (``python main.py report RUN_DIR``).
Plots are PNGs embedded as base64 (matplotlib's Agg canvas, no pyplot state).
"""

from __future__ import annotations

import csv
import html
import json
import logging
import math
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from utils.errors import ConfigError
from utils.histogram import Histogram

log = logging.getLogger(__name__)

FILENAME = "report.html"
OUTCOMES = ("success", "reverted", "rejected", "dropped", "timeout")
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


_REQUIRED = {
    "kpi_intervals.csv": ("interval_start", "interval_end", "elapsed_sec", "workload",
                          "target_rate", "offered_rate", "achieved_rate", "successes",
                          *FAILURE_COLUMNS, "latency_p50", "latency_p95", "latency_p99"),
    "tx_metrics.csv": ("module", "status", "gas_used", "latency_sec"),
    "iot_metrics.csv": ("operation", "success", "latency_sec", "pipeline_stage"),
}  # fmt: skip


def _rows(path: Path, missing: list[str]) -> Iterator[dict[str, str]]:
    """Rows of a run CSV; ConfigError if a column the report needs is absent."""
    if not path.exists():
        missing.append(path.name)
        return
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        absent = [c for c in _REQUIRED.get(path.name, ()) if c not in (reader.fieldnames or [])]
        if absent:
            raise ConfigError("RUN_DIR", f"{path}: missing column(s) {', '.join(absent)}")
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
    for row in _rows(data.run_dir / "iot_metrics.csv", data.missing):
        ok = row["success"] == "True"
        data.iot_stages.setdefault(row["pipeline_stage"], Histogram()).observe(
            _float(row["latency_sec"])
        )
        if row["pipeline_stage"] == "total":
            data.iot_ops[(row["operation"], ok)] += 1
        elif row["pipeline_stage"] == "commit":
            data.iot_ops[("on-chain commit", ok)] += 1
    return data


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


def build_report(run_dir: Path) -> Path:
    """Write ``RUN_DIR/report.html`` from the run's files; return its path."""
    if not Path(run_dir).is_dir():
        raise ConfigError("RUN_DIR", f"{run_dir} is not a directory")
    data = load_run(Path(run_dir))
    path = data.run_dir / FILENAME
    path.write_text(render_html(data), encoding="utf-8")
    log.info("report written to %s", path)
    return path


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


def targets_rows(data: ReportData) -> list[tuple[str, str, str, bool | None]]:
    """(target, threshold, measured, met) from summary.json; empty without it."""
    kpis = data.summary.get("kpis") or {}
    targets = data.summary.get("targets") or kpis.get("targets") or {}
    if not kpis or not targets:
        return []
    rows: list[tuple[str, str, str, bool | None]] = [
        ("IoT success rate", f">= {targets.get('success_rate', 0):.1%}",
         f"{kpis.get('success_rate', 0):.1%}", kpis.get("meets_success_target")),
        ("IoT p95 latency", f"<= {targets.get('max_latency_sec', 0):g} s",
         f"{kpis.get('p95_latency_sec', 0):.3f} s", kpis.get("meets_latency_target")),
        ("IoT entries per day", f">= {targets.get('daily_entries', 0):,.0f}",
         f"{kpis.get('daily_submission_rate', 0):,.1f}", kpis.get("meets_volume_target")),
    ]  # fmt: skip
    for name, wl in sorted((kpis.get("workloads") or {}).items()):
        rows.append(
            (f"{name} success rate", f">= {targets.get('success_rate', 0):.1%}",
             f"{wl.get('success_rate', 0):.1%}", wl.get("meets_success_target"))
        )  # fmt: skip
        rows.append(
            (f"{name} p95 latency", f"<= {targets.get('max_latency_sec', 0):g} s",
             f"{wl.get('p95', 0):.3f} s", wl.get("meets_latency_target"))
        )  # fmt: skip
    return rows


def iot_table(data: ReportData) -> list[dict[str, Any]]:
    ops: dict[str, dict[str, int]] = defaultdict(lambda: {"ok": 0, "failed": 0})
    for (operation, ok), n in data.iot_ops.items():
        ops[operation]["ok" if ok else "failed"] += n
    return [{"operation": op, **counts} for op, counts in sorted(ops.items())]


_CSS = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#212121}
h1{margin-bottom:.2em} h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;margin:.5em 0;font-size:14px}
td,th{border:1px solid #ddd;padding:4px 8px;text-align:right}
th{background:#f5f5f5} td:first-child,th:first-child{text-align:left}
.met{background:#e8f5e9;color:#1b5e20;font-weight:600}
.missed{background:#ffebee;color:#b71c1c;font-weight:600}
.na{color:#757575} .meta td{text-align:left} img{max-width:100%} .note{color:#757575}
"""


def _e(value: object) -> str:
    return html.escape(str(value))


def _table(header: list[str], rows: list[list[str]], raw: bool = False) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{c if raw else _e(c)}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _verdict(met: bool | None) -> str:
    if met is None:
        return '<td class="na">not evaluated</td>'
    return '<td class="met">met</td>' if met else '<td class="missed">missed</td>'


def _meta_section(data: ReportData) -> str:
    s = data.summary
    versions = ", ".join(f"{k} {v}" for k, v in (s.get("versions") or {}).items() if v)
    rows = [
        ["run id", s.get("run_id", data.run_dir.name)],
        ["started / ended (UTC)", f"{s.get('started_at', '?')} / {s.get('ended_at', '?')}"],
        ["duration", f"{s.get('duration_sec', '?')} s"],
        ["chain id", s.get("chain_id", "?")],
        ["seed", s.get("seed", "")],
        ["git commit", s.get("git_commit") or "unknown"],
        ["versions", versions or "unknown"],
    ]
    return "<table class=meta>" + "".join(
        f"<tr><td>{_e(k)}</td><td>{_e(v)}</td></tr>" for k, v in rows
    ) + "</table>"


def _targets_section(data: ReportData) -> str:
    rows = targets_rows(data)
    if not rows:
        return '<p class="note">No summary.json: targets were not evaluated.</p>'
    body = "".join(
        f"<tr><td>{_e(n)}</td><td>{_e(t)}</td><td>{_e(m)}</td>{_verdict(v)}</tr>"
        for n, t, m, v in rows
    )
    return "<table><tr><th>target</th><th>threshold</th><th>measured</th><th>verdict</th></tr>" \
        f"{body}</table>"


def _tx_section(data: ReportData) -> str:
    rows = tx_table(data)
    if not rows:
        return '<p class="note">No transactions recorded.</p>'
    header = ["workload", "finished", *OUTCOMES, "success rate", "p50 s", "p95 s", "p99 s",
              "max s", "gas used"]  # fmt: skip
    cells = [
        [r["workload"], str(r["finished"]), *(str(r[o]) for o in OUTCOMES),
         f"{r['success_rate']:.1%}", *(f"{r[k]:.3f}" for k in ("p50", "p95", "p99", "max")),
         f"{r['gas_used']:,}"]
        for r in rows
    ]  # fmt: skip
    return _table(header, cells)


def _img(png: str, alt: str) -> str:
    return f'<img alt="{_e(alt)}" src="data:image/png;base64,{png}">'


def _plots(data: ReportData) -> dict[str, str]:
    from utils import report_plots as plots  # matplotlib only when a report is built

    max_latency = (data.summary.get("targets") or {}).get("max_latency_sec")
    out: dict[str, str] = {}
    if data.series:
        out["throughput"] = _img(plots.throughput(data.series), "throughput")
    if any(s.finished for s in data.series.values()):
        out["latency"] = _img(plots.latency(data.series, max_latency), "latency percentiles")
    if data.tx:
        out["outcomes"] = _img(plots.outcomes(data), "outcomes")
        out["gas"] = _img(plots.gas(data), "gas per workload")
    if data.iot_stages:
        out["iot"] = _img(plots.iot_stages(data), "IoT stage latency")
    return out


def _contract_note(data: ReportData) -> str:
    """Gas per committed IoT record (from tx_metrics.csv) and the contract in use."""
    pipeline = data.tx.get("data_pipeline")
    if pipeline is None or not pipeline.outcomes["success"]:
        return ""
    per_record = pipeline.gas_used / pipeline.outcomes["success"]  # as summary.json
    contract = data.summary.get("contract") or {}
    where = (f" ({_e(contract.get('flavour'))} contract at {_e(contract.get('address'))})"
             if contract else "")
    return (f'<p class="note">Gas per IoT record commitment (submitResult){where}: '
            f"<b>{per_record:,.0f}</b></p>")


def render_html(data: ReportData) -> str:
    plots = _plots(data)
    none = '<p class="note">No data.</p>'
    iot_rows = [[r["operation"], str(r["ok"]), str(r["failed"])] for r in iot_table(data)]
    missing = ""
    if data.missing:
        missing = f'<p class="note">Files not found: {_e(", ".join(data.missing))}</p>'

    title = f"kcstress report: {data.summary.get('run_id', data.run_dir.name)}"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>
<style>{_CSS}</style></head><body>
<h1>{_e(title)}</h1>{_meta_section(data)}{missing}
<h2>Targets</h2>{_targets_section(data)}
<h2>Throughput: offered vs achieved</h2>
<p class="note">Offered = scheduler firings/s; achieved = successful (included, status 1)
transactions/s; per interval of kpi_intervals.csv.</p>{plots.get("throughput", none)}
<h2>Latency percentiles over time</h2>
<p class="note">From intended send time to outcome known, all outcomes.</p>
{plots.get("latency", none)}
<h2>Transactions by workload</h2>{_tx_section(data)}
<h2>Outcomes</h2>{plots.get("outcomes", none)}
<h2>Gas per workload</h2>{plots.get("gas", none)}
<h2>IoT pipeline</h2>{_table(["operation", "ok", "failed"], iot_rows) if iot_rows else ""}
{_contract_note(data)}
<p class="note">Stage latency: <i>total</i> is the operation the device waits for (validate,
encrypt, store); <i>commit</i> runs after it, from the stored record to its on-chain
inclusion (through the outbox).</p>
{plots.get("iot", none)}
</body></html>
"""
