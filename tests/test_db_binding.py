"""A database knows its chain: a run killed with SIGKILL, then a second run (and `serve`) on
the same database commit the rest to the same contract; `verify` needs only --db and
--rpc-url; another contract or another chain is refused before anything is written."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from lcore_node.binding import read_binding
from tests.conftest import clean_env, main_cmd
from tests.test_run_chain_loss import committed
from tests.test_run_lifecycle import wait_for
from utils.devchain import DevChain

REPO = Path(__file__).resolve().parent.parent


def statuses(db: Path) -> dict[str, int]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return dict(conn.execute(
            "SELECT commit_status, COUNT(*) FROM data_submissions GROUP BY commit_status"
        ).fetchall())


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory, devchain: DevChain) -> dict[str, object]:
    """Run 1, killed with SIGKILL while records are on their way to the chain."""
    root = tmp_path_factory.mktemp("binding")
    db = root / "node" / "lcore.db"  # keys beside it in root/keys: verify's default
    env = clean_env(PRIVATE_KEY=devchain.funder_key.hex(), LCORE_DB_PATH=str(db),
                    LCORE_KEY_DIR=str(root / "keys"))
    proc = subprocess.Popen(
        main_cmd("--duration", "120", "--port", "0", "--out", str(root / "run1"),
                 "--rpc-url", devchain.url, "--dapp", "transfers", "--rate", "payment=0",
                 "--rate", "merchant=0", "--rate", "lending=0", "--rate", "registration=5",
                 "--rate", "iot=10", "--seed", "3"),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
    )
    try:
        assert wait_for(lambda: committed(db) >= 10, 90)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    return {"root": root, "db": db, "env": env}


def test_a_second_run_commits_the_rest_to_the_recorded_contract(
    shared: dict[str, object], devchain: DevChain
) -> None:
    root, db, env = Path(str(shared["root"])), Path(str(shared["db"])), shared["env"]
    binding = read_binding(db)
    assert binding is not None and binding.chain_id == devchain.chain_id
    before = sum(statuses(db).values())
    proc = subprocess.run(
        main_cmd("--duration", "4", "--port", "0", "--out", str(root / "run2"), "--rpc-url",
                 devchain.url, "--dapp", "transfers", "--rate", "payment=1", "--rate",
                 "merchant=0", "--rate", "lending=0", "--rate", "iot=2", "--seed", "3"),
        capture_output=True, text=True, timeout=120, env=env,  # type: ignore[arg-type]
    )
    assert proc.returncode in (0, 1), proc.stderr[-3000:]
    summary = json.loads((root / "run2" / "latest" / "summary.json").read_text())
    assert summary["contract"]["address"].lower() == binding.processor_address.lower()
    log = (root / "run2" / "latest" / "run.log").read_text()
    assert "(recorded)" in log and "deployed the MVPIoTProcessor" not in log
    after = statuses(db)
    assert after.get("committed", 0) == sum(after.values()) >= before  # nothing left behind

    check = subprocess.run(
        main_cmd("verify", "--db", str(db), "--rpc-url", devchain.url),
        capture_output=True, text=True, timeout=120, env=clean_env(),
    )
    total = sum(after.values())
    assert check.returncode == 0, check.stdout + check.stderr
    assert f"verified {total} records on chain: {total} ok, 0 mismatch" in check.stdout


def test_serve_on_the_database_uses_the_recorded_contract(
    shared: dict[str, object], devchain: DevChain
) -> None:
    root, db = Path(str(shared["root"])), Path(str(shared["db"]))
    binding = read_binding(db)
    assert binding is not None
    proc = subprocess.Popen(
        [sys.executable, "-m", "lcore_node", "serve", "--db", str(db), "--key-dir",
         str(root / "keys"), "--rpc-url", devchain.url, "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
        env=clean_env(PRIVATE_KEY=devchain.funder_key.hex()),
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "listening" in line, proc.stderr.read() if proc.stderr else ""
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    assert f"commits to {binding.processor_address} (recorded)" in stderr


def test_another_contract_is_refused_and_leaves_nothing(
    shared: dict[str, object], devchain: DevChain
) -> None:
    root, env = Path(str(shared["root"])), dict(shared["env"])  # type: ignore[call-overload]
    env["MVP_IOT_PROCESSOR_ADDRESS"] = "0x" + "42" * 20
    proc = subprocess.run(
        main_cmd("--duration", "4", "--port", "0", "--out", str(root / "run3"), "--rpc-url",
                 devchain.url, "--dapp", "transfers"),
        capture_output=True, text=True, timeout=120, env=env,
    )
    assert proc.returncode == 2
    (error,) = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert "a database's records stay on one contract" in error
    assert not (root / "run3").exists()


def test_another_chain_is_refused(shared: dict[str, object]) -> None:
    root, env = Path(str(shared["root"])), dict(shared["env"])  # type: ignore[call-overload]
    with DevChain.start(chain_id=4321) as other:
        env["PRIVATE_KEY"] = other.funder_key.hex()
        proc = subprocess.run(
            main_cmd("--duration", "4", "--port", "0", "--out", str(root / "run4"),
                     "--rpc-url", other.url, "--dapp", "transfers"),
            capture_output=True, text=True, timeout=120, env=env,
        )
    assert proc.returncode == 2, proc.stderr[-2000:]
    (error,) = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert "holds records of chain 1337" in error and "4321" in error
    assert not (root / "run4").exists()
    assert os.path.exists(str(shared["db"]))
