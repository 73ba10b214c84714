"""``compare.html``: the comparison in one self-contained page (opens offline): each new
run's figures against the base (change, interval, verdict), its thresholds, and every run's
curves overlaid (throughput and p95 latency per interval, from the load's start), drawn by
the vendored uPlot through :mod:`utils.web`'s chart helpers, inlined."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from utils.observe.verdict import Status
from utils.report.compare import IMPROVED, NOT_COMPARED, REGRESSED
from utils.report.compare_output import Comparison, headline, row_cells
from utils.web.assets import inline_script, inline_style

FILENAME = "compare.html"
_STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
table.kc-figures{border-collapse:collapse;margin:.5em 0 1.5em}
td,th{padding:.2em .6em;border-bottom:1px solid #ddd;text-align:right}
td:first-child,th:first-child{text-align:left}
tr.regressed td{background:#fdecea}tr.improved td{background:#e8f5e9}
.bad{color:#b71c1c;font-weight:bold}.good{color:#1b5e20}
#kc-curves{display:grid;grid-template-columns:repeat(auto-fill,minmax(520px,1fr));gap:1em}
"""
_SCRIPT = """
(function () {
  "use strict";
  var d = JSON.parse(document.getElementById("kc-compare-data").textContent);
  var colors = ["#616161", "#1565c0", "#c62828", "#2e7d32", "#6a1b9a", "#ef6c00"];
  var root = document.getElementById("kc-curves");
  window.kcCompare = {charts: [], data: d};
  Object.keys(d.scopes).forEach(function (name) {
    var s = d.scopes[name];
    [["throughput", "successful transactions per second", "/s"],
     ["p95", "p95 latency", "s"]].forEach(function (k) {
      var card = document.createElement("div");
      card.className = "kc-card";
      root.appendChild(card);
      var ch = KC.chart(card, {
        title: name + ": " + k[1], x: {label: "seconds from the load's start"},
        y: {label: k[1], unit: k[2], zero: true},
        series: d.runs.map(function (r, i) {
          return {label: r, color: colors[i % colors.length], points: true, spanGaps: true};
        })});
      ch.setData([s.x].concat(s[k[0]]));
      window.kcCompare.charts.push(ch);
    });
  });
})();
"""


def curve_data(comparisons: list[Comparison]) -> dict[str, Any]:
    """Every run's curves on one x axis (null where a run has no interval there)."""
    runs = [comparisons[0].base, *(c.new for c in comparisons)] if comparisons else []
    scopes: dict[str, Any] = {}
    for scope in sorted({s for r in runs for s in r.curves}, key=lambda s: s != "totals"):
        xs = sorted({p[0] for r in runs for p in r.curves.get(scope, [])})
        at = {x: i for i, x in enumerate(xs)}
        series: dict[str, list[list[float | None]]] = {"throughput": [], "p95": []}
        for run in runs:
            thr: list[float | None] = [None] * len(xs)
            p95: list[float | None] = [None] * len(xs)
            for x, rate, q in run.curves.get(scope, []):
                thr[at[x]], p95[at[x]] = rate, q
            series["throughput"].append(thr)
            series["p95"].append(p95)
        scopes[scope] = {"x": xs, **series}
    return {"runs": [r.label for r in runs], "scopes": scopes}


def _figures_table(comparison: Comparison) -> str:
    head = "".join(f"<th>{h}</th>" for h in ("figure", "base", "new", "change",
                                              "99% interval", "verdict"))
    rows = []
    for c in comparison.figures:
        if c.verdict == NOT_COMPARED:
            continue
        css = {REGRESSED: "regressed", IMPROVED: "improved"}.get(c.verdict, "")
        cells = "".join(f"<td>{html.escape(v)}</td>" for v in row_cells(c))
        rows.append(f'<tr class="{css}" title="{html.escape(c.label)} ({c.method})">{cells}'
                    "</tr>")
    return f"<table class='kc-figures'><tr>{head}</tr>{''.join(rows)}</table>"


def _thresholds(comparison: Comparison) -> str:
    if not comparison.thresholds:
        return ""
    items = "".join(
        f'<li class="{"bad" if t.status is Status.MISSED else "good"}">'
        f"{html.escape(t.line())}</li>" for t in comparison.thresholds)
    return f"<h3>Thresholds</h3><ul>{items}</ul>"


def build_html(comparisons: list[Comparison], out: Path) -> Path:
    sections = []
    for c in comparisons:
        css = "bad" if c.failed else "good"
        sections.append(f"<h2>{html.escape(c.new.label)} against "
                        f"{html.escape(c.base.label)}</h2>"
                        f'<p class="{css}">{html.escape(headline(c))}</p>'
                        f"{_thresholds(c)}{_figures_table(c)}")
    data = json.dumps(curve_data(comparisons)).replace("</", "<\\/")
    page = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>kcstress compare</title>"
        f"{inline_style('uPlot.min.css')}{inline_style('charts.css')}<style>{_STYLE}</style>"
        "</head><body><h1>kcstress compare</h1>"
        "<p>Change, 99 % interval and verdict of each figure; a change under 5 % (half a "
        "percentage point for a share, 25 % for a fee, one block interval for a transaction "
        "latency) is never a regression. Method: docs/compare.md.</p>"
        f"{''.join(sections)}<h2>Curves</h2><div id='kc-curves'></div>"
        f"<script type='application/json' id='kc-compare-data'>{data}</script>"
        f"{inline_script('uPlot.iife.min.js')}{inline_script('charts.js')}"
        f"<script>{_SCRIPT}</script></body></html>"
    )
    path = out / FILENAME
    path.write_text(page, encoding="utf-8")
    return path
