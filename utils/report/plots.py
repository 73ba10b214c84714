"""The report's figures, as base64 PNG strings (matplotlib Agg canvas, no pyplot)."""

from __future__ import annotations

import base64
import io
from typing import TYPE_CHECKING

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import EngFormatter, FuncFormatter, LogLocator, NullFormatter

if TYPE_CHECKING:
    from utils.report.data import ReportData

OUTCOME_COLORS = {
    "success": "#2e7d32",
    "reverted": "#f9a825",
    "rejected": "#c62828",
    "dropped": "#6a1b9a",
    "timeout": "#546e7a",
}


def _seconds(value: float) -> str:
    if value < 1e-3:
        return f"{value * 1e6:.0f} µs"
    return f"{value * 1e3:.1f} ms" if value < 1 else f"{value:.2f} s"


def _figure(height: float, left: float = 0.07) -> Figure:
    """A fixed-margin figure: matplotlib's constrained layout doubled the report's build time
    (about 0.6 s more per figure on the 2-core dev machine)."""
    fig = Figure(figsize=(11, height))
    fig.subplots_adjust(left=left, right=0.98, bottom=min(0.4, 0.95 / height),
                        top=1 - min(0.3, 0.42 / height), hspace=0.35, wspace=0.15)
    return fig


def _png(fig: Figure) -> str:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def outcomes(data: ReportData) -> str:
    """Stacked horizontal bars: transactions per outcome, per workload."""
    names = sorted(data.tx)
    fig = _figure(0.6 * len(names) + 1.4, left=0.16)
    ax = fig.subplots()
    left = [0.0] * len(names)
    for outcome, color in OUTCOME_COLORS.items():
        counts = [data.tx[n].outcomes[outcome] for n in names]
        ax.barh(names, counts, left=left, color=color, label=outcome)
        left = [a + b for a, b in zip(left, counts, strict=True)]
    ax.set_xlabel("transactions")
    ax.invert_yaxis()
    ax.legend(ncols=5, fontsize=8, loc="lower center", bbox_to_anchor=(0.5, 1.0))
    ax.grid(axis="x", alpha=0.3)
    return _png(fig)


def gas(data: ReportData) -> str:
    names = sorted(data.tx)
    values = [data.tx[n].gas_used for n in names]
    fig = _figure(0.5 * len(names) + 1.2, left=0.16)
    ax = fig.subplots()
    bars = ax.barh(names, values, color="#5e35b1")
    ax.bar_label(bars, labels=[f"{v:,}" for v in values], fontsize=8, padding=3)
    ax.xaxis.set_major_formatter(EngFormatter())
    ax.set_xlabel("gas used (total)")
    ax.invert_yaxis()
    ax.margins(x=0.15)
    ax.grid(axis="x", alpha=0.3)
    return _png(fig)


def iot_stages(data: ReportData) -> str:
    """p50 and p95 per IoT pipeline stage (log scale: microseconds to seconds)."""
    order = ["validate", "encrypt", "store", "commit", "total"]
    stages = [s for s in order if s in data.iot_stages]
    stages += sorted(s for s in data.iot_stages if s not in order)
    fig = _figure(3.2)
    ax = fig.subplots()
    x = range(len(stages))
    for offset, q, color in ((-0.2, 0.5, "#80cbc4"), (0.2, 0.95, "#00695c")):
        values = [max(data.iot_stages[s].percentile(q), 1e-6) for s in stages]
        bars = ax.bar([i + offset for i in x], values, width=0.4, color=color,
                      label=f"p{q * 100:.0f}")  # fmt: skip
        ax.bar_label(bars, labels=[_seconds(v) for v in values], fontsize=7, padding=2)
    ax.set_xticks(list(x), stages)
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(base=10))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: _seconds(v)))
    ax.yaxis.set_minor_formatter(NullFormatter())  # no "4x10^0" label on minor ticks
    ax.margins(y=0.15)
    ax.set_ylabel("seconds (log)")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    return _png(fig)
