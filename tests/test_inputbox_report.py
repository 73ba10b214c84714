"""The report's IoT section shows summary.json's ``iot.inputbox`` figures (issue 24.3/24.6)."""

from __future__ import annotations

from utils.observe.events import InputEvent
from utils.observe.input_stats import InputStats
from utils.report.costs_html import _iot_note
from utils.report.inputbox_html import inputbox_note


def test_the_iot_section_reads_the_inputbox_figures() -> None:
    stats = InputStats()
    for index, lag in enumerate((0.1, 0.3, 0.2)):
        stats.on_input(InputEvent(0.0, index, 10 + index, 2, 1 if index == 2 else 0, lag,
                                  (0.5 + index, 0.7 + index)))
    summary = {"iot": {"commit_mode": "inputbox",
                       "costs_per_record": {"records": 6, "l2_gas": 9000.0, "l1_gas": 700.0,
                                            "fee_wei": 2 * 10**12},
                       "inputbox": {"address": "0xBox", "app": "0xApp",
                                    "application_caught_up": False, **stats.summary()}}}
    note = inputbox_note(summary)
    assert "3 inputs processed, 6 records kept, 1 refused" in note
    lag, e2e = stats.input_lag.percentile(0.5), stats.end_to_end.percentile(0.5)
    assert f"p50 <b>{lag:.3f}</b> s" in note and f"p50 <b>{e2e:.3f}</b> s" in note
    assert "had not processed every input" in note
    assert "InputBox.addInput" in _iot_note(summary)
    assert inputbox_note({"iot": {"commit_mode": "record"}}) == ""
