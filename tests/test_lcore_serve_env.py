"""``python -m lcore_node serve`` reads the environment main.py reads; flags win (issue 20.7).

Real ``serve`` subprocesses (stopped by their pid), real HTTP on 127.0.0.1, and for the
chain variables the real embedded chain behind a path-accepting proxy (its URL carries an
API key, which the node's output must not show).
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from lcore_node.binding import read_binding
from tests.conftest import REPO, clean_env
from tests.fuzz_http import first_line
from tests.rpc_proxy import RpcProxy
from tests.test_lcore_support import DeviceKey, reading
from utils.devchain import DevChain

KEY = "SECRETKEY456def"
KEYED = f"/v2/{KEY}?apikey=OTHERSECRET99"


@dataclass
class Serve:
    process: subprocess.Popen[bytes]
    url: str
    db: str  # as the node printed it
    log: Path

    def post(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        request = urllib.request.Request(self.url + path, data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=10) as resp:
                return resp.status, json.load(resp)
        except urllib.error.HTTPError as exc:
            return exc.code, json.load(exc)

    def status(self) -> dict[str, Any]:
        with urllib.request.urlopen(self.url + "/status", timeout=10) as resp:
            answer: dict[str, Any] = json.load(resp)
        return answer


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
    if process.stdout is not None:
        process.stdout.close()


@contextmanager
def serve(cwd: Path, *args: str, **env: str) -> Iterator[Serve]:
    """``python -m lcore_node serve --port 0 ARGS`` in ``cwd`` with ``env`` added."""
    log = cwd / f"serve-{time.monotonic_ns()}.log"
    with open(log, "wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "lcore_node", "serve", "--port", "0", *args],
            cwd=cwd, stdout=subprocess.PIPE, stderr=stderr,
            env=clean_env(PYTHONPATH=str(REPO), **env))
    try:
        line = first_line(process, log, 90.0)
        assert line.startswith("lcore node listening on http://127.0.0.1:"), line
        yield Serve(process, line.split()[4], line.split("(db ", 1)[1].rstrip(")"), log)
    finally:
        _stop(process)


def _records(db: Path) -> list[tuple[str, str]]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT device_id, commit_status FROM data_submissions").fetchall()
    finally:
        conn.close()


def _submit_one(node: Serve, key: DeviceKey, *, signed: bool = True) -> None:
    status, answer = node.post("/device/register", {"device_id": key.device_id,
                                                    "public_key": key.public_hex})
    assert status == 201, answer
    now, data = int(time.time()), reading(1)
    body: dict[str, Any] = {"device_id": key.device_id, "data": data, "timestamp": now}
    if signed:
        body["signature"] = key.sign(now, data)
    status, answer = node.post("/device/data", body)
    assert status == 200, answer


def test_serve_reads_lcore_db_path_key_dir_and_require_signatures(tmp_path: Path) -> None:
    db, keys = tmp_path / "env" / "node.db", tmp_path / "env" / "keys"
    with serve(tmp_path, "--no-chain", LCORE_DB_PATH=str(db), LCORE_KEY_DIR=str(keys),
               LCORE_REQUIRE_SIGNATURES="false") as node:
        assert node.db == str(db)
        _submit_one(node, DeviceKey("env-1"), signed=False)
        assert node.status()["require_signatures"] is False
    assert _records(db) == [("env-1", "pending")]
    assert any(keys.iterdir())
    assert not (tmp_path / "lcore-data").exists()


def test_flags_win_over_the_environment(tmp_path: Path) -> None:
    env_db, flag_db = tmp_path / "env" / "node.db", tmp_path / "flag" / "node.db"
    with serve(tmp_path, "--no-chain", "--db", str(flag_db), "--key-dir",
               str(flag_db.parent / "keys"), LCORE_DB_PATH=str(env_db),
               LCORE_KEY_DIR=str(env_db.parent / "keys")) as node:
        assert node.db == str(flag_db)
        _submit_one(node, DeviceKey("flag-1"))
        assert node.status()["require_signatures"] is True
    assert _records(flag_db) == [("flag-1", "pending")]
    assert any((flag_db.parent / "keys").iterdir())
    assert not env_db.parent.exists()


def _wait_committed(db: Path, within: float) -> list[tuple[str, str]]:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        rows = _records(db)
        if rows and all(s == "committed" for _, s in rows):
            return rows
        time.sleep(0.25)
    raise AssertionError(f"not committed: {_records(db)}")


@pytest.mark.slow
def test_serve_commits_to_the_chain_the_environment_names(devchain: DevChain,
                                                          tmp_path: Path) -> None:
    chain_env = {"PRIVATE_KEY": devchain.funder_key.hex(), "CHAIN_ID": str(devchain.chain_id)}
    first = tmp_path / "first.db"
    with RpcProxy.start(devchain.url) as proxy:
        with serve(tmp_path, RPC_HTTP_URL=proxy.url + KEYED, LCORE_DB_PATH=str(first),
                   **chain_env) as node:
            _submit_one(node, DeviceKey("chain-1"))
            _wait_committed(first, 60)
        # it went where RPC_HTTP_URL said
        assert proxy.forwarded["eth_sendRawTransaction"] > 0
        log = node.log.read_text()
        assert KEY not in log and "OTHERSECRET99" not in log
    binding = read_binding(first)
    assert binding is not None and binding.chain_id == devchain.chain_id
    # MVP_IOT_PROCESSOR_ADDRESS: a fresh database commits to the configured contract; the
    # --rpc-url flag wins over an RPC_HTTP_URL nobody listens on
    second = tmp_path / "second.db"
    with serve(tmp_path, "--rpc-url", devchain.url, RPC_HTTP_URL="http://127.0.0.1:9/x",
               LCORE_DB_PATH=str(second), MVP_IOT_PROCESSOR_ADDRESS=binding.processor_address,
               **chain_env) as node:
        _submit_one(node, DeviceKey("chain-2"))
        _wait_committed(second, 60)
    again = read_binding(second)
    assert again is not None
    assert again.processor_address.lower() == binding.processor_address.lower()
    assert again.processor_flavour == "configured"  # not a deployment of its own


@pytest.mark.slow
def test_a_wrong_chain_id_in_the_environment_is_refused(devchain: DevChain,
                                                        tmp_path: Path) -> None:
    with RpcProxy.start(devchain.url) as proxy:
        done = subprocess.run(
            [sys.executable, "-m", "lcore_node", "serve", "--port", "0"], cwd=tmp_path,
            capture_output=True, text=True, timeout=120,
            env=clean_env(PYTHONPATH=str(REPO), RPC_HTTP_URL=proxy.url + KEYED,
                          PRIVATE_KEY=devchain.funder_key.hex(),
                          CHAIN_ID=str(devchain.chain_id + 1),
                          LCORE_DB_PATH=str(tmp_path / "n.db")))
    assert done.returncode == 2, done.stderr[-2000:]
    assert "CHAIN_ID" in done.stderr and f"is chain {devchain.chain_id}" in done.stderr
    assert KEY not in done.stderr + done.stdout
