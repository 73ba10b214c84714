"""Stopping a run (SIGINT/SIGTERM) and refusing bad configuration."""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import clean_env, main_cmd, table_rows


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is gone for our purpose
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"


def wait_for(predicate: object, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.1)
    return False


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_stops_drains_and_ends_the_chain(tmp_path: Path, sig: signal.Signals) -> None:
    drain = 10
    proc = subprocess.Popen(
        main_cmd("--duration", "0", "--port", "0", "--out", str(tmp_path), "--rate",
                 "payment=20", "--drain-timeout", str(drain), "--seed", "5"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean_env(),
    )
    try:
        log = tmp_path / "latest" / "run.log"
        csv_path = tmp_path / "latest" / "tx_metrics.csv"
        assert wait_for(lambda: csv_path.exists() and csv_path.read_text().count("\n") > 20, 60)
        chain_pid = int(re.search(r"\(pid (\d+)\)", log.read_text()).group(1))  # type: ignore
        assert pid_alive(chain_pid)
        proc.send_signal(sig)
        stdout, stderr = proc.communicate(timeout=drain + 60)  # a hang guard, not a bound
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode in (0, 1), stderr
    text = log.read_text()
    # the signal stopped the load, then the drain ran under its deadline, then the outputs
    assert text.index(f"{sig.name} received") < text.index(f"(deadline {drain} s)") \
        < text.index("summary written")
    assert "payment_app" in stdout and "results in" in stdout  # the final table was printed
    assert f"{sig.name} received" in log.read_text()
    assert wait_for(lambda: not pid_alive(chain_pid), 5)
    with csv_path.open(newline="") as f:
        payments = [r for r in csv.DictReader(f) if r["module"] == "payment_app"]
    assert int(table_rows(stdout)["payment_app"]["sent"]) == len(payments) > 15
    summary = json.loads((tmp_path / "latest" / "summary.json").read_text())
    assert summary["contract"]["flavour"] == "stylus"  # the embedded chain's default
    # a run without an end is meant to be stopped: a signal does not make it "interrupted"
    assert "interrupted" not in {c["reason"] for c in summary["verdict"]["conditions"]}


def payment_rows(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with path.open(newline="") as f:
        return [r for r in csv.DictReader(f) if r["module"] == "payment_app"]


def run_main(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(main_cmd(*args), capture_output=True, text=True, timeout=60,
                          env=env or clean_env())


@pytest.mark.parametrize(
    ("args", "env", "names"),
    [
        (["--rate", "bogus=3"], {}, "--rate"),
        (["--rate", "payment=-1"], {}, "--rate"),
        (["--rate", "payment"], {}, "--rate"),
        (["--rpc-url", "not a url"], {}, "--rpc-url"),
        ([], {"RPC_HTTP_URL": "ftp://example.invalid"}, "RPC_HTTP_URL"),
        ([], {"IOT_DEVICE_COUNT": "-4"}, "IOT_DEVICE_COUNT"),
        ([], {"TARGET_SUCCESS_RATE": "1.5"}, "TARGET_SUCCESS_RATE"),
        (["--duration", "-5"], {}, "--duration"),
        (["--scenario", "/nonexistent/x.toml"], {}, "--scenario"),
        (["--rpc-url", "http://127.0.0.1:9"], {}, "PRIVATE_KEY"),
    ],
)
def test_bad_configuration_exits_2_with_one_clear_line(
    tmp_path: Path, args: list[str], env: dict[str, str], names: str
) -> None:
    proc = run_main("--out", str(tmp_path), "--port", "0", *args, env=clean_env(**env))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and names in errors[0], proc.stderr
    assert "Traceback" not in proc.stderr


def test_taken_port_is_a_clear_error_before_the_chain_starts(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = run_main("--out", str(tmp_path), "--port", str(port), "--duration", "5")
    assert proc.returncode == 2
    assert f"{port}" in proc.stderr and "in use" in proc.stderr
    assert "embedded chain" not in proc.stderr
    assert list(tmp_path.iterdir()) == []  # no run directory, no `latest`


def test_scenario_file_and_precedence(tmp_path: Path) -> None:
    from utils.settings import load_settings

    scenario = tmp_path / "s.toml"
    scenario.write_text('duration = 7\npayment_rate = 9\niot_device_count = 3\n'
                        '[rates]\nmerchant = 4\nlending = 0.5\n')
    old = os.environ.get("IOT_DEVICE_COUNT")
    os.environ["IOT_DEVICE_COUNT"] = "5"
    try:
        s = load_settings({"payment_rate": 3.0, "duration": None}, scenario)
    finally:
        if old is None:
            del os.environ["IOT_DEVICE_COUNT"]
        else:
            os.environ["IOT_DEVICE_COUNT"] = old
    assert s.payment_rate == 3.0  # CLI over scenario
    assert s.iot_device_count == 5  # env over scenario
    assert s.duration == 7 and s.merchant_rate == 4 and s.lending_rate == 0.5  # scenario
    assert s.iot_registration_rate == 0.1  # default


def test_help_documents_every_option() -> None:
    proc = run_main("--help")
    assert proc.returncode == 0
    for option in ("--duration", "--rpc-url", "--rate", "--scenario", "--seed", "--out",
                   "--host", "--port", "--interval", "--contract", "--drain-timeout"):
        assert option in proc.stdout
    text = " ".join(proc.stdout.split())
    for name in ("RPC_HTTP_URL", "PRIVATE_KEY", "MVP_IOT_PROCESSOR_ADDRESS", "IOT_DEVICE_COUNT",
                 "TARGET_SUCCESS_RATE", "TARGET_MAX_LATENCY_SEC", "HEALTHCHECK_PORT",
                 "LOG_DIR", "FIXED_GAS_PRICE_WEI", "LCORE_NODE_URL"):
        assert name in text


def test_run_refuses_to_start_when_the_funder_cannot_pay(tmp_path: Path, devchain) -> None:
    poor = "11" * 32  # a generated-looking key with no balance on this chain
    proc = run_main("--out", str(tmp_path), "--port", "0", "--duration", "30",
                    "--rpc-url", devchain.url, env=clean_env(PRIVATE_KEY=poor))
    assert proc.returncode == 2
    (line,) = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert "holds 0.000000 ETH but the planned run needs" in line
    assert list(tmp_path.iterdir()) == []  # no run directory, no `latest`


def test_signal_during_set_up_ends_cleanly(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        main_cmd("--duration", "60", "--port", "0", "--out", str(tmp_path)),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean_env(),
    )
    try:
        log = tmp_path / "latest" / "run.log"
        assert wait_for(lambda: log.exists() and "embedded chain" in log.read_text(), 60)
        proc.send_signal(signal.SIGTERM)  # while contracts deploy and wallets are funded
        stdout, stderr = proc.communicate(timeout=40)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "Traceback" not in stderr
    assert proc.returncode in (0, 1) and "results in" in stdout
    chain_pid = int(re.search(r"\(pid (\d+)\)", log.read_text()).group(1))  # type: ignore
    assert wait_for(lambda: not pid_alive(chain_pid), 5)


def test_a_run_without_end_tops_its_wallets_up_again(tmp_path: Path) -> None:
    scenario = tmp_path / "refill.toml"
    # a funding horizon of 0.5 s: wallets are budgeted at the max fee and the transfer gas
    # limit (L1 part included), which a payment pays only part of (Nitro drops the tip), so
    # a top-up lasts several horizons; the run must top its wallets up again all the same
    scenario.write_text("funding_horizon = 0.5\n[rates]\npayment = 30\n")
    proc = subprocess.Popen(
        main_cmd("--duration", "0", "--port", "0", "--out", str(tmp_path),
                 "--scenario", str(scenario), "--dapp", "transfers"),  # 21,000-gas payments
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean_env(),
    )
    try:
        csv_path = tmp_path / "latest" / "tx_metrics.csv"
        log_path = tmp_path / "latest" / "run.log"
        assert wait_for(lambda: log_path.exists()
                        and log_path.read_text().count("topping up") >= 2, 90)
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=40)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    payments = payment_rows(csv_path)
    assert payments and all(r["status"] == "success" for r in payments)
    assert log_path.read_text().count("topping up") >= 2
