"""summary.json's ``iot.inputbox`` block of a run in inputbox mode (``--iot-commit
inputbox``): where the inputs went and the application's figures (one place:
:class:`utils.observe.input_stats.InputStats`)."""

from __future__ import annotations

from typing import Any

from lcore_node.inputbox_host import CartesiSide
from utils.observe.aggregate import RunAggregate

__all__ = ["inputbox_summary"]


def inputbox_summary(aggregate: RunAggregate, cartesi: CartesiSide | None) -> dict[str, Any] | None:
    if cartesi is None:
        return None
    return {"address": cartesi.reader.chain.inputbox, "app": cartesi.reader.chain.app,
            "application_caught_up": cartesi.caught_up, "app_db": str(cartesi.app.db_path),
            **aggregate.inputs.summary()}
