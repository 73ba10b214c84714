"""The report's figures drawn by two processes (utils.report.figures) and by the run's figure
process (utils.report.figure_process) are those drawn in one process from the same files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.test_report import simulated_run_dir
from utils.report.data import load_run
from utils.report.figure_process import DrawnFigures, FigureProcess
from utils.report.figures import figures_of, render_figures, split
from utils.report.html import build_report


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return simulated_run_dir(tmp_path_factory.mktemp("figures"), "20231114T221320Z-figs01",
                             seconds=40, seed=11, max_latency=0.8)


def _children() -> set[int]:
    """This process' child pids still in the process table (zombies included)."""
    tasks = Path(f"/proc/{os.getpid()}/task")
    out: set[int] = set()
    for task in tasks.iterdir():
        text = (task / "children").read_text() if (task / "children").exists() else ""
        out |= {int(p) for p in text.split()}
    return out


def test_two_processes_draw_the_figures_of_one(run_dir: Path) -> None:
    data = load_run(run_dir)
    before = _children()
    serial = render_figures(data, fork=False)
    forked = render_figures(data, fork=True)
    assert list(serial) == ["outcomes", "gas", "iot"]  # the time series are uPlot charts
    assert forked == serial
    assert _children() == before  # the forked child was reaped
    theirs, ours = split(figures_of(data, 0.8))
    assert {f.key for f in theirs} | {f.key for f in ours} == set(serial)
    assert abs(sum(f.panels for f in theirs) - sum(f.panels for f in ours)) <= 1


def test_the_figure_process_draws_what_the_report_would(run_dir: Path) -> None:
    in_process = render_figures(load_run(run_dir), fork=False)
    process = FigureProcess.spawn()
    assert process is not None
    process.request(run_dir.resolve(), 0.8)  # the run's latency target, as summary.json's
    drawn = process.result()
    assert drawn is not None and drawn.max_latency == 0.8
    assert drawn.pngs == in_process
    assert process.process.returncode == 0
    text = build_report(run_dir, drawn).read_text()
    assert all(png in text for png in in_process.values())


def test_figures_for_another_target_are_drawn_again(run_dir: Path) -> None:
    """Figures drawn for another latency target than summary.json's, or not the figures the
    files give, are not used."""
    data = load_run(run_dir)
    fresh = render_figures(data, fork=False)
    stale = "c3RhbGUgZmlndXJl"  # base64 of "stale figure"
    for drawn in (DrawnFigures(2.0, dict.fromkeys(fresh, stale)),
                  DrawnFigures(0.8, {"outcomes": stale})):
        text = build_report(run_dir, drawn).read_text()
        assert stale not in text
        assert all(png in text for png in fresh.values())


def test_an_unasked_figure_process_ends() -> None:
    """At EOF on its stdin (its run is gone) it ends by itself; result() without a request
    stops it."""
    process = FigureProcess.spawn()
    assert process is not None and process.process.stdin is not None
    process.process.stdin.close()
    assert process.process.wait(timeout=60) == 0
    process = FigureProcess.spawn()
    assert process is not None
    assert process.result() is None
    assert process.process.returncode is not None  # reaped


def test_finality_axis_labels_the_seconds_between_receipt_and_confirmation() -> None:
    """Receipts at 0.25 s and parent-chain confirmations at 5.6 s: the log axis labels
    1-2-5 steps (it labelled "1.00 s" alone); over four decades, powers of ten only."""
    from matplotlib.figure import Figure

    from utils.report.finality_plot import latency_log_axis

    def labels(values: list[float]) -> list[str]:
        ax = Figure().subplots()
        ax.plot([1, 99], values)
        latency_log_axis(ax)
        low, high = ax.get_ylim()
        fmt = ax.yaxis.get_major_formatter()
        return [fmt(v, 0) for v in ax.yaxis.get_majorticklocs() if low <= v <= high]

    assert labels([0.25, 5.6]) == ["500.0 ms", "1.00 s", "2.00 s", "5.00 s"]
    assert labels([0.05, 500.0]) == ["100.0 ms", "1.00 s", "10.00 s", "100.00 s"]
