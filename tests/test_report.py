"""report.html rebuilt from a run directory's files alone."""

from __future__ import annotations

import base64
import html
import json
import random
import re
import shutil
from pathlib import Path

import pytest

from tests.test_csv_sinks import FakeClock
from tests.test_metrics import iot_operation, tx
from utils.errors import ConfigError
from utils.observe.aggregate import RunAggregate
from utils.observe.csv_sinks import DeviceStatsSink, IotCsvSink, TxCsvSink
from utils.observe.events import CommitStatusEvent, FiringEvent, Outcome, TxSentEvent
from utils.observe.kpi_intervals import KpiIntervalSink
from utils.observe.kpis import Targets
from utils.observe.stats import StatsHub
from utils.report.data import load_run
from utils.report.html import build_report
from utils.report.summary import build_summary, write_summary

T0 = 1_700_000_000.0
RATES = {"payment_app": 4.0, "merchant_app": 2.0, "lending_app": 1.0, "data_pipeline": 1.0}
FAILURES = [Outcome.REVERTED, Outcome.REJECTED, Outcome.DROPPED, Outcome.TIMEOUT]


def simulate_run(run_dir: Path, seconds: int = 60, seed: int = 7) -> RunAggregate:
    """Feed a minute of plausible events through the real sinks into ``run_dir``.

    Load ramps up so the achieved rate falls behind the offered one at the end.
    """
    rng = random.Random(seed)
    clock = FakeClock(T0)
    hub = StatsHub()
    agg = RunAggregate(RATES, clock=T0)
    hub.listen(agg)
    for sink in (
        TxCsvSink(run_dir), IotCsvSink(run_dir), DeviceStatsSink(run_dir, every=30, clock=clock),
        KpiIntervalSink(run_dir, interval=10, targets=RATES, start=T0, clock=clock),
    ):  # fmt: skip
        hub.add_sink(sink)
    record = 0
    for second in range(seconds):
        clock.now = T0 + second
        stress = second / seconds
        for name, rate in RATES.items():
            for k in range(int(rate)):
                t = clock.now + k / rate
                hub.emit(FiringEvent(name, t, t + rng.expovariate(200)))
                outcome = Outcome.SUCCESS
                if rng.random() < 0.02 + 0.1 * stress:
                    outcome = rng.choice(FAILURES)
                if outcome is not Outcome.REJECTED:
                    hub.emit(TxSentEvent(name, t + 0.005))
                latency = rng.lognormvariate(-1.5 + 1.5 * stress, 0.4)
                hub.emit(tx(name, outcome, t, latency, gas_used=rng.randint(21_000, 90_000)))
        if second % 2 == 0:
            device = f"EV_{second % 5:04d}"
            for event in iot_operation(clock.now, device, "submit", ok=rng.random() > 0.05):
                hub.emit(event)
            record += 1
            hub.emit(CommitStatusEvent(clock.now, record, "pending"))
            hub.emit(CommitStatusEvent(clock.now + 1, record, "committed"))
        hub.flush()
    clock.now = T0 + seconds + 0.5
    agg.ended_at = clock.now
    hub.close()
    return agg


def simulated_run_dir(path: Path, run_id: str, *, seconds: int = 60, seed: int = 7,
                      max_latency: float = 1.0) -> Path:
    """``path`` as a finished run's directory: simulated CSVs, histograms and summary.json."""
    agg = simulate_run(path, seconds=seconds, seed=seed)
    summary = build_summary(
        agg, run_id=run_id, targets=Targets(max_latency_sec=max_latency), seed=seed,
        chain_id=31337, settings={"duration": seconds, "interval": 10},
    )  # fmt: skip
    write_summary(path, summary)
    return path


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return simulated_run_dir(tmp_path_factory.mktemp("run"), "20231114T221320Z-test01")


def test_report_is_one_self_contained_file(run_dir: Path) -> None:
    path = build_report(run_dir)
    assert path == run_dir / "report.html"
    text = path.read_text()
    assert "20231114T221320Z-test01" in text
    assert not re.search(r"""(src|href)=["']?(https?:|//|file:)""", text)  # nothing external
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text)
    assert len(images) == 3  # outcomes, gas, IoT stages
    for b64 in images:
        png = base64.b64decode(b64)
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5_000
    # throughput and latency: interactive charts, their library and data inlined
    assert "uPlot" in text and 'id="kc-throughput"' in text and 'id="kc-latency"' in text
    charts = report_charts(text)
    data = load_run(run_dir)
    assert set(charts["series"]) == set(RATES)
    for name, series in charts["series"].items():
        assert series["offered"] == data.series[name].offered
        assert series["achieved"] == data.series[name].achieved
        assert series["elapsed"] == data.series[name].elapsed
    assert charts["latency_target"]["value"] == 1.0  # summary.json's, drawn as a marker


def report_charts(text: str) -> dict:
    """The inline JSON the report's charts draw."""
    blob = re.search(r'<script type="application/json" id="kc-report-data">(.*?)</script>',
                     text, re.S)
    assert blob is not None
    return json.loads(blob.group(1).replace("<\\/", "</"))


def test_report_tables_agree_with_the_csvs(run_dir: Path) -> None:
    summary = json.loads((run_dir / "summary.json").read_text())
    data = load_run(run_dir)
    assert data.missing == []
    assert set(data.series) == set(RATES)
    assert len(data.series["payment_app"].elapsed) == 6  # the 0.5 s closing sliver is left out
    for name, wl in summary["kpis"]["workloads"].items():
        assert sum(data.tx[name].outcomes.values()) == wl["finished"]
        assert data.tx[name].gas_used == wl["gas_used"]
        assert data.tx[name].latency.percentile(0.95) == pytest.approx(wl["p95"], rel=0.03)
    text = (run_dir / "report.html").read_text()
    payment = summary["kpis"]["workloads"]["payment_app"]
    assert f"{payment['gas_used']:,}" in text
    assert "IoT entries per day" in text and 'class="missed"' in text
    judged = [c for c in summary["verdict"]["checks"] if c["status"] != "not evaluated"]
    assert len(judged) >= 3 + 2 * len(RATES)  # totals, missed firings, IoT, each workload
    # one cell per judged target, and the verdict's headline above them
    assert text.count('class="met"') + text.count('class="missed"') == len(judged)
    assert f'class="verdict missed">{html.escape(summary["exit_reason"])}' in text
    # a final JSON-RPC error is said to be the node's answer (a NodeInterface revert), not a fault
    assert "<i>final</i>: the node's own error answer" in text


def test_rebuilt_from_csvs_alone_on_another_machine(run_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copied"
    shutil.copytree(run_dir, copy)
    (copy / "summary.json").unlink()
    (copy / "report.html").unlink()
    text = build_report(copy).read_text()
    assert "No verdict: summary.json is missing" in text
    assert len(re.findall(r"data:image/png;base64,", text)) == 3
    assert set(report_charts(text)["series"]) == set(RATES)


def test_empty_run_dir_still_gives_a_report(tmp_path: Path) -> None:
    text = build_report(tmp_path).read_text()
    assert "Files not found" in text and "tx_metrics.csv" in text
    assert "data:image/png" not in text
    assert report_charts(text)["series"] == {}
    assert "No IoT operations in this run" in text


def test_a_missing_run_dir_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"RUN_DIR: .* is not a directory"):
        build_report(tmp_path / "nope")


def test_a_csv_without_needed_columns_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "tx_metrics.csv").write_text("timestamp,module,tx_hash\n1,payment,0x1\n")
    with pytest.raises(ConfigError, match=r"tx_metrics.csv: missing column\(s\) status, gas_used"):
        build_report(tmp_path)
