"""Two runs on one LCORE_DB_PATH with different seeds: the second drives IoT load too
(issue 20.6: it registered nothing, 'registered with another public key', 0 % IoT, exit 1).

Device ids carry a tag of the seed (``utils.iot.devices.fleet_tag``): the second run
registers a fleet of its own next to the first one's, on the same database and contract;
a third run with the first seed finds its devices again, with the same keys.
"""

from __future__ import annotations

import csv
import json
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import clean_env, main_cmd
from utils.devchain import DevChain
from utils.iot.devices import fleet_tag

pytestmark = pytest.mark.slow


def _run(devchain: DevChain, out: Path, db: Path, seed: int) -> tuple[int, Path, str]:
    env = clean_env(PRIVATE_KEY=devchain.funder_key.hex(), LCORE_DB_PATH=str(db),
                    LCORE_KEY_DIR=str(db.parent / "keys"), TARGET_DAILY_ENTRIES="0",
                    IOT_DEVICE_COUNT="3")
    proc = subprocess.run(
        main_cmd("--duration", "6", "--port", "0", "--out", str(out), "--seed", str(seed),
                 "--rpc-url", devchain.url, "--rate", "payment=1", "--rate", "merchant=0.5",
                 "--rate", "lending=0.5", "--rate", "iot=2", "--rate", "iot_registration=3"),
        capture_output=True, text=True, env=env, timeout=240,
    )
    return proc.returncode, (out / "latest").resolve(), proc.stdout + proc.stderr


def _iot_rows(run_dir: Path) -> list[dict[str, Any]]:
    with (run_dir / "iot_metrics.csv").open(newline="") as f:
        return list(csv.DictReader(f))


def _devices(db: Path) -> list[str]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return sorted(r[0] for r in conn.execute("SELECT id FROM devices"))
    finally:
        conn.close()


def test_a_second_seed_on_the_same_database_drives_iot(devchain: DevChain,
                                                      tmp_path: Path) -> None:
    db = tmp_path / "shared" / "lcore.db"
    runs = [_run(devchain, tmp_path / f"out{i}", db, seed) for i, seed in enumerate((1, 2, 1))]
    for code, run_dir, output in runs:
        assert code == 0, output[-3000:]
        assert "registered with another public key" not in output
        assert "registered with another public key" not in (run_dir / "run.log").read_text()
        summary = json.loads((run_dir / "summary.json").read_text())
        kpis = summary["kpis"]
        assert kpis["registrations"] >= 3 and kpis["successful_submissions"] > 0
        assert kpis["success_rate"] == 1.0 and kpis["on_chain_commitments"] > 0
        rows = _iot_rows(run_dir)
        assert rows and all(r["success"] == "True" for r in rows)
        assert summary["iot"]["verify"]["mismatch"] == 0
    # two fleets side by side; the third run (seed 1 again) found its own devices again
    tags = {fleet_tag(1), fleet_tag(2)}
    devices = _devices(db)
    assert len(devices) == 6 and {d.split("-")[1] for d in devices} == tags
    third = {r["device_id"] for r in _iot_rows(runs[2][1])}
    assert third and all(fleet_tag(1) in d for d in third)
