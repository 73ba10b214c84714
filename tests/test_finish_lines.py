"""The lines under a run's final table (utils/run/finish.py extra_lines)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from tests.conftest import clean_env, main_cmd
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


def test_a_batch_run_says_its_data_pipeline_row_counts_batches(tmp_path: Path) -> None:
    """The final table's data_pipeline row counts commitBatch transactions against a target
    in records/s: the line under it says so and gives the records committed."""
    proc = subprocess.run(
        main_cmd("--duration", "6", "--port", "0", "--out", str(tmp_path), "--seed", "5",
                 "--iot-commit", "batch", "--iot-batch-wait", "1", "--dapp", "transfers",
                 "--rate", "payment=0", "--rate", "merchant=0", "--rate", "lending=0",
                 "--rate", "data_pipeline=10"),
        capture_output=True, text=True, env=clean_env(), timeout=180)
    assert proc.returncode in (0, 1), proc.stderr[-2000:]
    summary = json.loads((tmp_path / "latest" / "summary.json").read_text())
    committed = summary["iot"]["records_committed"]
    assert committed > 0
    assert f"records committed {committed:,} (" in proc.stdout, proc.stdout[-3000:]
