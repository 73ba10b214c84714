"""Whole runs of ``python main.py`` as a user starts them: whatever the verdict, the exit code,
the final line, summary.json, the report and /health say the same thing."""

from __future__ import annotations

import html
import json
import re
import signal
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import clean_env, main_cmd, table_rows
from utils.devchain import DevChain

RATES = ("--rate", "payment=6", "--rate", "merchant=0", "--rate", "lending=0",
         "--rate", "iot=0", "--rate", "iot_registration=0")


def start(devchain: DevChain, out: Path, *args: str, **env: str) -> subprocess.Popen[str]:
    cmd = main_cmd("--port", "0", "--out", str(out), "--seed", "5", "--rpc-url", devchain.url,
                   *RATES, *args)
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=clean_env(PRIVATE_KEY=devchain.funder_key.hex(), **env))


def one_truth(code: int, stdout: str, out: Path) -> dict[str, Any]:
    """Every output of the finished run in ``out`` agrees with its summary's verdict."""
    run_dir = (out / "latest").resolve()
    summary = json.loads((run_dir / "summary.json").read_text())
    verdict = summary["verdict"]
    assert code == verdict["exit_code"], stdout
    final = [ln for ln in stdout.splitlines() if ln.startswith(f"run {summary['run_id']}: ")]
    assert final == [f"run {summary['run_id']}: {verdict['headline']}"], stdout
    assert summary["exit_reason"] == verdict["headline"]
    missed = [c for c in verdict["checks"] if c["status"] == "missed"]
    assert summary["targets_met"]["all"] is (not missed)
    assert verdict["clean"] is (not missed and not verdict["conditions"])
    page = (run_dir / "report.html").read_text()
    assert html.escape(verdict["headline"]) in page
    return summary


@pytest.fixture(scope="module")
def out_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("verdict-runs")


def test_a_clean_run_says_targets_met_everywhere(devchain: DevChain, out_root: Path) -> None:
    proc = start(devchain, out_root / "clean", "--duration", "3")
    stdout, stderr = proc.communicate(timeout=120)
    summary = one_truth(proc.returncode, stdout, out_root / "clean")
    assert proc.returncode == 0 and summary["verdict"]["headline"] == "targets met", stderr
    row = table_rows(stdout)["payment_app"]
    assert int(row["fired"]) >= 1 and row["missed"] == "0"  # missed and late are columns
    assert "late" in row


def test_a_missed_target_fails_the_run_everywhere(devchain: DevChain, out_root: Path) -> None:
    proc = start(devchain, out_root / "slow", "--duration", "3",
                 TARGET_MAX_LATENCY_SEC="0.0001")
    stdout, _ = proc.communicate(timeout=120)
    summary = one_truth(proc.returncode, stdout, out_root / "slow")
    assert proc.returncode == 1
    assert "transaction p95 latency" in summary["verdict"]["headline"]
    assert "> target 0.000 s" in summary["verdict"]["headline"]


def _wait_for_load(proc: subprocess.Popen[str]) -> str:
    """Read the run's console log until the load starts; the endpoints' URL."""
    assert proc.stderr is not None
    url = ""
    for line in proc.stderr:
        if found := re.search(r"serving /health.* on (http://127\.0\.0\.1:\d+)", line):
            url = found.group(1)
        if "load started" in line:
            return url
    raise AssertionError("the run ended before its load started")


def test_an_interrupted_run_says_so_everywhere(devchain: DevChain, out_root: Path) -> None:
    proc = start(devchain, out_root / "stopped", "--duration", "60")
    try:
        url = _wait_for_load(proc)
        with urllib.request.urlopen(f"{url}/health", timeout=10) as reply:
            health = json.loads(reply.read())
        assert health["verdict"]["final"] is False  # targets so far; conditions at the end
        assert {c["key"] for c in health["verdict"]["checks"]} >= {"transactions.p95"}
        proc.send_signal(signal.SIGINT)
        stdout, _ = proc.communicate(timeout=120)
    finally:
        proc.kill()
    summary = one_truth(proc.returncode, stdout, out_root / "stopped")
    assert proc.returncode == 1
    (condition,) = summary["verdict"]["conditions"]
    assert condition["reason"] == "interrupted"
    assert re.fullmatch(r"SIGINT after \d+\.\d of 60 s", condition["detail"])
    assert summary["verdict"]["headline"].startswith("targets NOT met: interrupted (SIGINT")


def test_checks_the_chain_cannot_answer_leave_the_outputs_and_say_so(tmp_path: Path) -> None:
    """The chain stops answering between the load and the end-of-run checks (books and IoT
    records): the run still writes its summary and report, and its verdict says what was not
    checked, instead of ending in an error without outputs."""
    import asyncio
    import io
    import os

    from utils.run.parts import Prepared, RunBase
    from utils.run.run import Run
    from utils.run.run_dir import new_run_id
    from utils.settings import load_settings

    with DevChain.start() as chain:
        async def stop_the_chain(_base: RunBase, _prepared: Prepared) -> None:
            os.kill(chain.pid, signal.SIGSTOP)  # alive, silent: every request times out

        settings = load_settings({
            "duration": 2, "dapp": "evm", "out": tmp_path, "port": 0, "seed": 4,
            "rpc_url": chain.url, "private_key": chain.funder_key.hex(), "payment_rate": 2,
            "merchant_rate": 1, "lending_rate": 0, "iot_registration_rate": 5,
            "iot_data_submission_rate": 2, "iot_device_count": 3,
            "target_max_latency_sec": 600}, None)
        run_id = new_run_id()
        run = Run(settings, run_id=run_id, run_dir=tmp_path / run_id, out=io.StringIO(),
                  before_checks=stop_the_chain)
        try:
            code = asyncio.run(run.execute())
        finally:
            os.kill(chain.pid, signal.SIGCONT)
    summary = json.loads((tmp_path / run_id / "summary.json").read_text())
    assert code == summary["verdict"]["exit_code"] == 1
    unchecked = [c["detail"] for c in summary["verdict"]["conditions"]
                 if c["reason"] == "not checked on chain"]
    assert [d.split(":")[0] for d in unchecked] == ["the dApp books", "the IoT records"]
    assert (tmp_path / run_id / "report.html").is_file()
