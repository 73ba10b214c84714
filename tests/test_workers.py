"""``--workers N``: worker processes on disjoint wallet slices, one run's outputs, and a
worker killed with SIGKILL ending the run cleanly with the reason."""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import json
import os
import re
import signal
import subprocess
import sys
import time
import typing
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import clean_env, main_cmd
from utils.chain.wallets import WalletPool
from utils.devchain import DevChain
from utils.load.event_stream import (
    EventWriter,
    StreamError,
    decode_event,
    encode_event,
    frame,
    read_frame,
)
from utils.load.shards import Slice, pool_counts, slice_pool
from utils.load.workers import relay
from utils.observe.aggregate_io import read_histograms
from utils.observe.events import Event, Outcome, TxEvent
from utils.observe.stats import StatsHub
from utils.observe.tally import TALLIED, Tally

SEED = 11
COUNTS = {"user": 16, "merchant": 4, "settlement": 1, "lender": 2, "borrower": 8,
          "committer": 4}
SAMPLES: dict[str, Any] = {"str": "payment_app", "float": 1.25, "int": 7, "bool": True,
                           "Outcome": Outcome.REVERTED, "float | None": 2.5, "int | None": None,
                           "tuple[tuple[str, float], ...]": (("eth_call", 0.5), ("x", 2.0)),
                           "tuple[float, ...]": (0.25, 1.5)}


def sample_events() -> list[Event]:
    """One event of every type of the ``Event`` union, every field filled."""
    events = []
    for cls in typing.get_args(Event):
        values = {f.name: SAMPLES[str(f.type)] for f in dataclasses.fields(cls)}
        events.append(cls(**values))
    return events


async def pipe_reader(fd: int) -> asyncio.StreamReader:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader),
                                 os.fdopen(fd, "rb"))
    return reader


async def test_every_event_type_crosses_a_pipe_in_tallies() -> None:
    events = sample_events() * 300  # more than one tally
    read_fd, write_fd = os.pipe()
    reader = await pipe_reader(read_fd)

    def write() -> None:  # a thread: the pipe holds 64 KiB, the writer blocks until read
        with os.fdopen(write_fd, "wb") as out:
            hub = StatsHub(batch=128)  # a worker's hub, its writer listening
            writer = EventWriter(out, hub)
            for event in events:
                hub.emit(event)
            writer.flush()
            writer.send("done", {"nonce_resyncs": 0})

    writing = asyncio.create_task(asyncio.to_thread(write))
    parent, received = StatsHub(), Tallies()
    parent.listen(received)
    kinds = []
    while (message := await read_frame(reader)) is not None:
        kind, body = message
        kinds.append(kind)
        if kind == "tally":
            assert relay(parent, body) == received.tallies[-1].events
    await writing
    assert kinds[-1] == "done" and kinds.count("tally") == -(-len(events) // 128)
    assert sum(t.events for t in received.tallies) == len(events)
    others = [e for t in received.tallies for e in t.others]
    assert others == [e for e in events if type(e) not in TALLIED]  # unchanged, in order
    assert sum(t.csv_rows for t in received.tallies) == sum(isinstance(e, TxEvent) for e in events)
    assert sum(t.sent.get("payment_app", 0) for t in received.tallies) == 300
    assert decode_event(encode_event(events[0])) == events[0]


class Tallies:
    def __init__(self) -> None:
        self.tallies: list[Tally] = []

    def on_tally(self, tally: Tally) -> None:
        self.tallies.append(tally)


async def test_a_truncated_stream_is_an_error_not_a_hang() -> None:
    read_fd, write_fd = os.pipe()
    reader = await pipe_reader(read_fd)
    with os.fdopen(write_fd, "wb") as out:
        out.write(frame("events", [encode_event(sample_events()[0])])[:-3])
    with pytest.raises(StreamError, match="inside a frame"):
        await asyncio.wait_for(read_frame(reader), 5)


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def run_args(devchain: DevChain, out: Path, duration: float, *rates: str) -> list[str]:
    args = ["--duration", str(duration), "--port", "0", "--out", str(out), "--seed", str(SEED),
            "--rpc-url", devchain.url, "--workers", "2", "--drain-timeout", "5"]
    for rate in rates:
        args += ["--rate", rate]
    return args


@pytest.fixture(scope="module")
def workers_run(devchain: DevChain, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("workers")
    args = run_args(devchain, out, 8, "payment=20", "merchant=4", "lending=2", "iot=1",
                    "iot_registration=2")
    env = clean_env(PRIVATE_KEY=devchain.funder_key.hex())
    proc = subprocess.run(main_cmd(*args), capture_output=True, text=True, env=env,
                          timeout=180)
    return {"proc": proc, "run_dir": (out / "latest").resolve()}


def test_two_workers_make_one_run(workers_run: dict[str, Any], devchain: DevChain) -> None:
    proc, run_dir = workers_run["proc"], workers_run["run_dir"]
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    summary = json.loads((run_dir / "summary.json").read_text())
    processes = summary["workers"]["processes"]
    assert summary["workers"]["count"] == 2 and summary["workers"]["failure"] is None
    assert [p["exit"] for p in processes] == ["exit status 0"] * 2
    assert all(p["events"] > 0 and p["nonce_resyncs"] == 0 for p in processes)
    rows = read_csv(run_dir / "tx_metrics.csv")
    # each sender belongs to exactly one worker's slice; both workers sent
    pool = WalletPool.derive(devchain.funder_key, SEED, pool_counts(COUNTS, 2))
    slices = [{w.address for w in slice_pool(pool, Slice(k, 2))
               if w.role in ("user", "merchant", "lender", "borrower")} for k in (0, 1)]
    assert not slices[0] & slices[1]
    transfer_rows = [r for r in rows if r["module"] != "data_pipeline"]
    by_slice = Counter(next(k for k in (0, 1) if r["sender"] in slices[k]) for r in transfer_rows)
    assert by_slice[0] > 0 and by_slice[1] > 0
    payments = sum(r["module"] == "payment_app" for r in rows)
    assert 20 * 8 * 0.75 <= payments <= 20 * 8 * 1.25
    assert all(r["status"] == "success" for r in rows)
    # the parent's IoT pipeline ran beside the workers' transfers
    assert sum(r["module"] == "data_pipeline" for r in rows) > 0
    assert summary["kpis"]["registrations"] > 0


def test_outputs_are_one_runs_built_from_every_workers_events(
    workers_run: dict[str, Any],
) -> None:
    run_dir = workers_run["run_dir"]
    rows = read_csv(run_dir / "tx_metrics.csv")
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["totals"]["finished"] == len(rows)
    prom = (run_dir / "metrics.prom").read_text()
    counted = sum(float(m[1]) for m in re.finditer(
        r'^kcstress_transactions_total\{[^}]*\} (\S+)$', prom, re.M) for m in [m])
    assert counted == len(rows)
    intervals = read_csv(run_dir / "kpi_intervals.csv")
    for name, figures in summary["kpis"]["workloads"].items():
        assert sum(int(r["successes"]) for r in intervals if r["workload"] == name) == figures[
            "successes"]
    # histograms.json holds the same (merged, not averaged) figures as summary.json
    agg = read_histograms(run_dir)
    assert agg.totals().latency.count == len(rows)
    for name, wl in agg.workloads.items():
        if wl.finished:
            figures = summary["kpis"]["workloads"][name]
            assert round(wl.latency.percentile(0.95), 9) == figures["p95"]


def test_a_worker_killed_with_sigkill_ends_the_run_cleanly(
    devchain: DevChain, tmp_path: Path,
) -> None:
    args = run_args(devchain, tmp_path, 60, "payment=20", "merchant=2", "lending=0", "iot=0",
                    "iot_registration=0")
    env = clean_env(PRIVATE_KEY=devchain.funder_key.hex())
    proc = subprocess.Popen(main_cmd(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    try:
        pid = wait_for_worker(tmp_path, proc, index=1)
        time.sleep(3)  # let it send for a while
        os.kill(pid, signal.SIGKILL)
        stdout, stderr = proc.communicate(timeout=120)  # a hang guard, not a bound
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, stdout[-2000:] + stderr[-3000:]
    run_dir = (tmp_path / "latest").resolve()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["duration_sec"] < 60  # the worker's death ended the 60 s run early
    assert "worker 1" in summary["exit_reason"] and "SIGKILL" in summary["exit_reason"]
    exits = {p["index"]: p["exit"] for p in summary["workers"]["processes"]}
    assert exits == {0: "exit status 0", 1: "killed by SIGKILL"}
    assert (run_dir / "report.html").is_file() and (run_dir / "histograms.json").is_file()
    assert "SIGKILL" in stdout  # the final table's verdict line names the reason
    assert summary["kpis"]["workloads"]["payment_app"]["successes"] > 0


def wait_for_worker(out: Path, proc: subprocess.Popen[str], index: int) -> int:
    """The pid of worker ``index`` once run.log says every worker is ready (a worker killed
    before that fails the start-up instead: exit 2)."""
    deadline = time.monotonic() + 90
    pattern = re.compile(rf"worker {index} started \(pid (\d+)\)")
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        log = out / "latest" / "run.log"
        text = log.read_text() if log.exists() else ""
        if "workers ready" in text and (found := pattern.search(text)):
            return int(found[1])
        time.sleep(0.2)
    raise AssertionError("worker never started")


def test_the_collector_tuned_for_the_load_still_frees_cycles() -> None:
    code = """
import gc, sys, weakref
from utils.load.gc_tuning import LOAD_THRESHOLDS, tune_for_load
kept = [object() for _ in range(1000)]
tune_for_load()
assert gc.get_threshold() == LOAD_THRESHOLDS and gc.get_freeze_count() >= 1000
class Node:
    pass
first = Node(); first.me = first; ref = weakref.ref(first); del first
for _ in range(2 * LOAD_THRESHOLDS[0]):
    node = Node(); node.me = node
assert ref() is None, "a cycle made under load was never collected"
print("ok", gc.get_stats()[0]["collections"])
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, cwd=Path(__file__).resolve().parent.parent)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("ok ")
