"""Finality stages (issue 21.4) and the L1 defaults (21.3, 21.6).

A short run on the embedded chain (its emulated batch poster and parent-chain clock answer
NodeInterface) follows every transaction to its three stages: summary.json, finality.csv,
metrics.prom and report.html show them, in order per transaction. On anvil (no NodeInterface)
the tracker skips the stages with one line; a transport that cannot reach the node is not
"no NodeInterface". The run's L1 data cost is modelled at Nitro's 50 gwei by default and
said to be "not modelled" at 0.
"""

from __future__ import annotations

import csv
import json
import logging
import re
import subprocess
from typing import Any

import pytest

from tests.conftest import clean_env, main_cmd, table_rows
from utils.chain.connect import ChainInfo
from utils.chain.finality import ABSENT, FinalityTracker
from utils.chain.finality_calls import Presence
from utils.chain.l1_price import l1_price_wei
from utils.chain.rpc import Rpc
from utils.chain.rpc_retry import RetryPolicy
from utils.clock import Clock
from utils.observe.events import (
    FINALITY_STAGES,
    FinalityEvent,
    Outcome,
    TxCorrectionEvent,
    TxEvent,
)
from utils.observe.finality_stats import FinalityStats
from utils.observe.stats import StatsHub
from utils.run.finality_part import NOT_MODELLED, FinalityPart, l1_costs
from utils.settings import load_settings


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A default-priced run on the embedded chain, every transaction sampled."""
    out = tmp_path_factory.mktemp("finality")
    args = ["--duration", "6", "--port", "0", "--out", str(out), "--seed", "5",
            "--dapp", "transfers", "--finality-sample", "1", "--finality-wait", "30",
            "--rate", "payment=4", "--rate", "merchant=1", "--rate", "lending=0",
            "--rate", "iot=0", "--rate", "iot_registration=0"]
    proc = subprocess.run(main_cmd(*args), capture_output=True, text=True, env=clean_env(),
                          timeout=240)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run_dir = (out / "latest").resolve()
    return {"proc": proc, "dir": run_dir,
            "summary": json.loads((run_dir / "summary.json").read_text())}


def test_every_stage_is_reached_in_order(run: dict[str, Any]) -> None:
    block = run["summary"]["finality"]
    stages = block["stages"]
    assert list(stages) == list(FINALITY_STAGES)
    assert block["confirmations"] == 1 and block["sample"] == 1
    for stage in FINALITY_STAGES:
        assert stages[stage]["count"] > 0, stage
    # every transaction with a receipt is in the sample (share 1)
    table = table_rows(run["proc"].stdout)
    assert block["sampled"] == stages["receipt"]["count"] == int(table["total"]["success"])
    assert (stages["receipt"]["p50_sec"] <= stages["batch_posted"]["p50_sec"]
            <= stages["l1_confirmed"]["p50_sec"])
    with (run["dir"] / "finality.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == block["sampled"]
    confirmed = [r for r in rows if r["l1_confirmed_sec"]]
    assert len(confirmed) == stages["l1_confirmed"]["count"] > 0
    for row in confirmed:  # per transaction: receipt <= batch posted <= L1 confirmed
        assert (float(row["receipt_sec"]) <= float(row["batch_posted_sec"])
                <= float(row["l1_confirmed_sec"])), row
        assert int(row["batch"]) >= 1 and int(row["l1_block"]) > 0
    with (run["dir"] / "tx_metrics.csv").open(newline="") as fh:
        hashes = {r["tx_hash"] for r in csv.DictReader(fh)}
    assert {r["tx_hash"] for r in rows} <= hashes
    assert "finality of" in run["proc"].stdout


def test_metrics_and_report_show_the_stages(run: dict[str, Any]) -> None:
    prom = (run["dir"] / "metrics.prom").read_text()
    stages = run["summary"]["finality"]["stages"]
    for stage in FINALITY_STAGES:
        found = re.search(rf'kcstress_finality_latency_seconds_count\{{stage="{stage}"\}} '
                          r"([0-9.e+]+)", prom)
        assert found is not None and float(found.group(1)) == stages[stage]["count"]
    report = (run["dir"] / "report.html").read_text()
    assert "<h2>Finality stages</h2>" in report
    assert 'alt="finality stage latency percentiles"' in report


def test_l1_data_cost_is_modelled_by_default(run: dict[str, Any]) -> None:
    summary = run["summary"]
    cost = dict(summary["l1_data_cost"])
    # the price ArbGasInfo answered at the load's start and end (the pricer may have moved it)
    prices = cost.pop("l1_price_gwei_start"), cost.pop("l1_price_gwei_end")
    assert cost == {"modelled": True, "l1_base_fee_gwei": 50.0,
                    "source": "the embedded chain's Nitro L1 pricing"}
    assert all(0 < p <= 100 for p in prices), prices
    total = table_rows(run["proc"].stdout)["total"]
    assert int(total["l1_gas"]) > 0 and int(total["fee/op(gwei)"].replace(",", "")) > 0
    assert NOT_MODELLED not in run["proc"].stdout
    report = (run["dir"] / "report.html").read_text()
    assert "L1 data cost: from the embedded chain" in report
    assert f"L1 price per unit (ArbGasInfo.getL1BaseFeeEstimate) {prices[0]:.4g} gwei" in report


def test_l1_price_0_is_said_to_be_not_modelled() -> None:
    assert load_settings({}).l1_base_fee_gwei == 50.0  # Nitro's InitialPricePerUnitWei
    info = ChainInfo("http://127.0.0.1:1", 1337, b"", True, "kcdev/1")
    off = l1_costs(load_settings({"l1_base_fee_gwei": 0}), info)
    assert off["modelled"] is False and off["note"] == NOT_MODELLED
    remote = l1_costs(load_settings({"l1_base_fee_gwei": 0, "rpc_url": "http://127.0.0.1:1"}),
                      ChainInfo("http://127.0.0.1:1", 42161, b"", False, "nitro"))
    assert remote["modelled"] is True and "gasUsedForL1" in remote["source"]
    # a kept chain not given a price: its own (as ArbGasInfo answered), not the 50 gwei default
    kept = l1_costs(load_settings({"devchain_data_dir": "/tmp/kept-chain"}), info,
                    {"start": 47_500_000_000, "end": None})
    assert kept == {"modelled": True, "source": "the embedded chain's Nitro L1 pricing",
                    "l1_price_gwei_start": 47.5}
    anvil = l1_costs(load_settings({"chain": "anvil"}),
                     ChainInfo("http://127.0.0.1:1", 31337, b"", False, "anvil/v1"))
    assert anvil == {"modelled": False, "source": "anvil has no L1 pricing",
                     "note": NOT_MODELLED}


@pytest.mark.asyncio(loop_scope="module")
async def test_anvil_has_no_node_interface(anvil_rpc: Rpc,
                                           caplog: pytest.LogCaptureFixture) -> None:
    hub = StatsHub()
    tracker = FinalityTracker(anvil_rpc, hub, Clock().now, sample=1.0, confirmations=1)
    with caplog.at_level(logging.INFO, logger="utils.chain.finality"):
        await tracker.start()
        await tracker.finish(5.0)
    assert tracker.presence is Presence.ABSENT and tracker.skipped == ABSENT
    lines = [r.getMessage() for r in caplog.records if r.name == "utils.chain.finality"]
    assert len(lines) == 1 and "skipped: no NodeInterface at 0xc8" in lines[0], lines
    assert FinalityPart(tracker, FinalityStats()).summary() == {"skipped": ABSENT}
    assert await l1_price_wei(anvil_rpc) is None  # no ArbGasInfo: no L1 price said


async def test_a_node_that_does_not_answer_is_not_absent(unused_tcp_port: int) -> None:
    """Connection refused is transient: the tracker asks again, it never says 'absent'."""
    retry = RetryPolicy(base=0.01, attempts=2, budget=2.0)
    async with Rpc(f"http://127.0.0.1:{unused_tcp_port}", retry=retry) as rpc:
        tracker = FinalityTracker(rpc, StatsHub(), Clock().now, sample=1.0, confirmations=1)
        await tracker.start()
        assert tracker.presence is Presence.UNKNOWN and tracker.skipped is None
        await tracker.poll_once()
        assert tracker.presence is Presence.UNKNOWN
        await tracker.finish(0.0)
    assert tracker.skipped == "NodeInterface did not answer"


def test_the_sample_is_chosen_by_hash() -> None:
    tracker = FinalityTracker(Rpc("http://127.0.0.1:1"), StatsHub(), Clock().now,
                              sample=0.25, confirmations=1)
    hashes = [f"0x{i:064x}" for i in range(0, 2**32, 2**22)]  # 1,024 spread evenly
    chosen = [h for h in hashes if tracker.samples(h)]
    assert len(chosen) == 256 and not tracker.samples("")
    off = FinalityTracker(Rpc("http://127.0.0.1:1"), StatsHub(), Clock().now, sample=0.0,
                          confirmations=1)
    assert off.skipped is not None and not off.samples(hashes[0])


def test_a_corrected_transaction_is_followed_in_its_new_block() -> None:
    """A reorg moves a followed transaction: its later stages are read in its new block; one
    removed from the chain is followed no more. Its receipt stage is emitted once."""
    hub, seen = StatsHub(), []
    hub.tap(seen.append)
    tracker = FinalityTracker(Rpc("http://127.0.0.1:1"), hub, Clock().now, sample=1.0,
                              confirmations=1)
    tx = TxEvent("payment_app", "payment_app", Outcome.SUCCESS, "0x" + "ab" * 32, 10.0, 10.1,
                 10.4, 7, 21_000, "0x" + "11" * 20, 0)
    hub.emit(tx)
    receipts = [e for e in seen if isinstance(e, FinalityEvent)]
    assert [(e.stage, e.block_number, e.latency) for e in receipts] == [
        ("receipt", 7, pytest.approx(0.4))]
    assert tracker.pending == 1
    moved = dict(timestamp=11.0, workload="payment_app", operation="", tx_hash=tx.tx_hash,
                 sender=tx.sender, nonce=0, old_gas_used=21_000, new_gas_used=21_000)
    hub.emit(TxCorrectionEvent(old_outcome="success", new_outcome="success", old_block=7,
                               new_block=9, reason="reorg", **moved))
    assert tracker.pending == 1 and sorted(tracker._unposted) == [9]
    hub.emit(TxCorrectionEvent(old_outcome="success", new_outcome="reorged", old_block=9,
                               new_block=None, reason="reorg", **moved))
    assert tracker.pending == 0 and not tracker._unposted
    assert len([e for e in seen if isinstance(e, FinalityEvent)]) == 1
