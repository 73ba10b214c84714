"""report.html in a real browser (Debian's chromium through Playwright): it opens offline
as one file, with no console error, and its charts draw and answer the pointer."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser import keep, offline_page
from tests.conftest import require_tool
from tests.test_report import RATES, simulated_run_dir
from utils.report.html import build_report

playwright = pytest.importorskip("playwright.sync_api")  # the dev extra (make setup)


@pytest.fixture(autouse=True)
def chromium() -> None:
    """Debian's chromium, installed by `make tools` (skipped where it cannot be)."""
    require_tool("chromium", "Debian's chromium")


def test_report_opens_offline_and_its_charts_answer(tmp_path: Path) -> None:
    run_dir = simulated_run_dir(tmp_path / "run", "20231114T221320Z-browser", seconds=20)
    report = build_report(run_dir)
    with offline_page(playwright, report.as_uri(),
                      "window.kcReport && window.kcReport.charts.length > 0") as (page, seen):
        charts = page.eval_on_selector_all("#kc-throughput canvas, #kc-latency canvas",
                                           "els => els.length")
        assert charts == 2 * len(RATES)  # throughput and latency of each workload
        values = "#thr-payment_app .u-legend .u-value"
        page.wait_for_function(f"() => /[0-9]/.test(document.querySelector("
                               f"'{values}').textContent)")  # the last values at first
        last = page.locator(values).all_inner_texts()
        over = page.locator("#thr-payment_app .u-over")
        over.hover(position={"x": 5, "y": 20})  # the pointer at the chart's start
        page.wait_for_function(f"last => document.querySelector('{values}').textContent"
                               " !== last", arg=last[0])  # the values under it
        legend = page.locator(values).all_inner_texts()
        assert float(legend[0]) < float(last[0]) and legend[2].endswith("/s"), legend
        shot = tmp_path / "report-browser.png"
        page.screenshot(path=str(shot), full_page=True)
        keep(shot)
    assert seen.errors == []
    assert all(url.startswith(("file:", "data:")) for url in seen.requests), seen.requests
