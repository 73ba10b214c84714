"""The report's finality section (summary.json's ``finality`` block) and its L1 note."""

from __future__ import annotations

import html
from typing import Any

__all__ = ["finality_section"]

EXPLAIN = ("A receipt is the sequencer's soft confirmation; the transaction is final on the "
           "parent chain once the batch holding its block is posted there (NodeInterface "
           "<code>findBatchContainingBlock</code> answers) and has N confirmations "
           "(<code>getL1Confirmations</code>). Seconds from each sampled transaction's "
           "intended send time, as its latency; a stage is seen at the poll that finds it "
           "(every {poll:g} s), so it reads up to that much late. Per transaction: "
           "finality.csv.")


def _cell(value: Any) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def finality_section(summary: dict[str, Any], plot: str = "") -> str:
    block = summary.get("finality")
    head = "<h2>Finality stages</h2>"
    if not isinstance(block, dict):
        return head + '<p class="note">Not measured by this run.</p>'
    if "skipped" in block:
        return head + f'<p class="note">Skipped: {html.escape(str(block["skipped"]))}.</p>'
    rows = "".join(
        f"<tr><td>{html.escape(stage)}</td><td>{s['count']:,}</td><td>{s['pending']:,}</td>"
        f"<td>{_cell(s['p50_sec'])}</td><td>{_cell(s['p95_sec'])}</td>"
        f"<td>{_cell(s['p99_sec'])}</td><td>{_cell(s['max_sec'])}</td></tr>"
        for stage, s in block.get("stages", {}).items())
    note = (f'<p class="note">{block.get("sampled", 0):,} transactions sampled (share '
            f'{block.get("sample", 0):g}); L1 confirmed = {block.get("confirmations")} '
            f"parent-chain confirmation(s). {EXPLAIN.format(poll=block.get('poll_sec', 0))}"
            "</p>")
    table = ("<table><tr><th>stage</th><th>reached</th><th>pending at end</th><th>p50 s</th>"
             f"<th>p95 s</th><th>p99 s</th><th>max s</th></tr>{rows}</table>")
    return head + note + table + plot
