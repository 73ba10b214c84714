"""The report's finality figure: per stage, the latency at each percentile of the sampled
transactions (finality.csv), on a log scale (a receipt in a fraction of a second, a batch
confirmed on the parent chain seconds to minutes later)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from matplotlib.axes import Axes
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from utils.report.plots import _figure, _png, _seconds

if TYPE_CHECKING:
    from utils.report.data import ReportData

COLORS = {"receipt": "#2e7d32", "batch_posted": "#1565c0", "l1_confirmed": "#6a1b9a"}
PERCENTILES = [float(q) for q in range(1, 100)] + [99.5, 99.9]


def finality(data: ReportData) -> str:
    fig = _figure(3.4, left=0.09)
    ax = fig.subplots()
    for stage, hist in data.finality.items():
        if not hist.count:
            continue
        values = [max(hist.percentile(q / 100), 1e-6) for q in PERCENTILES]
        ax.plot(PERCENTILES, values, color=COLORS.get(stage), label=f"{stage} ({hist.count})")
    latency_log_axis(ax)
    ax.set_xlabel("percentile of the sampled transactions")
    ax.set_ylabel("seconds from intended send (log)")
    ax.set_xlim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")  # lower right hid the receipts
    return _png(fig)


def latency_log_axis(ax: Axes) -> None:
    """A log y axis of seconds whose labels a reader can use: 1-2-5 ticks while the data
    spans up to about two decades (receipts at 0.25 s, confirmations at 5 s had one labelled
    tick, "1.00 s", between them), powers of ten past that."""
    ax.set_yscale("log")
    low, high = ax.get_ylim()
    decades = math.log10(high / low) if low > 0 and high > low else 0.0
    subs = (1.0, 2.0, 5.0) if decades <= 2.5 else (1.0,)
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=subs))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: _seconds(v)))
    ax.yaxis.set_minor_formatter(NullFormatter())
