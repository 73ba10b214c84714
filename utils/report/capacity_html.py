"""The capacity section of report.html: achieved-vs-offered and latency-vs-offered curves
with the knee marked, and the step table. Read from summary.json's ``capacity`` block
(the steps are the rows of capacity.csv), so ``python main.py report`` redoes it."""

from __future__ import annotations

import html
import re
from typing import Any

from utils.report.capacity import why

_LATENCY_SLO = re.compile(r"^p9[59]<=?([0-9.]+)s$")
VERDICT_COLORS = {"pass": "#2e7d32", "fail": "#c62828", "generator-bound": "#f9a825",
                  "provider-throttled": "#6d4c41"}


def _knee(ax: Any, block: dict[str, Any]) -> None:
    rate = block.get("capacity_tx_per_sec")
    if not rate:
        return
    status = block.get("status")
    label = (status if status in ("knee", "provider-throttled") else
             "generator-bound" if block.get("generator_bound") else "best passing")
    ax.axvline(rate, color="#6a1b9a", ls="--", lw=1.2, label=f"{label} {rate:.1f}/s")


def curves(block: dict[str, Any]) -> str:
    """Two panels over the offered rate: achieved rate, and p50/p95/p99 latency."""
    from matplotlib.figure import Figure  # matplotlib only when a report is built

    from utils.report.plots import _png as png  # the report's one PNG encoder
    steps = sorted(block.get("steps") or [], key=lambda s: s["offered"])
    offered = [s["offered"] for s in steps]
    fig = Figure(figsize=(11, 3.8), layout="constrained")
    left, right = fig.subplots(1, 2)
    top = max(offered + [s["achieved"] for s in steps], default=1.0) * 1.05
    left.plot([0, top], [0, top], color="#9e9e9e", ls=":", lw=1, label="achieved = offered")
    left.plot(offered, [s["achieved"] for s in steps], color="#1565c0", lw=1)
    for s in steps:
        left.scatter(s["offered"], s["achieved"], color=VERDICT_COLORS.get(s["verdict"]),
                     zorder=3, s=28)
    for key, color in (("p50", "#90caf9"), ("p95", "#1e88e5"), ("p99", "#0d47a1")):
        right.plot(offered, [max(s[key], 1e-4) for s in steps], marker=".", color=color,
                   label=key)
    for slo in (block.get("config") or {}).get("slo", []):
        match = _LATENCY_SLO.match(slo)
        if match:
            right.axhline(float(match.group(1)), color="#c62828", ls=":", lw=1,
                          label=f"SLO {slo}")
    right.set_yscale("log")
    for ax, title, unit in ((left, "achieved vs offered", "achieved tx/s"),
                            (right, "latency vs offered (from intended time)", "seconds")):
        _knee(ax, block)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("offered tx/s")
        ax.set_ylabel(unit)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper left")
    left.set_xlim(0, top)
    left.set_ylim(0, top)
    return png(fig)


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
    img = f'<img alt="capacity curves" src="data:image/png;base64,{curves(block)}">'
    return (f"<h2>Capacity</h2><p><b>{_e(block.get('headline', ''))}</b></p>"
            f'<p class="note">Each step offered its rate open-loop for a warm-up (not measured) '
            f"and a measured hold; green passed every SLO, red failed one, amber was limited "
            f"by the generator itself, brown was held back by the JSON-RPC provider "
            f"(HTTP 429 / -32005: provider-throttled).</p>{img}"
            f"<table><tr>{header}</tr>{rows}</table>")
