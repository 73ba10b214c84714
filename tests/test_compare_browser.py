"""compare.html in a real browser (Debian's chromium through Playwright): one file that opens
offline, without a console error, every run's curves overlaid on each chart."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.browser import CHROMIUM, keep, offline_page
from tests.test_report import RATES, simulated_run_dir
from utils.report.compare_cli import compare_main

playwright = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(not os.access(CHROMIUM, os.X_OK),
                                reason="no chromium (bash scripts/setup_tools.sh chromium)")


def test_compare_page_opens_offline_with_the_runs_overlaid(tmp_path: Path) -> None:
    base = simulated_run_dir(tmp_path / "base", "20231114T221320Z-base01", seconds=30, seed=7)
    new = simulated_run_dir(tmp_path / "new", "20231114T221320Z-new001", seconds=30, seed=8)
    other = simulated_run_dir(tmp_path / "other", "20231114T221320Z-other1", seconds=30,
                              seed=9)
    out = tmp_path / "cmp"
    assert compare_main([str(base), str(new), str(other), "--out", str(out)]) in (0, 1)
    with offline_page(playwright, (out / "compare.html").as_uri(),
                      "window.kcCompare && window.kcCompare.charts.length > 0") as (page, seen):
        charts = page.evaluate("window.kcCompare.charts.length")
        assert charts == 2 * (len(RATES) + 1)  # throughput and p95: totals, each workload
        legend = page.locator(".kc-card").first.locator(".u-legend .u-label")
        labels = legend.all_inner_texts()
        assert [label for label in labels if label.startswith("20231114")] == [
            "20231114T221320Z-base01", "20231114T221320Z-new001",
            "20231114T221320Z-other1"]
        assert page.locator("table.kc-figures").count() == 2  # a table per new run
        # runs whose intervals end at other seconds share one x axis, each null where
        # another run has a point: lines span those gaps (else only dots were drawn)
        assert page.evaluate("window.kcCompare.charts.every(function (c) { return "
                             "c.plot.series.slice(1).every(function (s) { "
                             "return s.spanGaps === true; }); })")
        shot = tmp_path / "compare-browser.png"
        page.screenshot(path=str(shot), full_page=True)
        keep(shot)
    assert seen.errors == []
    assert all(url.startswith("file://") for url in seen.requests), seen.requests
