"""Finality stages with ``--workers 2`` (issue 21.4): each worker follows the sample of its
own transactions, and their stage events reach the parent's summary.json, finality.csv and
metrics.prom through the tallies every other figure takes.
"""

from __future__ import annotations

import csv
import json
import re
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import clean_env, main_cmd
from tests.test_workers import COUNTS, SEED
from utils.chain.wallets import WalletPool
from utils.devchain import DevChain
from utils.load.shards import Slice, pool_counts, slice_pool
from utils.observe.events import FINALITY_STAGES
from utils.report.merge import merge_runs


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def workers_run(devchain: DevChain, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Two workers' transfers, every transaction sampled."""
    out = tmp_path_factory.mktemp("finality-workers")
    args = ["--duration", "4", "--port", "0", "--out", str(out), "--seed", str(SEED),
            "--rpc-url", devchain.url, "--workers", "2", "--drain-timeout", "5",
            "--finality-sample", "1", "--finality-wait", "30",
            "--rate", "payment=4", "--rate", "merchant=2", "--rate", "lending=0",
            "--rate", "iot=0", "--rate", "iot_registration=0"]
    env = clean_env(PRIVATE_KEY=devchain.funder_key.hex())
    proc = subprocess.run(main_cmd(*args), capture_output=True, text=True, env=env,
                          timeout=180)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    run_dir = (out / "latest").resolve()
    return {"proc": proc, "dir": run_dir,
            "summary": json.loads((run_dir / "summary.json").read_text())}


def test_both_workers_transactions_reach_every_stage(workers_run: dict[str, Any],
                                                     devchain: DevChain) -> None:
    run_dir, block = workers_run["dir"], workers_run["summary"]["finality"]
    included = {r["tx_hash"]: r["sender"] for r in read_csv(run_dir / "tx_metrics.csv")
                if r["status"] in ("success", "reverted")}
    rows = read_csv(run_dir / "finality.csv")
    # share 1: every included transaction of the run (all sent by the workers) is sampled
    assert {r["tx_hash"] for r in rows} == set(included)
    assert block["sampled"] == block["stages"]["receipt"]["count"] == len(included) > 0
    assert block["not_followed"] == 0
    pool = WalletPool.derive(devchain.funder_key, SEED, pool_counts(COUNTS, 2))
    slices = [{w.address for w in slice_pool(pool, Slice(k, 2))} for k in (0, 1)]
    confirmed = Counter(next(k for k in (0, 1) if included[r["tx_hash"]] in slices[k])
                        for r in rows if r["l1_confirmed_sec"])
    assert confirmed[0] > 0 and confirmed[1] > 0, confirmed
    assert sum(confirmed.values()) == block["stages"]["l1_confirmed"]["count"]
    prom = (run_dir / "metrics.prom").read_text()
    for stage in FINALITY_STAGES:
        found = re.search(rf'kcstress_finality_latency_seconds_count\{{stage="{stage}"\}} '
                          r"([0-9.e+]+)", prom)
        assert found is not None and float(found.group(1)) == block["stages"][stage]["count"]


def test_merge_adds_the_shards_finality_histograms(workers_run: dict[str, Any],
                                                   tmp_path: Path) -> None:
    """Two shards (here the same run directory twice): counts add, percentiles of the same
    distribution stay, finality.csv holds both shards' rows."""
    run_dir, block = workers_run["dir"], workers_run["summary"]["finality"]
    assert set(json.loads((run_dir / "histograms.json").read_text())["finality"]) == set(
        FINALITY_STAGES)
    out = merge_runs([run_dir, run_dir], tmp_path / "merged")
    merged = json.loads((out / "summary.json").read_text())["finality"]
    assert merged["sampled"] == 2 * block["sampled"] > 0
    assert merged["not_followed"] == 2 * block["not_followed"]
    assert (merged["sample"], merged["confirmations"]) == (block["sample"],
                                                           block["confirmations"])
    for stage in FINALITY_STAGES:
        mine, theirs = merged["stages"][stage], block["stages"][stage]
        assert mine["count"] == 2 * theirs["count"] and mine["pending"] == 2 * theirs["pending"]
        assert mine["p50_sec"] == theirs["p50_sec"] and mine["max_sec"] == theirs["max_sec"]
    assert len(read_csv(out / "finality.csv")) == 2 * len(read_csv(run_dir / "finality.csv"))
    assert "<h2>Finality stages</h2>" in (out / "report.html").read_text()
