"""The report's Milestone 2 lines (``--iot-commit inputbox``): where the inputs went and what
the Cartesi application measured, from summary.json's ``iot.inputbox`` (figures computed once,
in :mod:`utils.observe.input_stats`)."""

from __future__ import annotations

import html
from typing import Any

__all__ = ["inputbox_note"]


def _p(figures: dict[str, Any]) -> str:
    if not figures.get("count"):
        return "n/a"
    return (f"p50 <b>{figures['p50']:.3f}</b> s, p95 <b>{figures['p95']:.3f}</b> s, "
            f"p99 {figures['p99']:.3f} s")


def inputbox_note(summary: dict[str, Any]) -> str:
    box = (summary.get("iot") or {}).get("inputbox")
    if not isinstance(box, dict):
        return ""
    caught = "" if box.get("application_caught_up") else (
        ' <span class="missed">The application had not processed every input at the end.'
        "</span>")
    return (f'<p class="note">Cartesi InputBox {html.escape(str(box.get("address")))}, '
            f'application {html.escape(str(box.get("app")))}: {box.get("inputs", 0):,} inputs '
            f'processed, {box.get("records", 0):,} records kept, {box.get("rejected", 0):,} '
            f"refused. Input lag (the block of addInput first seen to processed): "
            f'{_p(box.get("input_lag_s") or {})}; end to end (submission accepted to '
            f'processed): {_p(box.get("end_to_end_s") or {})}.{caught}</p>')
