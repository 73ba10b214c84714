"""End-to-end runs of ``python main.py``: the CSV, the final table and the chain agree."""

from __future__ import annotations

import csv
import json
import re
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from web3 import Web3

from tests.conftest import clean_env, main_cmd, table_rows
from utils.chain.wallets import WalletPool
from utils.devchain import DevChain
from utils.observe.iot_rows import EVENT_OPERATIONS

SEED = 7
RATES = {"payment": 12, "merchant": 6, "lending": 4, "iot": 2, "iot_registration": 4}


@pytest.fixture(scope="module")
def finished_run(devchain: DevChain, tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("e2e")
    args = ["--duration", "12", "--port", "0", "--out", str(out), "--interval", "3",
            "--seed", str(SEED), "--rpc-url", devchain.url]
    for name, rate in RATES.items():
        args += ["--rate", f"{name}={rate}"]
    env = clean_env(PRIVATE_KEY=devchain.funder_key.hex())
    proc = subprocess.run(main_cmd(*args), capture_output=True, text=True, env=env, timeout=180)
    run_dir = (out / "latest").resolve()
    return {"proc": proc, "run_dir": run_dir, "out": out}


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_run_succeeds_and_writes_its_files(finished_run: dict) -> None:
    proc = finished_run["proc"]
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run_dir: Path = finished_run["run_dir"]
    assert re.fullmatch(r"\d{8}T\d{6}Z-[0-9a-f]{6}", run_dir.name)
    for name in ("tx_metrics.csv", "iot_metrics.csv", "kpi_intervals.csv", "summary.json",
                 "report.html", "run.log", "lcore.db"):
        assert (run_dir / name).is_file(), name


def test_csv_counts_equal_the_final_table(finished_run: dict) -> None:
    rows = read_csv(finished_run["run_dir"] / "tx_metrics.csv")
    assert list(rows[0])[:7] == ["timestamp", "module", "tx_hash", "status", "gas_used",
                                 "latency_sec", "error"]
    assert list(rows[0])[7:13] == ["intended_at", "sent_at", "included_at", "block_number",
                                   "sender", "nonce"]
    table = table_rows(finished_run["proc"].stdout)
    by_module = Counter(r["module"] for r in rows)
    by_outcome = Counter((r["module"], r["status"]) for r in rows)
    for workload in ("payment_app", "merchant_app", "lending_app", "data_pipeline"):
        assert int(table[workload]["sent"]) == by_module[workload] > 0
        assert int(table[workload]["success"]) == by_outcome[(workload, "success")]
        gas = sum(int(r["gas_used"]) for r in rows if r["module"] == workload)
        assert int(table[workload]["gas"]) == gas
    assert int(table["total"]["sent"]) == len(rows)
    # offered load was met: about rate x duration transactions per workload
    assert 12 * 12 * 0.8 <= by_module["payment_app"] <= 12 * 12 * 1.2


def test_csv_rows_match_the_chain(finished_run: dict, devchain: DevChain) -> None:
    rows = read_csv(finished_run["run_dir"] / "tx_metrics.csv")
    w3 = Web3(Web3.HTTPProvider(devchain.url))
    for row in rows:
        assert row["status"] == "success", row
        receipt = w3.eth.get_transaction_receipt(row["tx_hash"])
        assert receipt["blockNumber"] == int(row["block_number"])
        assert receipt["gasUsed"] == int(row["gas_used"])
        assert receipt["status"] == 1
        tx = w3.eth.get_transaction(row["tx_hash"])
        assert tx["from"] == row["sender"] and tx["nonce"] == int(row["nonce"])
        assert float(row["intended_at"]) <= float(row["sent_at"]) <= float(row["included_at"])
        assert abs(float(row["latency_sec"]) - (float(row["included_at"])
                                                 - float(row["intended_at"]))) < 0.002


def test_summary_agrees_and_records_verified(finished_run: dict) -> None:
    summary = json.loads((finished_run["run_dir"] / "summary.json").read_text())
    rows = read_csv(finished_run["run_dir"] / "tx_metrics.csv")
    assert summary["seed"] == SEED
    assert summary["totals"]["finished"] == len(rows)
    for name, figures in summary["kpis"]["workloads"].items():
        assert figures["finished"] == sum(r["module"] == name for r in rows)
    verify = summary["iot"]["verify"]
    assert verify["mismatch"] == 0 and verify["missing_on_chain"] == 0 and verify["ok"] > 0
    assert "verified" in finished_run["proc"].stdout
    gas = summary["iot"]["gas_per_record"]
    # against --rpc-url without a configured address the EVM twin is deployed
    assert summary["contract"]["flavour"] == "evm" and 300_000 < gas < 600_000
    assert f"<b>{gas:,}</b>" in (finished_run["run_dir"] / "report.html").read_text()


def test_no_private_key_in_any_file_or_log(finished_run: dict, devchain: DevChain) -> None:
    counts = {"user": 16, "merchant": 4, "settlement": 1, "lender": 2, "borrower": 8,
              "committer": 4}
    pool = WalletPool.derive(devchain.funder_key, SEED, counts)
    secrets = {devchain.funder_key.hex()} | {bytes(w.account.key).hex() for w in pool}
    proc = finished_run["proc"]
    texts = [proc.stdout, proc.stderr]
    out: Path = finished_run["out"]
    for path in out.rglob("*"):
        if path.is_file():
            texts.append(path.read_bytes().hex() + path.read_bytes().decode("latin-1"))
    for text in texts:
        low = text.lower()
        for secret in secrets:
            assert secret not in low


def prom_samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """{sorted label pairs: value} of one metric in Prometheus text format."""
    from prometheus_client.parser import text_string_to_metric_families

    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                out[tuple(sorted(sample.labels.items()))] = sample.value
    return out


def test_metrics_summary_intervals_and_csvs_agree(finished_run: dict) -> None:
    run_dir: Path = finished_run["run_dir"]
    txs = read_csv(run_dir / "tx_metrics.csv")
    iot = read_csv(run_dir / "iot_metrics.csv")
    intervals = read_csv(run_dir / "kpi_intervals.csv")
    summary = json.loads((run_dir / "summary.json").read_text())
    final = (run_dir / "metrics.prom").read_text()
    by_outcome = Counter((r["module"], r["status"]) for r in txs)
    prom_tx = prom_samples(final, "kcstress_transactions_total")
    for (workload, outcome), n in by_outcome.items():
        assert prom_tx[(("outcome", outcome), ("workload", workload))] == n
    assert sum(prom_tx.values()) == len(txs)
    for workload, figures in summary["kpis"]["workloads"].items():
        rows = [r for r in txs if r["module"] == workload]
        assert figures["finished"] == len(rows)
        assert figures["successes"] == sum(r["status"] == "success" for r in rows)
        assert figures["gas_used"] == sum(int(r["gas_used"]) for r in rows)
        per_interval = [r for r in intervals if r["workload"] == workload]
        assert sum(int(r["successes"]) for r in per_interval) == figures["successes"]
        assert sum(int(r["gas_used"]) for r in per_interval) == figures["gas_used"]
    _iot_csv_agrees_with_metrics(iot, prom_samples(final, "kcstress_iot_operations_total"))
    assert summary["kpis"]["total_operations"] == len(iot)  # one row per operation


def _iot_csv_agrees_with_metrics(iot: list[dict[str, str]], prom: dict) -> None:
    """iot_metrics.csv (one row per operation, the original's names) vs the stage counters."""
    def count(operation: str, stage: str, *outcomes: str) -> float:
        return sum(prom.get((("operation", operation), ("outcome", o), ("stage", stage)), 0)
                   for o in outcomes)

    assert {r["operation"] for r in iot} == {"registration", "data_submission"}
    by_op = Counter((EVENT_OPERATIONS[r["operation"]], r["success"]) for r in iot)
    for (operation, success), n in by_op.items():
        assert count(operation, "total", "success" if success == "True" else "failure") == n
    assert sum(v for k, v in prom.items() if ("stage", "total") in k) == len(iot)
    for operation in ("register", "submit"):
        rows = [r for r in iot if EVENT_OPERATIONS[r["operation"]] == operation]
        for stage in ("validate", "encrypt", "store"):
            timed = sum(1 for r in rows if r[f"{stage}_sec"])
            assert timed == count(operation, stage, "success", "failure"), (operation, stage)
    committed = sum(r["commit_status"] == "committed" for r in iot)
    assert committed == count("submit", "commit", "success") > 0
    assert all(r["pipeline_stage"] == ("lcore_api" if r["operation"] == "registration"
                                       else "complete_pipeline") for r in iot
               if r["success"] == "True")
    assert all(r["tx_hash"].startswith("0x") and float(r["commit_sec"]) > 0
               for r in iot if r["commit_status"] == "committed")


def test_report_is_rebuilt_from_the_run_files_alone(finished_run: dict, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "elsewhere"
    shutil.copytree(finished_run["run_dir"], copy, ignore=shutil.ignore_patterns(
        "report.html", "lcore.db*", "metrics.prom", "run.log"))
    proc = subprocess.run(main_cmd("report", str(copy)), capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    html = (copy / "report.html").read_text()
    assert html.startswith("<!doctype html>") and html.count("data:image/png;base64,") >= 4
    # the run's figures came from its figure process, drawn while it verified: the same
    images = re.compile(r'src="data:image/png;base64,([^"]+)"')
    run_html = (finished_run["run_dir"] / "report.html").read_text()
    assert images.findall(run_html) == images.findall(html)
    assert "payment_app" in html and "Files not found" not in html
    bad = subprocess.run(main_cmd("report", str(tmp_path / "missing")), capture_output=True,
                         text=True, timeout=60)
    assert bad.returncode == 2 and "error:" in bad.stderr
