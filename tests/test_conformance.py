"""Conformance: the same short mixed run (every workload at a modest rate, IoT on, the dApp
flavour the chain supports) against every node the project installs, each outcome checked
against the node's own receipts and blocks (tests/chain_truth.py): 0 wrong, 0 unrecorded.

The runs reach their node through tests/rpc_proxy.py without faults (it counts the requests
sent to the node). One short run per node is not marked slow; the checker's own test and the
dialect probe are.
"""

from __future__ import annotations

import csv
import shutil
import urllib.error
from pathlib import Path
from typing import Any

import pytest

from tests.chain_truth import assert_clean, check_run, mixed_run, read_rows
from tests.nodes import require_node, rpc_reply, start_node
from tests.rpc_proxy import FAULT_MODES

#: (kind, block time): the embedded chain at its default, anvil at 1 s and 0.25 s, Hardhat 3
#: and ganache 7 at 1 s. Ganache 7 keeps some transactions (sent once, at their sender's next
#: nonce) in its "queued" pool for good; the run's follower and set-up paths send such stalled
#: transactions again in their same bytes, which ganache then mines (utils/chain/
#: follower_repair.py), so its run is as clean as the others'.
NODES = [("embedded", 0.25), ("anvil", 1.0), ("anvil", 0.25), ("hardhat", 1.0),
         ("ganache", 1.0)]


@pytest.mark.parametrize(("kind", "block_time"), [
    pytest.param(k, b, id=f"{k}-{b:g}s") for k, b in NODES])
def test_short_mixed_run_agrees_with_the_node(kind: str, block_time: float,
                                              tmp_path: Path) -> None:
    require_node(kind)
    with start_node(kind, block_time=block_time) as node:
        result = mixed_run(node, FAULT_MODES["none"], tmp_path, duration=8)
    assert not node.is_alive()
    assert_clean(result, flavour="stylus" if node.stylus else "evm")
    assert result.requests > 0 and result.injected == {}


def _rewrite(src: Path, dst: Path, change: str) -> None:
    """Copy the run folder ``src`` to ``dst`` with tx_metrics.csv altered by ``change``."""
    shutil.copytree(src, dst, symlinks=True)
    rows = read_rows(src)
    fields = list(rows[0])
    payments = [i for i, r in enumerate(rows) if r["module"] == "payment_app"]
    first, second = payments[0], payments[1]
    if change == "timeout":
        rows[first]["status"] = "timeout"
    elif change == "block":
        rows[first]["block_number"] = str(int(rows[first]["block_number"]) + 1)
    elif change == "twice":
        rows.append(dict(rows[first]))
    elif change == "missing":
        del rows[second]
    with open(dst / "tx_metrics.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fields)
        writer.writeheader()
        writer.writerows(rows)


def test_the_checker_finds_wrong_and_unrecorded_transactions(tmp_path: Path) -> None:
    """One clean run on anvil, then its record altered: an outcome, a block, a row twice, a
    row missing; and the set-up's hashes not given: the checker counts each."""
    require_node("anvil")
    with start_node("anvil", block_time=0.25) as node:
        result = mixed_run(node, FAULT_MODES["none"], tmp_path / "run", duration=4)
        assert_clean(result)
        assert result.run_dir is not None and result.truth is not None
        clean = result.truth
        assert clean.chain_txs == clean.checked > 0 and clean.setup_txs > 0
        setup = result.setup_hashes
        for change, wrong, unrecorded in [("timeout", 1, 0), ("block", 1, 0), ("twice", 1, 0),
                                          ("missing", 0, 1)]:
            altered = tmp_path / change
            _rewrite(result.run_dir, altered, change)
            truth = check_run(altered, node.url, node.key, setup_hashes=setup, settle_blocks=0)
            assert (len(truth.wrong), len(truth.unrecorded)) == (wrong, unrecorded), \
                (change, truth.wrong, truth.unrecorded)
        bare = check_run(result.run_dir, node.url, node.key, settle_blocks=0)
        assert len(bare.unrecorded) == clean.setup_txs and bare.wrong == []


#: "method not supported" per node, as measured (docs: design.md, facts of 2026-12-05)
DIALECT_CODES = {"embedded": -32601, "anvil": -32601, "hardhat": -32004, "ganache": -32700}


@pytest.mark.parametrize("kind", list(DIALECT_CODES))
def test_each_node_says_not_supported_in_its_dialect(kind: str) -> None:
    """Each node's answer for a method it does not serve (the proxy replays these), and which
    of the run's optional methods it serves."""
    require_node(kind)
    with start_node(kind, block_time=1.0) as node:
        try:
            unknown = rpc_reply(node.url, "kc_noSuchMethod")
        except urllib.error.HTTPError as exc:  # pragma: no cover - would be a new dialect
            pytest.fail(f"{kind} answered HTTP {exc.code}")
        probes: list[tuple[str, list[Any]]] = [
            ("eth_getBlockReceipts", ["latest"]), ("trace_block", ["latest"]),
            ("eth_maxPriorityFeePerGas", []), ("eth_feeHistory", [2, "latest", [50]])]
        served = {m: "result" in rpc_reply(node.url, m, *p) for m, p in probes}
    assert unknown["error"]["code"] == DIALECT_CODES[kind], unknown
    if kind == "ganache":
        assert "does not exist/is not available" in unknown["error"]["message"]
    assert served["eth_maxPriorityFeePerGas"] and served["eth_feeHistory"]
    assert served["eth_getBlockReceipts"] == (kind in ("anvil", "embedded"))
    assert served["trace_block"] == (kind == "anvil")
