"""The live console's server side against a real short run on the embedded chain: the event
stream (snapshot, a tick a second, markers), /api/state, a rate change followed by the
offered rate (ticks and kpi_intervals.csv), pause and resume, bad requests answered 4xx
without disturbing the run, cross-origin and form posts refused, and stop (drains as Ctrl-C
does; the timeline in summary.json)."""

from __future__ import annotations

import csv
import json
import re
import subprocess
from pathlib import Path
from typing import Any

from tests.conftest import clean_env, main_cmd
from tests.console_client import EventReader, call, wait_until


def _payment(tick: dict[str, Any]) -> dict[str, Any]:
    return tick["workloads"]["payment_app"]


def _bad_requests_are_refused(url: str) -> None:
    status, body = call(url, "/api/rates", {"nope": 5})
    assert status == 400 and "unknown workload 'nope'" in body["error"]
    status, body = call(url, "/api/rates", {"payment": "zigzag:3"})
    assert status == 400 and "unknown profile 'zigzag'" in body["error"]
    status, body = call(url, "/api/rates", raw=b"{not json")
    assert status == 400 and "JSON object" in body["error"]
    status, body = call(url, "/api/pause", raw=b"workload=payment", content_type=
                        "application/x-www-form-urlencoded")  # an HTML form cannot post JSON
    assert status == 415 and "application/json" in body["error"]
    status, body = call(url, "/api/stop", {}, headers={"Origin": "http://evil.example"})
    assert status == 403 and "cross-origin" in body["error"]
    status, body = call(url, "/api/stop", {}, headers={"Sec-Fetch-Site": "cross-site"})
    assert status == 403
    status, body = call(url, "/api/stop", {}, headers={  # DNS rebinding: a foreign name
        "Host": "rebound.example", "Origin": "http://rebound.example"})
    assert status == 403 and "loopback Host" in body["error"]
    status, body = call(url, "/api/resume", {"workload": "payment"})
    assert status == 409 and "payment_app is already not paused" in body["error"]
    status, body = call(url, "/api/pause", {})
    assert status == 400 and "expected a workload name" in body["error"]
    status, body = call(url, "/api/runs", {"args": []})
    assert status == 409 and "console mode" in body["error"]


def test_a_run_is_watched_and_steered_through_the_api(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        main_cmd("--duration", "0", "--port", "0", "--out", str(tmp_path), "--dapp",
                 "transfers", "--rate", "payment=10", "--rate", "merchant=0", "--rate",
                 "lending=0", "--rate", "iot=0", "--rate", "iot_registration=0",
                 "--interval", "1", "--seed", "11"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean_env(),
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        url = re.search(r"kcstress console: (http://127\.0\.0\.1:\d+)/", first).group(1)  # type: ignore[union-attr]
        reader = EventReader(url)
        assert reader.content_type.startswith("text/event-stream")
        EventReader(url).close()  # a client that went away: the others and the run go on
        state = wait_until(lambda: (s := call(url, "/api/state")[1])["run"]["steerable"] and s,
                           90, "the load phase")
        run = state["run"]
        assert state["mode"] == "run" and state["token_required"] is False
        assert run["workloads"]["payment_app"] == {"target": 10.0, "profile": "10",
                                                   "paused": False}
        assert "private_key" not in json.dumps(run["settings"])
        _bad_requests_are_refused(url)
        wait_until(lambda: len(reader.of("tick")) >= 2, 20, "ticks")
        status, body = call(url, "/api/rates", {"payment": 40})
        assert status == 200 and body["applied"]["payment_app"]["profile"] == "40"
        changed_at = body["markers"][0]["t"]
        # the offered rate follows within a few seconds (a whole tick after the change)
        wait_until(lambda: [t for t in reader.of("tick") if t["t"] - t["dt"] > changed_at
                            and _payment(t)["target"] == 40.0 and _payment(t)["offered"] > 20],
                   20, "the offered rate to follow the change")
        assert call(url, "/api/pause", {"workload": "payment_app"})[0] == 200
        paused_at = reader.of("marker")[-1]["t"]
        wait_until(lambda: [t for t in reader.of("tick") if t["t"] - t["dt"] > paused_at + 0.2
                            and _payment(t)["paused"] and _payment(t)["offered"] == 0], 20,
                   "a paused tick")
        assert call(url, "/api/pause", {"workload": "payment_app"})[0] == 409  # already
        assert call(url, "/api/resume", {"workload": "payment"})[0] == 200
        resumed_at = reader.of("marker")[-1]["t"]
        wait_until(lambda: [t for t in reader.of("tick") if t["t"] - t["dt"] > resumed_at
                            and _payment(t)["offered"] > 20], 20, "firing again")
        status, body = call(url, "/api/stop", {})
        assert status == 202 and body["stopping"] is True
        assert call(url, "/api/stop", {})[0] == 409  # already stopping
        _out, err = proc.communicate(timeout=120)  # a hang guard
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode in (0, 1), err
    snapshot = reader.of("snapshot")[0]
    assert snapshot["state"]["run"]["id"] and isinstance(snapshot["ticks"], list)
    tick = reader.of("tick")[-1]
    assert {"t", "dt", "phase", "elapsed", "workloads", "goodput", "iot", "generator", "chain",
            "totals"} <= set(tick)
    assert tick["chain"]["head"] is not None and tick["generator"]["loop_cpu"] is not None
    kinds = [(m["who"], m["what"]) for m in reader.of("marker")]
    assert ("api", "rate") in kinds and ("api", "pause") in kinds and ("api", "stop") in kinds
    run_dir = tmp_path / "latest"
    summary = json.loads((run_dir / "summary.json").read_text())
    timeline = [(m["what"], m["workload"], m["detail"]) for m in summary["timeline"]
                if m["who"] == "api"]
    assert timeline[:3] == [("rate", "payment_app", "10 -> 40"), ("pause", "payment_app", "40"),
                            ("resume", "payment_app", "40")]
    assert timeline[3][0] == "stop" and "POST /api/stop" in timeline[3][2]
    with (run_dir / "kpi_intervals.csv").open(newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["workload"] == "payment_app"]
    assert any(float(r["target_rate"]) == 40.0 and float(r["offered_rate"]) > 20 for r in rows)
    assert any(float(r["target_rate"]) == 10.0 for r in rows)
    assert "draining (POST /api/stop received, up to 30 s)" in err  # the live panel's last line


def test_a_change_reaches_the_worker_processes(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        main_cmd("--duration", "0", "--port", "0", "--out", str(tmp_path), "--dapp",
                 "transfers", "--workers", "2", "--rate", "payment=10", "--rate", "merchant=0",
                 "--rate", "lending=0", "--rate", "iot=0", "--rate", "iot_registration=0",
                 "--seed", "12"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean_env(),
    )
    try:
        assert proc.stdout is not None
        url = re.search(r"(http://127\.0\.0\.1:\d+)/", proc.stdout.readline()).group(1)  # type: ignore[union-attr]
        reader = EventReader(url)
        wait_until(lambda: call(url, "/api/state")[1]["run"]["steerable"], 90, "the load")
        status, body = call(url, "/api/rates", {"payment": "40"})
        assert status == 200, body
        changed_at = body["markers"][0]["t"]
        wait_until(lambda: [t for t in reader.of("tick") if t["t"] - t["dt"] > changed_at
                            and _payment(t)["offered"] > 20], 20, "the workers to follow")
        assert call(url, "/api/pause", {"workload": "payment"})[0] == 200
        paused_at = reader.of("marker")[-1]["t"]
        wait_until(lambda: [t for t in reader.of("tick") if t["t"] - t["dt"] > paused_at + 0.5
                            and _payment(t)["offered"] == 0], 20, "the workers to pause")
        assert call(url, "/api/stop", {})[0] == 202
        proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    logs = [(tmp_path / "latest" / f"worker-{k}.log").read_text() for k in (0, 1)]
    assert all("payment_app now fires at 20" in text and "payment_app now fires at 0" in text
               for text in logs)
    # the target of the final table and summary: the mean of 10/s, 40/s and paused, not 10/s
    summary = json.loads((tmp_path / "latest" / "summary.json").read_text())
    target = summary["kpis"]["workloads"]["payment_app"]["target_rate"]
    assert 0 < target < 40 and target != 10.0
