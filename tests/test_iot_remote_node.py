"""A benchmark run sending IoT data to a remote lcore node (LCORE_NODE_URL), both real processes.

``python -m lcore_node serve --port 0`` starts its own embedded chain, deploys
MVPIoTProcessor and serves the HTTP API; ``python main.py`` (with its own chain
for the engine) drives registrations and submissions through the HTTP client.
Every submission the run reports successful must be a record of the node, and
every record must end committed on the node's chain.
"""

from __future__ import annotations

import csv
import json
import os
import selectors
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, clean_env, main_cmd

READY_TIMEOUT = 45.0
RUN_TIMEOUT = 60.0
DEVICES = 6


@dataclass
class RemoteNode:
    process: subprocess.Popen[bytes]
    url: str
    db: Path

    def status(self) -> dict[str, Any]:
        with urllib.request.urlopen(self.url + "/status", timeout=5) as resp:
            body: dict[str, Any] = json.load(resp)
        return body


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM (the node drains and stops its chain), SIGKILL if it lingers."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if process.stdout is not None:
        process.stdout.close()


def _await_url(process: subprocess.Popen[bytes], log: Path) -> str:
    """The URL from the node's 'lcore node listening on URL (db ...)' line."""
    assert process.stdout is not None
    deadline, buffer = time.monotonic() + READY_TIMEOUT, b""
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while b"\n" not in buffer:
            if time.monotonic() > deadline or process.poll() is not None:
                raise AssertionError(f"node not ready (code {process.poll()}):\n"
                                     f"{log.read_text()[-3000:]}")
            if selector.select(0.2):
                buffer += os.read(process.stdout.fileno(), 4096)
    line = buffer.split(b"\n", 1)[0].decode()
    assert line.startswith("lcore node listening on http://127.0.0.1:"), line
    return line.split()[4]


@pytest.fixture
def remote_node(tmp_path: Path) -> Iterator[RemoteNode]:
    db, log = tmp_path / "node" / "lcore.db", tmp_path / "node.log"
    db.parent.mkdir()
    with open(log, "wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "lcore_node", "serve", "--port", "0", "--db", str(db),
             "--key-dir", str(tmp_path / "node" / "keys")],
            cwd=REPO, stdout=subprocess.PIPE, stderr=stderr, env=clean_env(),
        )
    try:
        yield RemoteNode(process, _await_url(process, log), db)
    finally:
        _stop(process)


def _wait_all_committed(node: RemoteNode, within: float) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while True:
        status = node.status()
        if status["records"] and status["committed"] == status["records"]:
            return status
        if time.monotonic() > deadline:
            raise AssertionError(f"records not all committed: {status}")
        time.sleep(0.2)


def test_run_submits_through_a_remote_node_that_commits_everything(
    remote_node: RemoteNode, tmp_path: Path
) -> None:
    out = tmp_path / "runs"
    run = subprocess.run(
        main_cmd("--duration", "8", "--rate", "iot=3", "--rate", "iot_registration=5",
                 "--rate", "payment=0", "--rate", "merchant=0", "--rate", "lending=0",
                 "--out", str(out), "--port", "0", "--seed", "42"),
        cwd=REPO, capture_output=True, text=True, timeout=RUN_TIMEOUT,
        env=clean_env(LCORE_NODE_URL=remote_node.url, IOT_DEVICE_COUNT=str(DEVICES)),
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    status = _wait_all_committed(remote_node, 30)
    assert status["devices"] == DEVICES and status["failed"] == 0
    # the run's own view: every success it counted is a node record
    with open(out / "latest" / "iot_metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    ok = Counter(r["operation"] for r in rows if r["success"] == "True")
    assert ok["registration"] == DEVICES  # one row per operation, the original's names
    assert ok["data_submission"] == status["records"] >= 10
    assert {r["pipeline_stage"] for r in rows} == {"lcore_api", "complete_pipeline"}
    assert not [r for r in rows if r["success"] != "True"]
    assert all(r["device_type"] == r["device_id"].split("-")[0] for r in rows)
    _stop(remote_node.process)
    conn = sqlite3.connect(remote_node.db)
    try:
        stored = conn.execute("SELECT commit_status, transaction_hash, block_number, device_id"
                              " FROM data_submissions").fetchall()
    finally:
        conn.close()
    assert len(stored) == status["records"]
    for commit_status, tx_hash, block, device_id in stored:
        assert commit_status == "committed" and block is not None and block > 0
        assert tx_hash.startswith("0x") and len(tx_hash) == 66
        assert device_id.split("-")[0] in {"ev_sensor", "greenhouse", "pos_terminal"}
