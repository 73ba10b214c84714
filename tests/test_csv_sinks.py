"""CSV sinks write real files: header at open, rows, time-based flush, close."""

from __future__ import annotations

import asyncio
import csv
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path

import pytest

from tests.test_metrics import iot_operation, sample_events, tx
from utils.observe.csv_sinks import (
    IOT_COLUMNS,
    TX_COLUMNS,
    CsvFile,
    DeviceStatsSink,
    IotCsvSink,
    TxCsvSink,
    flush_periodically,
)
from utils.observe.events import Event, FiringEvent, IotEvent, Outcome, TxSentEvent
from utils.observe.kpi_intervals import KPI_COLUMNS, KpiIntervalSink
from utils.observe.stats import Sink, StatsHub

T0 = 1_700_000_000.0


class FakeClock:
    """A settable clock: the sinks take their time source as a constructor argument."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def feeder(sink: Sink) -> Callable[[Iterable[Event]], None]:
    """The run's path into ``sink``: a hub it is added to; each call emits events and
    hands the hub's tally on (its own flush stays the test's to call)."""
    hub = StatsHub()
    hub.add_sink(sink)

    def feed(events: Iterable[Event]) -> None:
        for event in events:
            hub.emit(event)
        hub.flush_tally()

    return feed


def read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def header(path: Path) -> list[str]:
    return path.read_text().splitlines()[0].split(",")


def test_tx_csv_columns_and_rows(tmp_path: Path) -> None:
    sink = TxCsvSink(tmp_path)
    feed = feeder(sink)
    assert header(tmp_path / "tx_metrics.csv") == list(TX_COLUMNS)  # header at open
    assert TX_COLUMNS[:7] == ("timestamp", "module", "tx_hash", "status", "gas_used",
                              "latency_sec", "error")  # fmt: skip
    feed([tx("payment_app", Outcome.SUCCESS, T0, 0.25, operation="payment")])
    feed([tx("merchant_app", Outcome.REJECTED, T0, 0.01, error="nonce too low,\nretry")])
    feed([FiringEvent("payment_app", T0, T0)])  # not a row
    sink.close()
    sink.close()  # idempotent
    ok, rejected = read(tmp_path / "tx_metrics.csv")
    assert ok["timestamp"] == "2023-11-14T22:13:20.250Z"
    assert datetime.fromisoformat(ok["timestamp"]).timestamp() == pytest.approx(T0 + 0.25)
    assert (ok["module"], ok["status"], ok["gas_used"]) == ("payment_app", "success", "21000")
    assert float(ok["latency_sec"]) == pytest.approx(0.25)
    assert ok["intended_at"] == f"{T0:.3f}" and ok["sent_at"] == f"{T0 + 0.005:.3f}"
    assert ok["included_at"] == f"{T0 + 0.25:.3f}" and ok["block_number"] == "7"
    assert (ok["nonce"], ok["workload"], ok["operation"]) == ("3", "payment_app", "payment")
    assert ok["tx_hash"] == "0x" + "ab" * 32
    assert rejected["status"] == "rejected" and rejected["tx_hash"] == ""
    assert rejected["sent_at"] == rejected["included_at"] == rejected["block_number"] == ""
    assert rejected["error"] == "nonce too low, retry"  # one line, comma quoted


def test_iot_csv_one_row_per_operation_in_the_original_terms(tmp_path: Path) -> None:
    sink = IotCsvSink(tmp_path)
    feed = feeder(sink)
    feed(iot_operation(T0, "GH_0002", "submit", ok=False))
    feed(iot_operation(T0 + 1, "GH_0002", "register"))
    feed([IotEvent(T0 + 2, "GH_0003", "", "submit", "total", False, 0.04,
                error="unavailable")])  # a remote node refused: no stage reached
    sink.close()
    assert header(tmp_path / "iot_metrics.csv") == list(IOT_COLUMNS)
    assert IOT_COLUMNS[:10] == ("timestamp", "device_id", "device_type", "operation", "success",
                                "latency_sec", "pipeline_stage", "tx_hash", "error_details",
                                "data_size_bytes")  # the original's, in its order
    failed, registered, remote = read(tmp_path / "iot_metrics.csv")
    assert (failed["device_id"], failed["device_type"], failed["operation"]) == (
        "GH_0002", "ev_sensor", "data_submission")  # fmt: skip
    assert (failed["success"], failed["pipeline_stage"], failed["error_details"]) == (
        "False", "store", "store failed")  # fmt: skip
    assert float(failed["latency_sec"]) == pytest.approx(0.0023)
    assert float(failed["validate_sec"]) == pytest.approx(0.0001)
    assert float(failed["store_sec"]) == pytest.approx(0.002)
    assert failed["commit_sec"] == failed["commit_status"] == failed["record_id"] == ""
    assert (registered["operation"], registered["pipeline_stage"]) == ("registration",
                                                                       "lcore_api")
    assert (remote["pipeline_stage"], remote["validate_sec"]) == ("lcore_api", "")


def _submitted(t: float, record_id: int) -> list[IotEvent]:
    events = iot_operation(t, "EV_0001", "submit")
    total = events[-1]
    return [*events[:-1], IotEvent(total.timestamp, total.device_id, total.device_type,
                                   "submit", "total", True, total.latency, data_size=400,
                                   record_id=record_id, stages=total.stages)]


def test_iot_csv_joins_a_submission_with_its_commit(tmp_path: Path) -> None:
    clock = FakeClock(0.0)
    sink = IotCsvSink(tmp_path, hold=30.0, clock=clock)
    feed = feeder(sink)
    feed(_submitted(T0, 1) + _submitted(T0 + 1, 2) + _submitted(T0 + 2, 3))
    feed([IotEvent(T0 + 3, "EV_0001", "ev_sensor", "submit", "commit", True, 1.5,
                tx_hash="0x" + "cd" * 32, record_id=2)])
    feed([IotEvent(T0 + 3, "EV_0001", "ev_sensor", "submit", "commit", False, 2.5,
                error="reverted", record_id=3)])
    sink.flush()
    rows = read(tmp_path / "iot_metrics.csv")
    assert [(r["record_id"], r["commit_status"]) for r in rows] == [("2", "committed"),
                                                                   ("3", "failed")]
    assert rows[0]["tx_hash"] == "0x" + "cd" * 32 and float(rows[0]["commit_sec"]) == 1.5
    assert rows[0]["pipeline_stage"] == "complete_pipeline" and rows[0]["success"] == "True"
    assert rows[1]["error_details"] == "reverted"
    clock.now = 31.0  # record 1 was held longer than `hold`: written without its commit
    sink.flush()
    feed([IotEvent(T0 + 40, "EV_0001", "ev_sensor", "submit", "commit", True, 9.0,
                record_id=1)])  # too late for its row: no second row
    sink.close()
    rows = read(tmp_path / "iot_metrics.csv")
    assert [(r["record_id"], r["commit_status"], r["commit_sec"]) for r in rows][2:] == [
        ("1", "pending", "")]
    assert len(rows) == 3


def test_iot_csv_bounds_the_rows_it_holds(tmp_path: Path) -> None:
    sink = IotCsvSink(tmp_path, max_held=2)
    feed = feeder(sink)
    for record_id in range(5):
        feed(_submitted(T0 + record_id, record_id))
    sink.flush()
    assert [r["record_id"] for r in read(tmp_path / "iot_metrics.csv")] == ["0", "1", "2"]
    sink.close()
    assert len(read(tmp_path / "iot_metrics.csv")) == 5


def test_flush_is_time_based_and_explicit(tmp_path: Path) -> None:
    clock = FakeClock(100.0)
    path = tmp_path / "x.csv"
    f = CsvFile(path, ["a", "b"], flush_every=1.0, clock=clock)
    f.write([1, 2])
    assert path.read_text().splitlines() == ["a,b"]  # buffered: the last flush is < 1 s old
    clock.now = 101.0
    f.write([3, 4])  # >= 1 s since the last flush: this write flushes
    assert path.read_text().splitlines() == ["a,b", "1,2", "3,4"]
    f.write([5, 6])
    f.flush()
    assert path.read_text().splitlines()[-1] == "5,6"
    f.close()
    f.write([7, 8])  # dropped with a warning, no exception
    assert f.rows == 3 and path.read_text().count("\n") == 4


async def test_flush_periodically_flushes_the_hub(tmp_path: Path) -> None:
    hub = StatsHub()
    sink = TxCsvSink(tmp_path, flush_every=3600)  # never flushes on its own
    hub.add_sink(sink)
    hub.emit(tx("payment_app", Outcome.SUCCESS, T0, 0.1))
    task = asyncio.create_task(flush_periodically(hub, every=0.05))
    await asyncio.sleep(0.2)
    assert len(read(tmp_path / "tx_metrics.csv")) == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    hub.close()


def test_device_stats_snapshots(tmp_path: Path) -> None:
    clock = FakeClock(T0)
    sink = DeviceStatsSink(tmp_path, every=60, locations={"EV_0001": "Downtown"}, clock=clock)
    feed = feeder(sink)
    feed(iot_operation(T0, "EV_0001", "register"))
    feed(iot_operation(T0 + 5, "EV_0001", "submit")
         + iot_operation(T0 + 6, "EV_0001", "submit", ok=False))
    sink.flush()  # < 60 s: no snapshot yet
    assert read(tmp_path / "device_stats.csv") == []
    clock.now = T0 + 61
    sink.flush()
    (row,) = read(tmp_path / "device_stats.csv")
    assert row == {
        "timestamp": "2023-11-14T22:14:21.000Z", "device_id": "EV_0001",
        "device_type": "ev_sensor", "location": "Downtown", "is_registered": "True",
        "total_submissions": "2", "failed_submissions": "1", "success_rate": "0.500",
        "last_submission_timestamp": "2023-11-14T22:13:26.000Z",
    }  # fmt: skip
    feed(iot_operation(T0 + 70, "GH_0009", "submit"))
    sink.close()  # final rows for the devices changed since
    rows = read(tmp_path / "device_stats.csv")
    assert [r["device_id"] for r in rows] == ["EV_0001", "GH_0009"]
    assert rows[1]["is_registered"] == "False" and rows[1]["location"] == ""


def test_kpi_intervals_rows(tmp_path: Path) -> None:
    clock = FakeClock(T0)
    sink = KpiIntervalSink(tmp_path, interval=10, targets={"payment_app": 2.0}, clock=clock)
    feed = feeder(sink)
    feed(sample_events(T0))
    clock.now = T0 + 10.5
    sink.flush()  # closes [T0, T0+10)
    feed([FiringEvent("payment_app", T0 + 11, T0 + 11.5)])  # late
    feed([TxSentEvent("payment_app", T0 + 11.6)])
    clock.now = T0 + 34
    assert sink.tick() == 2  # [10, 20) and an empty [20, 30)
    clock.now = T0 + 36.5
    sink.close()  # partial [30, 36.5)
    assert header(tmp_path / "kpi_intervals.csv") == list(KPI_COLUMNS)
    rows = read(tmp_path / "kpi_intervals.csv")
    assert [(r["workload"], r["elapsed_sec"]) for r in rows] == [
        (w, e) for e in ("10.000", "20.000", "30.000", "36.500")
        for w in ("payment_app", "merchant_app")
    ]  # fmt: skip
    pay, merch = rows[0], rows[1]
    assert (pay["offered"], pay["successes"], pay["gas_used"]) == ("4", "4", "84000")
    assert float(pay["achieved_rate"]) == pytest.approx(0.4)
    assert float(pay["offered_rate"]) == pytest.approx(0.4)
    assert float(pay["target_rate"]) == 2.0
    assert 0.2 <= float(pay["latency_p50"]) <= 0.4 and float(pay["latency_max"]) == 0.5
    assert (merch["reverted"], merch["rejected"], merch["dropped"]) == ("1", "1", "0")
    assert (merch["late"], merch["missed"], merch["in_flight"]) == ("1", "2", "1")
    second = rows[2]
    assert (second["offered"], second["late"], second["in_flight"]) == ("1", "1", "1")
    assert second["interval_start"] == f"{T0 + 10:.3f}"
    last = rows[-2]
    assert last["interval_end"] == f"{T0 + 36.5:.3f}" and last["offered"] == "0"
