"""report.html's charts and the mends of issue 22.5, on a simulated run's files: a capacity
search marks its latency SLO (not the run's 5 s target) and lists only the targets it judged;
a run without IoT says so; the IoT p95 row carries the on-chain commit p95."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.test_report import report_charts, simulated_run_dir
from utils.observe.histogram import Histogram
from utils.report.charts_html import latency_target
from utils.report.data import load_run
from utils.report.html import build_report, render_html


def _step(n: int, offered: float, verdict: str) -> dict:
    return {"step": n, "phase": "step", "offered": offered, "achieved": offered * 0.98,
            "p50": 0.2 * n, "p95": 0.5 * n, "p99": 0.7 * n, "success": 1.0, "backlog": 0.0,
            "verdict": verdict, "failures": [] if verdict == "pass" else ["p95<=2s"],
            "generator_bound_reasons": []}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return simulated_run_dir(tmp_path_factory.mktemp("charts"), "20231114T221320Z-charts",
                             seconds=12, seed=5, max_latency=5.0)


def test_a_capacity_search_marks_its_slo_and_its_judged_targets_only(run_dir: Path) -> None:
    summary = json.loads((run_dir / "summary.json").read_text())
    summary["capacity"] = {
        "steps": [_step(1, 20.0, "pass"), _step(3, 80.0, "fail"), _step(2, 40.0, "pass")],
        "config": {"slo": ["p95<=2s", "success>=0.99"]}, "capacity_tx_per_sec": 40.0,
        "status": "knee", "headline": "capacity 40 tx/s"}
    for check in summary["verdict"]["checks"][:3]:  # as a search leaves the run targets
        check.update(status="not evaluated", measured=None)
    (run_dir / "summary.json").write_text(json.dumps(summary))
    text = build_report(run_dir).read_text()
    charts = report_charts(text)
    assert charts["latency_target"] == {"value": 2.0, "label": "SLO p95<=2s"}
    assert charts["capacity"]["offered"] == [20.0, 40.0, 80.0]  # sorted for the x axis
    assert charts["capacity"]["p95"] == [0.5, 1.0, 1.5] and charts["capacity"]["rate"] == 40.0
    assert 'id="kc-capacity"' in text and "data:image/png;base64" in text  # bars stay PNG
    assert ">not evaluated<" not in text
    skipped = sum(c["status"] == "not evaluated" for c in summary["verdict"]["checks"])
    assert skipped == 3 and f"{skipped} run targets it does not evaluate are left out" in text


def test_the_run_target_without_a_search() -> None:
    assert latency_target({"targets": {"max_latency_sec": 5.0}})["value"] == 5.0
    assert latency_target({"capacity": {"config": {"slo": ["success>=0.99"]}}}) is None
    assert latency_target({}) is None


def test_iot_latency_names_its_side_and_gives_the_commit(run_dir: Path) -> None:
    data = load_run(run_dir)
    commit = Histogram()
    for value in (1.0, 1.2, 2.5):
        commit.observe(value)
    data.iot_stages["commit"] = commit
    text = render_html(data)
    assert "(node side: validate, encrypt, store); on-chain commit p95 " \
        f"{commit.percentile(0.95):.3f} s" in text
    data.iot_stages.clear()
    data.iot_ops.clear()
    assert "No IoT operations in this run." in render_html(data)


def test_chart_numbers_under_one_keep_three_digits() -> None:
    """charts.js's number format (axis ticks, legends, the page's table): a base-fee axis of
    0 to 0.1 gwei labelled its 0.075 tick "0.07" and its 0.025 tick "0.03" (toFixed(2))."""
    import shutil
    import subprocess

    from tests.conftest import tool_missing

    node = shutil.which("node")
    if node is None:
        tool_missing("node", "node (README's prerequisites) runs charts.js outside a browser")
    charts = Path(__file__).resolve().parents[1] / "utils" / "web" / "charts.js"
    script = ("global.window = {}; global.document = {};"
              f"eval(require('fs').readFileSync({json.dumps(str(charts))}, 'utf8'));"
              "console.log(JSON.stringify([0.075, 0.025, 0.05, 0.1, 2.5, 0.0049, 12.5, 20000]"
              ".map(function (v) { return window.KC.num(v); })));")
    done = subprocess.run([str(node), "-e", script], capture_output=True, text=True,
                          timeout=30, check=True)
    assert json.loads(done.stdout) == ["0.075", "0.025", "0.05", "0.1", "2.5", "0.0049",
                                       "12.5", "20k"]
