"""The report's IoT section shows summary.json's ``iot.inputbox`` figures (issue 24.3/24.6)."""

from __future__ import annotations

from lcore_node.inputbox_heads import HeadTimes
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


def test_a_block_is_first_seen_when_any_head_at_or_above_it_was() -> None:
    heads = HeadTimes(keep=8)
    for head, at in ((5, 1.0), (7, 2.0), (7, 2.5), (9, 3.0)):
        heads.saw(head, at)
    assert [heads.first_seen(b) for b in (3, 5, 6, 9, 10)] == [1.0, 1.0, 2.0, 3.0, None]
    heads.saw(8, 1.5)  # the other source saw head 8 earlier
    assert [heads.first_seen(b) for b in (5, 6, 8, 9)] == [1.0, 1.5, 1.5, 3.0]
    for head in range(20, 40):
        heads.saw(head, float(head))
    assert heads.first_seen(33) == 33.0 and heads.first_seen(30) is None  # beyond the bound
    assert len(heads._heads) == 8
