"""A chain that refuses transactions is unhealthy, and the IoT backlog clears fast after.

A real run on the embedded chain; the chain refuses every transaction for OUTAGE seconds
(``kcdev_setAcceptingTransactions(false)``). /health must turn 503 naming the refusals and
200 again after. The records stored during the outage are all committed after the chain
accepts again, in blocks from then on; the outbox's breaker opened once while the chain
refused and released the backed-off backlog at once when the first probe committed (an
ordering of events in run.log, not a time bound); their retries are counted as retries,
never as failed records.
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


def backlog_blocks(db: Path, since: float, until: float) -> list[int]:
    """Commit blocks of the records stored in [since, until] (all committed by then)."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        rows = conn.execute(
            "SELECT block_number FROM data_submissions WHERE submission_date BETWEEN ? AND ?"
            " AND commit_status = 'committed'", (since, until)
        ).fetchall()
    return [int(n) for (n,) in rows]


def uncommitted_before(db: Path, when: float) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        (n,) = conn.execute(
            "SELECT COUNT(*) FROM data_submissions WHERE submission_date <= ?"
            " AND commit_status != 'committed'", (when,)
        ).fetchone()
    return int(n)


def test_refusals_are_unhealthy_and_the_backlog_is_released_at_once(tmp_path: Path) -> None:
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
        refused_at, refused_since = time.monotonic(), time.time()
        assert wait_for(lambda: health(server)[0] == 503, OUTAGE)
        _, body = health(server)
        assert "refusing transactions" in str(body["reason"]), body
        time.sleep(max(0.0, OUTAGE - (time.monotonic() - refused_at)))
        backlog_until = time.time()
        assert uncommitted_before(db, backlog_until) > 5  # records piled up meanwhile

        refused_head = int(str(rpc(chain, "eth_blockNumber")), 16)
        rpc(chain, "kcdev_setAcceptingTransactions", True)
        assert wait_for(lambda: uncommitted_before(db, backlog_until) == 0, 120)  # hang guard
        assert wait_for(lambda: health(server)[0] == 200, 30)
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    # the backlog reached the chain only once it accepted again...
    blocks = backlog_blocks(db, refused_since + 0.5, backlog_until)
    assert len(blocks) > 5 and min(blocks) > refused_head, (refused_head, sorted(blocks))
    # ...through the breaker: opened while the chain refused, then the backed-off backlog
    # released at once by the first probe that committed
    lines = (run_dir / "run.log").read_text().splitlines()
    tripped = [i for i, ln in enumerate(lines) if "probing the chain before sending more" in ln]
    released = [i for i, ln in enumerate(lines) if "the chain takes commits again" in ln]
    assert tripped and released and tripped[0] < released[0], (
        [lines[i] for i in tripped + released])
    count = re.search(r"again: (\d+) backed-off units released", lines[released[0]])
    assert count is not None and int(count.group(1)) > 0, lines[released[0]]
    summary = json.loads((run_dir / "summary.json").read_text())
    kpis = summary.get("kpis", summary)
    assert kpis["iot_commit_retries"] > 0
    assert kpis["iot_records"].get("failed", 0) == 0
