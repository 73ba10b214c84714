"""``python main.py console``: the server alone, bound beyond 127.0.0.1 (127.0.0.2: loopback
range, but not the trusted default, so control calls need the start's token); runs started
through the API one at a time, listed with their verdicts, their reports served; the token
printed once on stdout and in no log."""

from __future__ import annotations

import re
import signal
import subprocess
import urllib.request
from pathlib import Path

from tests.conftest import clean_env, main_cmd
from tests.console_client import EventReader, call, wait_until

RUN_ARGS = {"duration": 3, "dapp": "transfers", "rate": ["payment=5", "merchant=0", "lending=0",
                                                          "iot=0", "iot_registration=0"]}


def test_console_mode_starts_runs_one_at_a_time_behind_a_token(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        main_cmd("console", "--host", "127.0.0.2", "--port", "0", "--out", str(tmp_path)),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean_env(),
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(4)]
        url = re.search(r"(http://127\.0\.0\.2:\d+)/", lines[0]).group(1)  # type: ignore[union-attr]
        token = re.search(r"\?token=(\S+)", lines[2]).group(1)  # type: ignore[union-attr]
        bearer = {"Authorization": f"Bearer {token}"}
        state = call(url, "/api/state")[1]
        assert state == {"mode": "console", "token_required": True, "run": None, "links": {
            "metrics": "/metrics", "kpis": "/kpis", "events": "/api/events", "report": None}}
        status, body = call(url, "/api/runs", {"args": RUN_ARGS})
        assert status == 401 and "token" in body["error"]
        assert call(url, "/api/runs", {"args": RUN_ARGS},
                    headers={"Authorization": "Bearer wrong"})[0] == 401
        status, body = call(url, "/api/runs", {"args": ["--bogus"]}, headers=bearer)
        assert status == 400 and "--bogus" in body["error"]
        status, body = call(url, "/api/runs", {"args": ["--port", "9"]}, headers=bearer)
        assert status == 400 and "set by the console" in body["error"]
        assert call(url, "/api/stop", {}, headers=bearer)[0] == 409  # no run to stop
        status, body = call(url, "/api/capacity", {"args": ["--slo", "nonsense"]},
                            headers=bearer)
        assert status == 400 and "--slo: expected METRIC<OP>VALUE" in body["error"]
        reader = EventReader(url)
        status, started = call(url, "/api/runs", {"kind": "benchmark", "args": RUN_ARGS},
                               headers={"X-Kcstress-Token": token})
        assert status == 201 and started["kind"] == "benchmark"
        status, body = call(url, "/api/capacity", {"args": []}, headers=bearer)
        assert status == 409 and started["run_id"] in body["error"]
        end = wait_until(lambda: reader.of("end"), 120, "the run's end")[0]
        assert end["run_id"] == started["run_id"] and end["exit_code"] == 0
        assert any(t["run_id"] == started["run_id"] for t in reader.of("tick"))
        runs = call(url, "/api/runs")[1]["runs"]
        assert [r["id"] for r in runs] == [started["run_id"]]  # not the 'latest' link
        run = runs[0]
        assert run["exit_code"] == 0 and run["headline"] and run["figures"]["tx_per_sec"] > 0
        with urllib.request.urlopen(url + run["report"], timeout=15) as answer:
            assert answer.headers["Content-Type"].startswith("text/html")
            assert b"<html" in answer.read(2000).lower()
        for path in (f"/runs/{run['id']}/run.log", "/runs/..%2F..%2Fetc/passwd"):
            try:
                urllib.request.urlopen(url + path, timeout=15)
                raise AssertionError(f"{path} was served")
            except urllib.error.HTTPError as exc:
                assert exc.code == 404
        assert call(url, "/api/state")[1]["links"]["report"] == run["report"]
        reader.close()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert token not in err and token not in out  # printed once, in the lines read above
    assert "console still serving at " + url + "/ (" in out  # said once the run ended
    assert token not in (tmp_path / started["run_id"] / "run.log").read_text()
