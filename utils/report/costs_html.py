"""The report's cost section: L2 gas, L1 gas and fees per workload and per IoT record.

Read from ``summary.json`` (``kpis.workloads.*.costs`` and ``iot.costs_per_record``); L1 gas
is Nitro's ``gasUsedForL1`` (0 on chains without it), fees are gasUsed x effectiveGasPrice.
When the run committed IoT records in Merkle batches, the section says so and gives the
cost per record, not per transaction.
"""

from __future__ import annotations

import html
from typing import Any

__all__ = ["costs_section"]


def _n(value: Any, digits: int = 0) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def _workload_rows(summary: dict[str, Any]) -> list[list[str]]:
    workloads = ((summary.get("kpis") or {}).get("workloads") or {})
    rows = []
    for name, kpis in workloads.items():
        costs = kpis.get("costs") or {}
        if not costs.get("operations"):
            continue
        rows.append([name, _n(costs["operations"]), _n(costs["l2_gas"]), _n(costs["l1_gas"]),
                     f"{costs['fee_eth']:.6f}", _n(costs["l2_gas_per_op"]),
                     _n(costs["l1_gas_per_op"]), _n(costs["fee_wei_per_op"] / 1e9, 1)])
    return rows


def _iot_note(summary: dict[str, Any]) -> str:
    iot = summary.get("iot") or {}
    per = iot.get("costs_per_record")
    if not per:
        return ""
    mode = iot.get("commit_mode", "record")
    how = {"batch": "one commitBatch (a Merkle root) per batch of records; each record keeps "
           "its leaf index and proof, and verify checks ciphertext hash, leaf, proof and root "
           "on chain",
           "inputbox": "one Cartesi InputBox.addInput per input of one or more records, read "
           "back by the application; verify checks getInputHash(app, index)"}.get(
               mode, "one submitResult per record")
    return (f'<p class="note">IoT commitment: <b>{html.escape(mode)}</b> mode ({how}). Per '
            f"committed record ({per['records']:,} records): L2 gas <b>{_n(per['l2_gas'])}</b>, "
            f"L1 gas <b>{_n(per['l1_gas'])}</b>, fee <b>{_n(per['fee_wei'] / 1e9, 1)}</b> "
            "gwei.</p>")


def _l1_note(summary: dict[str, Any]) -> str:
    """Where the L1 gas comes from (summary.json's ``l1_data_cost``); said loudly when the
    run did not model it."""
    l1 = summary.get("l1_data_cost")
    if not isinstance(l1, dict):
        return ""
    source = html.escape(str(l1.get("source", "")))
    if not l1.get("modelled"):
        return (f'<p class="missed">{html.escape(str(l1.get("note", "")))} ({source}): the '
                "L1 gas below is 0, not the cost of these operations on an Arbitrum chain.</p>")
    price = (f", L1 base fee estimate {l1['l1_base_fee_gwei']:g} gwei per unit at the start"
             if "l1_base_fee_gwei" in l1 else "")
    read = [f"{l1[k]:.4g} gwei at the load's {w}" for k, w in
            (("l1_price_gwei_start", "start"), ("l1_price_gwei_end", "end")) if k in l1]
    if read:  # what ArbGasInfo answered: Nitro's pricer moves it at each batch
        price = f"; L1 price per unit (ArbGasInfo.getL1BaseFeeEstimate) {', '.join(read)}"
    return f'<p class="note">L1 data cost: from {source}{html.escape(price)}.</p>'


def costs_section(summary: dict[str, Any]) -> str:
    rows = _workload_rows(summary)
    if not rows:
        return '<h2>Costs</h2><p class="note">No costs recorded (no summary.json).</p>'
    header = ["workload", "tx", "L2 gas", "L1 gas", "fee ETH", "L2 gas/op", "L1 gas/op",
              "fee/op gwei"]
    head = "".join(f"<th>{h}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>"
                   for r in rows)
    return (f"<h2>Costs</h2>{_l1_note(summary)}<p class=\"note\">From each receipt: L2 "
            f"gas = gasUsed - "
            f"gasUsedForL1 (Nitro's L1 data charge, 0 on other chains), fee = gasUsed x "
            f"effectiveGasPrice; per operation = per transaction with a receipt.</p>"
            f"<table><tr>{head}</tr>{body}</table>{_iot_note(summary)}")
