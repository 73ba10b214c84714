"""A corrected outcome (a receipt after a timeout) reaches the report as it reached the run's
aggregate and summary.json: the report applies tx_corrections.csv to tx_metrics.csv."""

from __future__ import annotations

from pathlib import Path

from utils.observe.aggregate import RunAggregate
from utils.observe.csv_sinks import TxCsvSink
from utils.observe.events import Outcome, TxCorrectionEvent, TxEvent
from utils.observe.stats import StatsHub
from utils.report.data import load_run, tx_table

T0 = 1_700_000_000.0


def test_the_report_counts_a_corrected_timeout_as_the_success_it_was(tmp_path: Path) -> None:
    hub, aggregate = StatsHub(), RunAggregate({"payment_app": 1.0}, clock=T0)
    hub.listen(aggregate)
    hub.add_sink(TxCsvSink(tmp_path))
    hashes = [f"0x{i:064x}" for i in range(3)]
    for i, tx_hash in enumerate(hashes):
        hub.emit(TxEvent("payment_app", "payment_app", Outcome.TIMEOUT, tx_hash, T0 + i,
                         T0 + i, T0 + i + 60, None, 0, "0x" + "11" * 20, i))
    hub.emit(TxCorrectionEvent(T0 + 70, "payment_app", "payment", hashes[1], "0x" + "11" * 20,
                               1, "timeout", "success", None, 9, 0, 21_000, reason="late receipt"))
    hub.close()
    (row,) = tx_table(load_run(tmp_path))
    wl = aggregate.workloads["payment_app"]
    assert (row["success"], row["timeout"]) == (wl.successes, wl.outcomes[Outcome.TIMEOUT])
    assert (row["success"], row["timeout"], row["gas_used"]) == (1, 2, 21_000) == \
        (wl.successes, wl.outcomes[Outcome.TIMEOUT], wl.gas_used)
