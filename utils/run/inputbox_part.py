"""summary.json's ``iot.inputbox`` block of a run in inputbox mode (``--iot-commit
inputbox``): where the inputs went and the application's figures (one place:
:class:`utils.observe.input_stats.InputStats`)."""

from __future__ import annotations

from typing import Any

from lcore_node.inputbox_host import CartesiSide
from utils.observe.aggregate import RunAggregate

__all__ = ["inputbox_line", "inputbox_summary"]


def inputbox_summary(aggregate: RunAggregate, cartesi: CartesiSide | None) -> dict[str, Any] | None:
    if cartesi is None:
        return None
    return {"address": cartesi.reader.chain.inputbox, "app": cartesi.reader.chain.app,
            "application_caught_up": cartesi.caught_up, "app_db": str(cartesi.app.db_path),
            **aggregate.inputs.summary()}


def inputbox_line(extra: dict[str, Any]) -> str | None:
    """The final table's IoT line in inputbox mode (None in the other modes)."""
    iot = extra.get("iot") or {}
    box = iot.get("inputbox")
    if not isinstance(box, dict):
        return None
    gas = iot.get("gas_per_record")
    lag, e2e = box["input_lag_s"], box["end_to_end_s"]
    return (f"IoT records to Cartesi's InputBox {box['address']} (application {box['app']}): "
            f"{box['inputs']} inputs, {box['records']} records kept, {box['rejected']} refused;"
            f" input lag p50 {lag['p50']:.2f} s, end to end p50 {e2e['p50']:.2f} s; gas per "
            f"record {gas if gas is not None else 'n/a'}")
