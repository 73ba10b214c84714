"""report.html's interactive charts: uPlot (vendored in utils/web) fed by inline JSON.

Throughput (offered vs achieved, the profile's target) and latency (p50/p95/p99) per
workload over the run, and a capacity search's achieved-vs-offered and latency-vs-offered
curves, with the run's timeline (rate changes, pauses, stop) as markers. The library, its
style and the drawing script are inlined: the report stays one file that opens offline.
Hover shows values, drag zooms, double-click resets. The latency target (summary.json's, or
a capacity search's latency SLO) is drawn as a marker; the scale follows the data.
"""

from __future__ import annotations

import json
import math
import re
from typing import TYPE_CHECKING, Any

from utils.web.assets import inline_script, inline_style

if TYPE_CHECKING:
    from utils.report.data import ReportData

LATENCY_SLO = re.compile(r"^(p9[59])<=?([0-9.]+)s$")


def _num(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) or math.isinf(value) else value


def latency_target(summary: dict[str, Any]) -> dict[str, Any] | None:
    """The latency bound the latency charts mark: a capacity search's latency SLO (it judged
    the run by that, not by the run's target), else summary.json's ``max_latency_sec``."""
    capacity = summary.get("capacity")
    if capacity:
        for slo in (capacity.get("config") or {}).get("slo", []):
            match = LATENCY_SLO.match(str(slo).replace(" ", ""))
            if match:
                return {"value": float(match.group(2)), "label": f"SLO {slo}"}
        return None
    value = (summary.get("targets") or {}).get("max_latency_sec")
    if value is None:
        return None
    return {"value": float(value), "label": f"target p95 <= {float(value):g} s"}


def _markers(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """summary.json's ``timeline`` as chart markers (elapsed seconds, short label)."""
    out = []
    for m in summary.get("timeline") or []:
        if not isinstance(m, dict) or m.get("elapsed") is None or m.get("what") == "phase":
            continue
        label = " ".join(str(m[k]) for k in ("what", "workload", "detail") if m.get(k))
        out.append({"x": float(m["elapsed"]), "label": label[:40]})
    return out


def _capacity(summary: dict[str, Any]) -> dict[str, Any] | None:
    block = summary.get("capacity")
    if not block or not block.get("steps"):
        return None
    steps = sorted(block["steps"], key=lambda s: s["offered"])
    return {
        "offered": [s["offered"] for s in steps],
        "achieved": [s["achieved"] for s in steps],
        "verdict": [s.get("verdict") for s in steps],
        **{q: [_num(s.get(q)) for s in steps] for q in ("p50", "p95", "p99")},
        "rate": block.get("capacity_tx_per_sec"),
        "rate_label": block.get("status") or "capacity",
    }


def chart_data(data: ReportData) -> dict[str, Any]:
    """Everything the charts draw, JSON-able (null for an unknown figure, never NaN)."""
    series = {
        name: {"elapsed": s.elapsed, "target": s.target, "offered": s.offered,
               "achieved": s.achieved, "finished": s.finished,
               **{q: [_num(v) for v in getattr(s, q)] for q in ("p50", "p95", "p99")}}
        for name, s in sorted(data.series.items())
    }
    return {"series": series, "latency_target": latency_target(data.summary),
            "markers": _markers(data.summary), "capacity": _capacity(data.summary)}


def charts_head() -> str:
    """The inlined library and chart style (once per report, in its head)."""
    return inline_style("uPlot.min.css") + inline_style("charts.css")


def charts_script(data: ReportData) -> str:
    """The data and the scripts that draw it (at the end of the body)."""
    blob = json.dumps(chart_data(data), allow_nan=False).replace("</", "<\\/")
    return (f'<script type="application/json" id="kc-report-data">{blob}</script>'
            + inline_script("uPlot.iife.min.js") + inline_script("charts.js")
            + inline_script("report.js"))


def has_latency(data: ReportData) -> bool:
    return any(s.finished for s in data.series.values())
