"""Rotation of tx_metrics.csv / iot_metrics.csv (utils.observe.csv_rotation) and the report
reading the rotated parts."""

from __future__ import annotations

import csv
import gzip
import subprocess
import sys
from pathlib import Path

from utils.observe.csv_rotation import Rotation, csv_parts, open_part
from utils.observe.csv_sinks import CsvFile, DeviceStatsSink, TxCsvSink
from utils.observe.events import IotEvent, Outcome, TxEvent
from utils.observe.stats import StatsHub
from utils.report.data import load_run

ROOT = Path(__file__).resolve().parents[1]


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _rows_of(path: Path) -> list[list[str]]:
    rows: list[list[str]] = []
    for part in csv_parts(path):
        with open_part(part) as fh:
            lines = list(csv.reader(fh))
        assert lines[0] == ["n", "text"], part  # every part has its header
        rows += lines[1:]
    return rows


def test_size_rotation_gzips_parts_in_order(tmp_path: Path) -> None:
    path = tmp_path / "tx_metrics.csv"
    out = CsvFile(path, ("n", "text"), flush_every=3600, rotation=Rotation(0, 4000, 0))
    for n in range(1000):
        out.write([n, "x" * 20])
        if n % 50 == 49:
            out.flush()
    out.close()
    parts = csv_parts(path)
    assert out.parts >= 5 and len(parts) == out.parts + 1
    assert all(p.name.endswith(".csv.gz") for p in parts[:-1]) and parts[-1] == path
    assert parts[0].name == "tx_metrics.0001.csv.gz"
    with gzip.open(parts[0], "rt") as fh:  # a real gzip archive
        assert fh.readline().strip() == "n,text"
    assert [int(r[0]) for r in _rows_of(path)] == list(range(1000))
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob("tx_metrics.0*.csv"))


def test_hourly_rotation_and_short_run(tmp_path: Path) -> None:
    clock = FakeClock()
    path = tmp_path / "iot_metrics.csv"
    out = CsvFile(path, ("n", "text"), clock=clock, rotation=Rotation(3600, 0, 0))
    for n in range(10):
        clock.now = n * 600.0  # ten minutes apart: a new part after each hour
        out.write([n, "a"])
        out.flush()
    out.close()
    assert out.parts == 1 and [p.name for p in csv_parts(path)] == [
        "iot_metrics.0001.csv.gz", "iot_metrics.csv"]  # fmt: skip
    assert [int(r[0]) for r in _rows_of(path)] == list(range(10))
    short = CsvFile(tmp_path / "short.csv", ("n", "text"), rotation=Rotation())
    short.write([1, "b"])
    short.flush()
    short.close()
    assert [p.name for p in tmp_path.glob("short*")] == ["short.csv"]  # one file, no parts


def test_keep_parts_deletes_the_oldest(tmp_path: Path) -> None:
    path = tmp_path / "tx_metrics.csv"
    out = CsvFile(path, ("n", "text"), rotation=Rotation(0, 1, keep_parts=2))
    for n in range(6):
        out.write([n, "c"])
        out.flush()  # every flush is past 1 byte: a part per row
    out.close()
    names = [p.name for p in csv_parts(path)]
    assert names == ["tx_metrics.0005.csv.gz", "tx_metrics.0006.csv.gz", "tx_metrics.csv"]
    assert [int(r[0]) for r in _rows_of(path)] == [4, 5]  # the current file holds only a header


def _tx(n: int) -> TxEvent:
    return TxEvent(workload="payment_app", module="payment_app",
                   outcome=Outcome.SUCCESS if n % 10 else Outcome.REVERTED, tx_hash=f"0x{n:064x}",
                   intended_at=1000.0 + n, sent_at=1000.1 + n, finished_at=1000.5 + n,
                   block_number=n, gas_used=21000, sender="0x" + "11" * 20, nonce=n)  # fmt: skip


def test_report_reads_rotated_parts(tmp_path: Path) -> None:
    sink = TxCsvSink(tmp_path, rotation=Rotation(0, 3000, 0))
    hub = StatsHub()
    hub.add_sink(sink)
    for n in range(300):
        hub.emit(_tx(n))
        if n % 20 == 19:
            hub.flush()
    hub.close()
    assert sink.csv.parts >= 3
    data = load_run(tmp_path)
    totals = data.tx["payment_app"]
    assert sum(totals.outcomes.values()) == 300 and totals.outcomes["reverted"] == 30
    assert totals.gas_used == 300 * 21000
    done = subprocess.run([sys.executable, str(ROOT / "main.py"), "report", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "report.html").stat().st_size > 0


def _device_stats(run_dir: Path, rotation: Rotation | None) -> list[dict[str, str]]:
    clock = FakeClock()
    sink = DeviceStatsSink(run_dir, every=60.0, clock=clock, rotation=rotation)
    hub = StatsHub()
    hub.add_sink(sink)
    for minute in range(40):
        clock.now = minute * 60.0
        for device in range(5):
            hub.emit(IotEvent(clock.now, f"dev-{device}", "temp", "submit", "total",
                              device != 4 or minute % 2 == 0, 0.01))
        hub.flush()
    hub.close()
    rows: list[dict[str, str]] = []
    for part in csv_parts(run_dir / "device_stats.csv"):
        with open_part(part) as fh:
            rows += list(csv.DictReader(fh))
    return rows


def test_device_stats_rotate_and_keep_every_snapshot(tmp_path: Path) -> None:
    """device_stats.csv grows a row per changed device per snapshot: a run without an end
    rotates it like the per-operation files, and the rotated parts keep every row."""
    rotated = _device_stats(tmp_path / "rotated", Rotation(0, 2000, 0))
    parts = csv_parts(tmp_path / "rotated" / "device_stats.csv")
    assert len(parts) >= 3 and parts[0].name == "device_stats.0001.csv.gz"
    assert rotated == _device_stats(tmp_path / "single", None)  # the same rows, in order
    assert len(rotated) >= 39 * 5
    last = {row["device_id"]: row for row in rotated}
    assert int(last["dev-0"]["total_submissions"]) == 40
    assert int(last["dev-4"]["failed_submissions"]) == 20
