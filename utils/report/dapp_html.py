"""report.html's business sections: the dApp flavour, gas per operation, goodput and the books
check (summary.json's ``dapp``), and the gas per committed IoT record (summary.json's ``iot``)."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from utils.report.data import ReportData


def _e(value: object) -> str:
    return html.escape(str(value))


def table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


_COMMITS = {"record": "submitResult, a transaction per record",
            "batch": "commitBatch, a Merkle root per batch",
            "inputbox": "InputBox.addInput"}


def contract_note(data: ReportData) -> str:
    """Gas per committed IoT record (summary.json's, L2 + L1) and what the records went to."""
    iot = data.summary.get("iot") or {}
    per_record = iot.get("gas_per_record")
    if per_record is None:
        return ""
    mode = iot.get("commit_mode") or "record"
    costs = iot.get("costs_per_record") or {}
    split = (f" ({costs['l2_gas']:,.0f} L2 + {costs['l1_gas']:,.0f} L1)"
             if costs.get("l2_gas") is not None and costs.get("l1_gas") is not None else "")
    contract = data.summary.get("contract") or {}
    where = (f"; {_e(contract.get('flavour'))} contract at {_e(contract.get('address'))}"
             if contract and mode != "inputbox" else "")  # inputbox: named below
    return (f'<p class="note">Gas per committed IoT record '
            f"({_e(_COMMITS.get(mode, mode))}{where}): <b>{per_record:,.0f}</b>{split}</p>")


def dapp_section(data: ReportData) -> str:
    """The dApp flavour, gas per operation, goodput and the books check (summary.json)."""
    dapp = data.summary.get("dapp")
    if not dapp or dapp.get("flavour") == "transfers":
        flavour = "plain value transfers" if dapp else "not recorded"
        return f'<h2>Business operations</h2><p class="note">dApp flavour: {_e(flavour)}</p>'
    gas_rows = [[w, op, f"{s['count']:,}", f"{s['gas_per_op']:,}", f"{s['l2_gas_per_op']:,}",
                 f"{s['l1_gas_per_op']:,}"]
                for w, ops in (dapp.get("gas_per_operation") or {}).items()
                for op, s in ops.items()]
    good_rows = [[w, op, f"{s['count']:,}",
                  f"{s['per_second']:.2f}" if s["per_second"] is not None else "n/a",
                  f"{s['latency_p50_sec']:.3f}", f"{s['latency_p95_sec']:.3f}"]
                 for w, ops in (dapp.get("goodput") or {}).items() for op, s in ops.items()]
    books = dapp.get("books")
    if books is None:
        verdict = "not checked"
    elif books["balanced"]:
        verdict = "balanced"
    else:
        verdict = "; ".join(f"{d['book']}: {d['what']}: expected {d['expected']}, chain "
                            f"{d['actual']}" for d in books["discrepancies"])
    return f"""<h2>Business operations</h2>
<p class="note">dApp flavour: <b>{_e(dapp["flavour"])}</b> (token {_e(dapp.get("token"))},
router {_e(dapp.get("router"))}, pool {_e(dapp.get("pool"))}); books: <b>{_e(verdict)}</b></p>
{table(["workload", "operation", "completed", "per s", "p50 s", "p95 s"], good_rows)}
<p class="note">Gas per operation (successful transactions):</p>
{table(["workload", "operation", "tx", "gas/op", "L2 gas/op", "L1 gas/op"], gas_rows)}"""
