"""A chain that refuses transactions is unhealthy, and the IoT backlog clears fast after.

A real run on the embedded chain; the chain refuses every transaction for OUTAGE seconds
(``kcdev_setAcceptingTransactions(false)``). /health must turn 503 naming the refusals and
200 again after; the records stored during the outage must be committed within 5 s of the
chain accepting again; their retries are counted as retries, never as failed records.
"""

from __future__ import annotations

import json
import re
import signal
import sqlite3
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.conftest import clean_env, main_cmd
from tests.test_run_chain_loss import committed
from tests.test_run_lifecycle import wait_for

OUTAGE = 12.0


def rpc(url: str, method: str, *params: object) -> object:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
    request = urllib.request.Request(url, body.encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())["result"]


def health(url: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(url + "/health", timeout=5) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def uncommitted_before(db: Path, when: float) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        (n,) = conn.execute(
            "SELECT COUNT(*) FROM data_submissions WHERE submission_date <= ?"
            " AND commit_status != 'committed'", (when,)
        ).fetchone()
    return int(n)


def test_refusals_are_unhealthy_and_the_backlog_clears_within_5_s(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        main_cmd("--duration", "0", "--port", "0", "--out", str(tmp_path), "--dapp",
                 "transfers", "--rate", "payment=10", "--rate", "merchant=0", "--rate",
                 "lending=0", "--rate", "registration=5", "--rate", "iot=10",
                 "--chain-grace", "120", "--seed", "4"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean_env(),
    )
    try:
        run_dir = tmp_path / "latest"
        db = run_dir / "lcore.db"
        assert wait_for(lambda: committed(db) >= 10, 90)
        log = (run_dir / "run.log").read_text()
        chain = re.search(r"embedded chain \d+ \(pid \d+\) at (\S+)", log).group(1)  # type: ignore[union-attr]
        server = re.search(r"serving /health.* on (http://\S+)", log).group(1)  # type: ignore[union-attr]
        assert health(server)[0] == 200
        # the set-up's short blocks (run_setup.quick_setup_blocks) ended with the set-up
        assert rpc(chain, "kcdev_setBlockTime", 0.25) == 0.25

        rpc(chain, "kcdev_setAcceptingTransactions", False)
        refused_at = time.monotonic()
        assert wait_for(lambda: health(server)[0] == 503, OUTAGE)
        _, body = health(server)
        assert "refusing transactions" in str(body["reason"]), body
        time.sleep(max(0.0, OUTAGE - (time.monotonic() - refused_at)))
        backlog_until = time.time()
        assert uncommitted_before(db, backlog_until) > 5  # records piled up meanwhile

        rpc(chain, "kcdev_setAcceptingTransactions", True)
        accepted_at = time.monotonic()
        assert wait_for(lambda: uncommitted_before(db, backlog_until) == 0, 20)
        recovery = time.monotonic() - accepted_at
        assert wait_for(lambda: health(server)[0] == 200, 30)
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    print(f"IoT backlog committed {recovery:.2f} s after the chain accepted again")
    assert recovery < 5.0
    summary = json.loads((run_dir / "summary.json").read_text())
    kpis = summary.get("kpis", summary)
    assert kpis["iot_commit_retries"] > 0
    assert kpis["iot_records"].get("failed", 0) == 0
