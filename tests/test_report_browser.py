"""report.html in a real browser (Debian's chromium through Playwright): it opens offline
as one file, with no console error, and its charts draw and answer the pointer."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.test_report import RATES, simulated_run_dir
from utils.report.html import build_report

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync"]

playwright = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(not os.access(CHROMIUM, os.X_OK),
                                reason="no chromium (bash scripts/setup_tools.sh chromium)")


def keep(path: Path) -> None:
    """A screenshot kept beside the test and, with KCSTRESS_ARTIFACTS set, there too."""
    where = os.environ.get("KCSTRESS_ARTIFACTS")
    if where:
        Path(where).mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, Path(where) / path.name)


def test_report_opens_offline_and_its_charts_answer(tmp_path: Path) -> None:
    run_dir = simulated_run_dir(tmp_path / "run", "20231114T221320Z-browser", seconds=20)
    report = build_report(run_dir)
    requests: list[str] = []
    errors: list[str] = []
    with playwright.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(report.as_uri())
            page.wait_for_function("window.kcReport && window.kcReport.charts.length > 0")
            charts = page.eval_on_selector_all("#kc-throughput canvas, #kc-latency canvas",
                                               "els => els.length")
            assert charts == 2 * len(RATES)  # throughput and latency of each workload
            page.locator("#thr-payment_app .u-over").hover()  # the pointer over the chart
            page.wait_for_function("""() => [...document.querySelectorAll(
                '#thr-payment_app .u-legend .u-value')].slice(1).some(
                e => /[0-9]/.test(e.textContent))""")  # the values under it, in the legend
            legend = page.locator("#thr-payment_app .u-legend .u-value").all_inner_texts()
            assert legend[2].endswith("/s"), legend  # offered, with its unit
            shot = tmp_path / "report-browser.png"
            page.screenshot(path=str(shot), full_page=True)
            keep(shot)
        finally:
            browser.close()
    assert errors == []
    assert all(url.startswith(("file:", "data:")) for url in requests), requests
