"""kill -9 in inputbox mode (issue 24.1) loses no record and sends no input twice.

As tests/test_db_binding.py does for per-record commits: a run with ``--iot-commit
inputbox`` is killed with SIGKILL while records are on their way to the InputBox; a second
run on the same database (LCORE_DB_PATH) adds its inputs to the same InputBox and
application (recorded in the database) and finishes the first run's records. Then: every
record is committed, every input's payload is on chain exactly once (none lost, none sent
twice), the application processed each input once, and ``main.py verify`` passes, the
application's database included.
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import subprocess
from collections import Counter
from pathlib import Path

from lcore_node.inputbox_binding import read_inputbox
from lcore_node.inputbox_chain import InputBoxReader
from tests.conftest import clean_env, main_cmd
from tests.test_run_chain_loss import committed
from tests.test_run_lifecycle import wait_for
from utils.chain.rpc import Rpc, hex_int
from utils.devchain import DevChain

RUN = ("--port", "0", "--dapp", "transfers", "--rate", "payment=0", "--rate", "merchant=0",
       "--rate", "lending=0", "--rate", "registration=5", "--iot-commit", "inputbox",
       "--inputbox-batch", "3", "--iot-batch-wait", "0.3", "--seed", "5")


def rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return conn.execute(sql).fetchall()


async def chain_payloads(url: str, db: Path) -> Counter[bytes]:
    recorded = read_inputbox(db)
    assert recorded is not None
    async with Rpc(url) as rpc:
        reader = InputBoxReader(rpc, *recorded)
        head = hex_int(await rpc.call("eth_blockNumber"))
        return Counter(item.advance.payload for item in await reader.logs(recorded[2], head))


def test_kill_9_loses_nothing_and_sends_nothing_twice(
    tmp_path: Path, devchain: DevChain
) -> None:
    db = tmp_path / "node" / "lcore.db"
    env = clean_env(PRIVATE_KEY=devchain.funder_key.hex(), LCORE_DB_PATH=str(db),
                    LCORE_KEY_DIR=str(tmp_path / "keys"))
    first = subprocess.Popen(
        main_cmd("--duration", "120", "--out", str(tmp_path / "run1"), "--rpc-url",
                 devchain.url, "--rate", "iot=20", *RUN),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        assert wait_for(lambda: committed(db) >= 15, 90)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    left = dict(rows(db, "SELECT commit_status, COUNT(*) FROM data_submissions"
                         " GROUP BY commit_status"))
    assert left.get("pending", 0) + left.get("submitted", 0) > 0, left  # work for run 2
    second = subprocess.run(
        main_cmd("--duration", "3", "--out", str(tmp_path / "run2"), "--rpc-url",
                 devchain.url, "--rate", "iot=2", *RUN),
        capture_output=True, text=True, timeout=180, env=env)
    assert second.returncode in (0, 1), second.stderr[-3000:]
    assert "IoT records to Cartesi's InputBox" in second.stdout  # the final table's line
    # the first run's records go out once the committers are funded, never from empty
    # wallets ("Insufficient funds" rejections failed the second run's targets)
    metrics = (tmp_path / "run2" / "latest" / "tx_metrics.csv").read_text()
    refused = [line for line in metrics.splitlines() if ",rejected," in line]
    assert refused == [], refused[:3]
    statuses = dict(rows(db, "SELECT commit_status, COUNT(*) FROM data_submissions"
                             " GROUP BY commit_status"))
    assert set(statuses) == {"committed"}, statuses
    inputs = rows(db, "SELECT payload, status FROM inputbox_inputs")
    assert all(status == "committed" for _, status in inputs)
    on_chain = asyncio.run(chain_payloads(devchain.url, db))
    assert {bytes(p): 1 for p, _ in inputs} == dict(on_chain)  # each once, no other
    app = rows(db.parent / "cartesi_app.db", "SELECT COUNT(*) FROM app_inputs")
    assert app == [(len(inputs),)]
    check = subprocess.run(
        main_cmd("verify", "--db", str(db), "--rpc-url", devchain.url),
        capture_output=True, text=True, timeout=120, env=clean_env())
    assert check.returncode == 0, check.stdout + check.stderr
    total = sum(statuses.values())
    assert f"{total} ok, 0 mismatch" in check.stdout
    assert f"{total} committed records compared, 0 differ" in check.stdout
