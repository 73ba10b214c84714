"""A lost chain ends the run cleanly: the embedded chain is SIGKILLed mid-run; the run stops
firing after the grace, writes its outputs with the reason "chain unavailable", exits 1, and
keeps every accepted IoT record in its database (committed or still pending)."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
from pathlib import Path

from tests.conftest import clean_env, main_cmd
from tests.test_run_lifecycle import pid_alive, wait_for

GRACE = 4


def committed(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            (n,) = conn.execute(
                "SELECT COUNT(*) FROM data_submissions WHERE commit_status = 'committed'"
            ).fetchone()
    except sqlite3.OperationalError:  # the node is still creating its schema
        return 0
    return int(n)


def test_killed_chain_ends_the_run_as_chain_unavailable(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        main_cmd("--duration", "90", "--port", "0", "--out", str(tmp_path), "--dapp",
                 "transfers", "--rate", "payment=10", "--rate", "registration=5",
                 "--rate", "iot=5", "--chain-grace", str(GRACE), "--seed", "9"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean_env(),
    )
    try:
        run_dir = tmp_path / "latest"
        assert wait_for(lambda: committed(run_dir / "lcore.db") >= 5, 90)
        log = (run_dir / "run.log").read_text()
        chain_pid = int(re.search(r"embedded chain \d+ \(pid (\d+)\)", log).group(1))  # type: ignore[union-attr]
        os.kill(chain_pid, signal.SIGKILL)
        stdout, stderr = proc.communicate(timeout=GRACE + 60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 1, stderr[-3000:]
    assert "Traceback" not in stderr, stderr[stderr.find("Traceback") - 2000:][:5000]
    assert "chain unavailable" in stdout and "results in" in stdout
    assert "payment_app" in stdout  # the final table
    run_dir = run_dir.resolve()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["exit_reason"].startswith("targets NOT met: chain unavailable (no answer")
    assert summary["verdict"]["conditions"][0]["reason"] == "chain unavailable"
    assert summary["duration_sec"] < 90  # the load ended at the loss, not after its 90 s
    assert (run_dir / "report.html").exists()
    assert (run_dir / "run.log").read_text().count("chain unavailable: no answer for") == 1
    assert not pid_alive(chain_pid)
    with sqlite3.connect(run_dir / "lcore.db") as conn:
        statuses = dict(conn.execute(
            "SELECT commit_status, COUNT(*) FROM data_submissions GROUP BY commit_status"
        ).fetchall())
    accepted = sum(1 for ln in (run_dir / "iot_metrics.csv").read_text().splitlines()
                   if "data_submission" in ln and ",True," in ln)
    assert statuses.get("failed", 0) == 0
    assert sum(statuses.values()) == accepted  # nothing accepted was lost
    assert statuses.get("committed", 0) >= 5
