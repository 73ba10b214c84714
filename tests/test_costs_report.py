"""The report's cost section (issue 12.1/12.5): per workload L2/L1 gas and fees, per IoT record."""

from __future__ import annotations

from utils.report.costs_html import costs_section


def summary(mode: str) -> dict:
    costs = {"operations": 4, "l2_gas": 400_000, "l1_gas": 36_000, "fee_wei": 4 * 10**15,
             "fee_eth": 0.004, "l2_gas_per_op": 100_000.0, "l1_gas_per_op": 9_000.0,
             "fee_wei_per_op": 10**15}
    idle = {**costs, "operations": 0}
    return {"kpis": {"workloads": {"data_pipeline": {"costs": costs},
                                   "payment_app": {"costs": idle}}},
            "iot": {"commit_mode": mode, "costs_per_record": {
                "records": 1024, "l2_gas": 390.6, "l1_gas": 35.2, "fee_wei": 3_906_250_000_000}}}


def test_costs_section_shows_both_dimensions_and_the_batch_mode() -> None:
    text = costs_section(summary("batch"))
    assert "<td>data_pipeline</td><td>4</td><td>400,000</td><td>36,000</td><td>0.004000</td>" \
        in text
    assert "payment_app" not in text  # a workload without transactions has no row
    assert "<b>batch</b> mode" in text and "1,024 records" in text
    assert "L2 gas <b>391</b>" in text and "fee <b>3,906.2</b> gwei" in text
    assert "<b>record</b> mode" in costs_section(summary("record"))
    assert "No costs recorded" in costs_section({})
