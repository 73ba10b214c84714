"""``--shard I/N`` and ``main.py merge``: two shard processes against one standalone chain
(``python -m utils.devchain``) share a funder, start at one moment without a nonce clash,
and merge into one run whose counts are the sums and whose p95 is the union's."""

from __future__ import annotations

import csv
import json
import math
import secrets
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import clean_env, main_cmd

RATES = ("payment=16", "merchant=4", "lending=2", "iot=0", "iot_registration=0")


@pytest.fixture(scope="module")
def chain_and_key() -> Any:
    key = secrets.token_hex(32)
    proc = subprocess.Popen([sys.executable, "-m", "utils.devchain", "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=clean_env(PRIVATE_KEY=key))
    assert proc.stdout is not None
    url = None
    deadline = time.monotonic() + 60
    while url is None and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.startswith("{"):
            url = f"http://127.0.0.1:{json.loads(line)['port']}"
    assert url, "the dev chain did not start"
    yield url, key
    proc.terminate()
    proc.wait(timeout=20)


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def shards(chain_and_key: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    url, key = chain_and_key
    tag = secrets.token_hex(4)
    base = tmp_path_factory.mktemp("shards")
    procs = []
    for index in (1, 0):  # shard 1 first: it waits for shard 0's funding and start time
        args = ["--duration", "8", "--port", "0", "--out", str(base / f"s{index}"), "--seed",
                "21", "--rpc-url", url, "--shard", f"{index}/2", "--drain-timeout", "10"]
        for rate in RATES:
            args += ["--rate", rate]
        env = clean_env(PRIVATE_KEY=key, KCSTRESS_RUN_TAG=tag)
        procs.append(subprocess.Popen(main_cmd(*args), stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True, env=env))
        time.sleep(1.0)
    outputs = [p.communicate(timeout=240) for p in procs]
    dirs = [(base / f"s{i}" / "latest").resolve() for i in (0, 1)]
    merged = base / "merged"
    merge = subprocess.run(main_cmd("merge", str(dirs[0]), str(dirs[1]), "--out", str(merged)),
                           capture_output=True, text=True, timeout=120)
    return {"procs": procs, "outputs": outputs, "dirs": dirs, "merged": merged,
            "merge": merge}


def test_shards_share_a_funder_and_start_at_one_moment(shards: dict[str, Any]) -> None:
    for proc, (out, err) in zip(shards["procs"], shards["outputs"], strict=True):
        assert proc.returncode == 0, out[-1500:] + err[-3000:]
    summaries = [json.loads((d / "summary.json").read_text()) for d in shards["dirs"]]
    starts = {s["shard"]["start_at"] for s in summaries}
    assert len(starts) == 1 and None not in starts
    assert [s["shard"]["funded_by_this_shard"] for s in summaries] == [True, False]
    senders = []
    for run_dir, summary in zip(shards["dirs"], summaries, strict=True):
        rows = read_csv(run_dir / "tx_metrics.csv")
        assert rows and all(r["status"] == "success" for r in rows)  # no nonce clash
        assert summary["chain"]["nonce_resyncs"] == 0
        assert min(float(r["intended_at"]) for r in rows) >= summary["shard"]["start_at"] - 0.01
        senders.append({r["sender"] for r in rows})
        # 1/N of each rate: 16/2 payments per second
        assert 8 * 8 * 0.7 <= sum(r["module"] == "payment_app" for r in rows) <= 8 * 8 * 1.3
        prom = (run_dir / "metrics.prom").read_text()
        assert f'shard="{summary["shard"]["index"]}"' in prom
    assert not senders[0] & senders[1]


def exact(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def test_merge_sums_counts_and_takes_the_unions_p95(shards: dict[str, Any]) -> None:
    merge = shards["merge"]
    assert merge.returncode == 0, merge.stderr
    merged: Path = shards["merged"]
    parts = [json.loads((d / "summary.json").read_text()) for d in shards["dirs"]]
    summary = json.loads((merged / "summary.json").read_text())
    rows = [r for d in shards["dirs"] for r in read_csv(d / "tx_metrics.csv")]
    assert len(read_csv(merged / "tx_metrics.csv")) == len(rows)
    assert summary["totals"]["finished"] == sum(p["totals"]["finished"] for p in parts)
    for name, figures in summary["kpis"]["workloads"].items():
        for key in ("finished", "successes", "fired", "gas_used"):
            assert figures[key] == sum(p["kpis"]["workloads"][name][key] for p in parts)
        latencies = [float(r["latency_sec"]) for r in rows if r["module"] == name]
        if latencies:
            assert figures["p95"] == pytest.approx(exact(latencies, 0.95), rel=0.02)
    union = [float(r["latency_sec"]) for r in rows]
    assert summary["totals"]["p95"] == pytest.approx(exact(union, 0.95), rel=0.02)
    intervals = read_csv(merged / "kpi_intervals.csv")
    payments = summary["kpis"]["workloads"]["payment_app"]["successes"]
    assert sum(int(r["successes"]) for r in intervals if r["workload"] == "payment_app") == (
        payments)
    assert (merged / "report.html").read_text().startswith("<!doctype html>")
    assert len(summary["merged_from"]) == 2
