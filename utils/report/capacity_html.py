"""The capacity section of report.html: achieved-vs-offered and latency-vs-offered curves
(interactive, drawn by :mod:`utils.report.charts_html` into ``#kc-capacity``) with the knee
and the search's latency SLO marked, and the step table. Read from summary.json's
``capacity`` block (the steps are the rows of capacity.csv), so ``python main.py report``
redoes it."""

from __future__ import annotations

import html
from typing import Any

from utils.report.capacity import why

VERDICT_COLORS = {"pass": "#2e7d32", "fail": "#c62828", "generator-bound": "#f9a825",
                  "provider-throttled": "#6d4c41"}


def _e(value: object) -> str:
    return html.escape(str(value))


def capacity_section(summary: dict[str, Any]) -> str:
    """The HTML section ('' when the run was not a capacity search)."""
    block = summary.get("capacity")
    if not block or not block.get("steps"):
        return ""
    rows = "".join(
        f"<tr><td>{s['step']}</td><td>{_e(s['phase'])}</td><td>{s['offered']:.1f}</td>"
        f"<td>{s['achieved']:.1f}</td><td>{s['p95']:.3f}</td><td>{s['p99']:.3f}</td>"
        f"<td>{s['success']:.2%}</td><td>{s['backlog']:+.1%}</td>"
        f"<td>{s.get('gen_loop_cpu', 0):.0%}</td>"
        f"<td>{s.get('rpc_throttled', 0)} / {s.get('rpc_requests', 0)}</td>"
        f'<td style="color:{VERDICT_COLORS.get(s["verdict"], "#000")}">{_e(s["verdict"])}</td>'
        f"<td>{_e(why(s))}</td></tr>"
        for s in block["steps"])
    header = "".join(f"<th>{h}</th>" for h in (
        "step", "phase", "offered/s", "achieved/s", "p95 s", "p99 s", "success", "backlog",
        "loop cpu", "throttled / requests", "verdict", "why"))
    img = '<div id="kc-capacity" class="kc-grid"></div>'
    return (f"<h2>Capacity</h2><p><b>{_e(block.get('headline', ''))}</b></p>"
            f'<p class="note">Each step offered its rate open-loop for a warm-up (not measured) '
            f"and a measured hold; green passed every SLO, red failed one, amber was limited "
            f"by the generator itself, brown was held back by the JSON-RPC provider "
            f"(HTTP 429 / -32005: provider-throttled).</p>{img}"
            f"<table><tr>{header}</tr>{rows}</table>")
