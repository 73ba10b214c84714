"""``python -m lcore_node serve`` keeps its embedded chain beside its database (issue 21.1):
stopped and started again in the same folder it finds its contract, commits the records a
chainless start left pending, and the records of the first start verify on the kept chain;
a database whose chain is gone is refused with what to do."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO, clean_env
from tests.test_lcore_serve_env import _records, _submit_one, _wait_committed, serve
from tests.test_lcore_support import DeviceKey


def _verify_on_kept_chain(folder: Path) -> subprocess.CompletedProcess[str]:
    """``python -m utils.devchain --data-dir lcore-data/devchain`` as the README shows, then
    ``lcore_node verify --db lcore-data/lcore.db --rpc-url`` its URL."""
    env = clean_env(PYTHONPATH=str(REPO))
    chain = subprocess.Popen(
        [sys.executable, "-m", "utils.devchain", "--data-dir", "lcore-data/devchain", "--port",
         "0", "--block-time", "0.1"], cwd=folder, stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL, text=True, env=env)
    try:
        assert chain.stdout is not None
        chain.stdout.readline()  # the funder line
        port = json.loads(chain.stdout.readline())["port"]
        return subprocess.run(
            [sys.executable, "-m", "lcore_node", "verify", "--db", "lcore-data/lcore.db",
             "--key-dir", "lcore-data/keys", "--rpc-url", f"http://127.0.0.1:{port}"],
            cwd=folder, capture_output=True, text=True, timeout=120, env=env)
    finally:
        os.kill(chain.pid, signal.SIGTERM)
        chain.communicate(timeout=30)


def test_serve_restarts_in_its_folder_on_its_kept_chain(tmp_path: Path) -> None:
    db = tmp_path / "lcore-data" / "lcore.db"
    with serve(tmp_path) as node:
        _submit_one(node, DeviceKey("first-1"))
        _wait_committed(db, 60)
    assert (tmp_path / "lcore-data" / "devchain" / "chain.json").exists()
    with serve(tmp_path, "--no-chain") as node:  # stored only: pending
        _submit_one(node, DeviceKey("later-1"))
    assert sorted(_records(db)) == [("first-1", "committed"), ("later-1", "pending")]
    with serve(tmp_path) as node:  # the kept chain: its contract is there
        assert sorted(_wait_committed(db, 60)) == [("first-1", "committed"),
                                                   ("later-1", "committed")]
    assert "(recorded)" in node.log.read_text()
    verified = _verify_on_kept_chain(tmp_path)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "verified 2 records on chain: 2 ok" in verified.stdout, verified.stdout
    # another (new) chain with the same id: the database's chain is not there
    gone = subprocess.run(
        [sys.executable, "-m", "lcore_node", "serve", "--port", "0", "--devchain-data-dir",
         str(tmp_path / "another")], cwd=tmp_path, capture_output=True, text=True,
        timeout=120, env=clean_env(PYTHONPATH=str(REPO)))
    assert gone.returncode == 2, gone.stderr[-2000:]
    (error,) = [ln for ln in gone.stderr.splitlines() if ln.startswith("error:")]
    assert "has no contract there" in error
    for way in ("--rpc-url", "--devchain-data-dir", "another --db"):
        assert way in error
