"""The lines under a run's final table (utils/run/finish.py extra_lines)."""

from __future__ import annotations

from typing import Any

from utils.run.finish import Ending, extra_lines


def test_the_iot_contract_line_groups_its_gas_digits() -> None:
    """'gas per record 5111659' beside the dApp line's '1,720,936': digits grouped alike."""
    extra: dict[str, Any] = {"generator": {"generator_bound": False, "reasons": []},
                             "contract": {"flavour": "stylus", "address": "0xabc"},
                             "iot": {"gas_per_record": 5111659}}
    lines = extra_lines(None, Ending(), extra)  # type: ignore[arg-type]  # base: unused here
    assert "IoT contract: stylus at 0xabc; gas per record 5,111,659" in lines
    extra["iot"]["gas_per_record"] = None  # no record committed
    assert "IoT contract: stylus at 0xabc; gas per record n/a" in extra_lines(
        None, Ending(), extra)  # type: ignore[arg-type]
