"""``report.html``: one self-contained file rebuilt from a run directory alone.

:func:`build_report` reads ``kpi_intervals.csv``, ``tx_metrics.csv``,
``iot_metrics.csv`` (each optional) and ``summary.json`` (optional), so the
report can be redone on another machine (``python main.py report RUN_DIR``).
Throughput, latency and capacity charts are interactive (uPlot, inlined with its data:
:mod:`utils.report.charts_html`); outcome, gas and IoT stage bars are PNGs embedded as base64
(matplotlib's Agg canvas, no pyplot state). The file opens offline.
"""

from __future__ import annotations

import html
import logging
from pathlib import Path

from utils.errors import ConfigError
from utils.observe.verdict import Status
from utils.report.capacity_html import capacity_section
from utils.report.charts_html import charts_head, charts_script, has_latency, latency_target
from utils.report.costs_html import costs_section
from utils.report.dapp_html import contract_note, dapp_section
from utils.report.data import (
    OUTCOMES,
    ReportData,
    iot_table,
    load_run,
    targets_rows,
    tx_table,
)
from utils.report.figure_process import DrawnFigures
from utils.report.figures import figures_of, render_figures, report_max_latency
from utils.report.finality_html import finality_section
from utils.report.inputbox_html import inputbox_note
from utils.report.summary import summary_verdict

log = logging.getLogger(__name__)

FILENAME = "report.html"


def build_report(run_dir: Path, figures: DrawnFigures | None = None) -> Path:
    """Write ``RUN_DIR/report.html`` from the run's files; return its path. ``figures``:
    drawn from the same files already (by the run's figure process); used when they show
    the latency target summary.json has and are the figures the files give, else drawn now."""
    if not Path(run_dir).is_dir():
        raise ConfigError("RUN_DIR", f"{run_dir} is not a directory")
    data = load_run(Path(run_dir))
    path = data.run_dir / FILENAME
    path.write_text(render_html(data, figures), encoding="utf-8")
    log.info("report written to %s", path)
    return path


_CSS = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#212121}
h1{margin-bottom:.2em} h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;margin:.5em 0;font-size:14px}
td,th{border:1px solid #ddd;padding:4px 8px;text-align:right}
th{background:#f5f5f5} td:first-child,th:first-child{text-align:left}
.met{background:#e8f5e9;color:#1b5e20;font-weight:600}
.missed{background:#ffebee;color:#b71c1c;font-weight:600}
.na{color:#757575} .verdict{padding:.4em .6em;display:inline-block}
.meta td{text-align:left} img{max-width:100%} .note{color:#757575}
"""


def _e(value: object) -> str:
    return html.escape(str(value))


def _table(header: list[str], rows: list[list[str]], raw: bool = False) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{c if raw else _e(c)}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _status_cell(status: Status, note: str = "") -> str:
    css = {Status.MET: "met", Status.MISSED: "missed"}.get(status, "na")
    text = f"{status.value} ({note})" if note else status.value
    return f'<td class="{css}">{_e(text)}</td>'


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


def _measured(data: ReportData, label: str, measured: str) -> str:
    """The measured figure, with the on-chain side beside the IoT latency (the node's side
    only: validate, encrypt, store)."""
    commit = data.iot_stages.get("commit")
    if label == "IoT p95 latency" and commit is not None and commit.count:
        return (f"{measured} (node side: validate, encrypt, store); on-chain commit p95 "
                f"{commit.percentile(0.95):.3f} s")
    return measured


def _targets_section(data: ReportData) -> str:
    """The run's verdict (from summary.json, as the exit code and final line have it): its
    headline, every condition that makes it not clean, and every target checked (a capacity
    search judges by its SLOs: the run targets it did not evaluate are not listed)."""
    verdict = summary_verdict(data.summary)
    if verdict is None:
        return '<p class="note">No verdict: summary.json is missing or was written by a ' \
            'version that did not record one.</p>'
    css = "met" if verdict.clean else "missed"
    head = f'<p class="verdict {css}">{_e(verdict.headline())} (exit {verdict.code})</p>'
    conditions = "".join(f"<li>{_e(c.line())}</li>" for c in verdict.conditions)
    if conditions:
        head += f"<p>Not clean:</p><ul>{conditions}</ul>"
    notes = {c.label: c.note for c in verdict.checks}
    rows = targets_rows(verdict)
    if data.summary.get("capacity"):
        skipped = sum(1 for r in rows if r[3] is Status.NOT_EVALUATED)
        rows = [r for r in rows if r[3] is not Status.NOT_EVALUATED]
        if skipped:
            head += (f'<p class="note">A capacity search is judged by its SLOs (below); '
                     f"{skipped} run targets it does not evaluate are left out.</p>")
    body = "".join(
        f"<tr><td>{_e(n)}</td><td>{_e(t)}</td><td>{_e(_measured(data, n, m))}</td>"
        f"{_status_cell(v, notes[n])}</tr>" for n, t, m, v in rows)
    if not body:
        return head
    return head + "<table><tr><th>target</th><th>threshold</th><th>measured</th>" \
        f"<th>verdict</th></tr>{body}</table>"


def _rpc_section(data: ReportData) -> str:
    """JSON-RPC round trips and how they failed (summary.json's ``rpc``)."""
    rpc = data.summary.get("rpc")
    if not isinstance(rpc, dict):
        return '<p class="note">No JSON-RPC figures in summary.json.</p>'
    kinds = sorted(set(rpc.get("errors", {})) | set(rpc.get("retries", {})))
    rows = [[k, str(rpc["errors"].get(k, 0)), str(rpc["retries"].get(k, 0)),
             str(rpc["gave_up"].get(k, 0))] for k in kinds]
    head = (f'<p class="note">{rpc.get("requests", 0):,} requests; held back by the provider '
            f'{rpc.get("held_seconds", 0):g} s of {rpc.get("elapsed_seconds", 0):g} s. A '
            "throttled, transient, connection or timeout failure is retried with backoff; "
            "one that was not retried gave up. <i>final</i>: the node's own error answer, not "
            "retried and no provider fault (a reverted call: NodeInterface reverts while a "
            "sampled block is in no batch yet; a refused send).</p>")
    if not rows:
        return head
    return head + _table(["kind", "failures", "retried", "gave up"], rows)


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


ALT = {"outcomes": "outcomes", "gas": "gas per workload", "iot": "IoT stage latency",
       "finality": "finality stage latency percentiles"}


def _plots(data: ReportData, drawn: DrawnFigures | None) -> dict[str, str]:
    max_latency = report_max_latency(data)
    keys = [f.key for f in figures_of(data, max_latency)]
    if drawn is not None and drawn.max_latency == max_latency and list(drawn.pngs) == keys:
        pngs = drawn.pngs
    else:
        if drawn is not None:
            log.warning("the figures drawn during the run do not match its files "
                        "(%s for %s): drawn again", list(drawn.pngs), keys)
        pngs = render_figures(data, max_latency=max_latency)
    return {key: _img(png, ALT[key]) for key, png in pngs.items()}


def _iot_section(data: ReportData) -> str:
    rows = [[r["operation"], str(r["ok"]), str(r["failed"])] for r in iot_table(data)]
    if not rows and not data.iot_stages:
        return '<h2>IoT pipeline</h2><p class="note">No IoT operations in this run.</p>'
    return f"""<h2>IoT pipeline</h2>{_table(["operation", "ok", "failed"], rows) if rows else ""}
{contract_note(data)}{inputbox_note(data.summary)}
<p class="note">Stage latency: <i>total</i> is the operation the device waits for (validate,
encrypt, store); <i>commit</i> runs after it, from the stored record to its on-chain
inclusion (through the outbox).</p>"""


def _latency_note(data: ReportData) -> str:
    target = latency_target(data.summary)
    bound = f" The dashed line (or the arrow, when it lies above the data) is {target['label']}." \
        if target else ""
    return f'<p class="note">From intended send time to outcome known, all outcomes.{bound}</p>'


def render_html(data: ReportData, figures: DrawnFigures | None = None) -> str:
    plots = _plots(data, figures)
    none = '<p class="note">No data.</p>'
    throughput = '<div id="kc-throughput" class="kc-grid"></div>' if data.series else none
    latency = '<div id="kc-latency" class="kc-grid"></div>' if has_latency(data) else none
    missing = ""
    if data.missing:
        missing = f'<p class="note">Files not found: {_e(", ".join(data.missing))}</p>'

    title = f"kcstress report: {data.summary.get('run_id', data.run_dir.name)}"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>
<link rel="icon" href="data:,">
<style>{_CSS}</style>{charts_head()}</head><body>
<h1>{_e(title)}</h1>{_meta_section(data)}{missing}
<h2>Verdict</h2>{_targets_section(data)}
{capacity_section(data.summary)}
<h2>Throughput: offered vs achieved</h2>
<p class="note">Offered = scheduler firings/s; achieved = successful (included, status 1)
transactions/s; per interval of kpi_intervals.csv. Hover for values, drag to zoom,
double-click to reset; dashed purple lines mark changes made while the run ran.</p>{throughput}
<h2>Latency percentiles over time</h2>{_latency_note(data)}
{latency}
<h2>Transactions by workload</h2>{_tx_section(data)}
<h2>JSON-RPC</h2>{_rpc_section(data)}
<h2>Outcomes</h2>{plots.get("outcomes", none)}
<h2>Gas per workload</h2>{plots.get("gas", none)}
{costs_section(data.summary)}
{finality_section(data.summary, plots.get("finality", ""))}
{dapp_section(data)}
{_iot_section(data)}
{plots.get("iot", "")}
{charts_script(data)}
</body></html>
"""
