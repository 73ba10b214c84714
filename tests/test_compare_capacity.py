"""``main.py compare`` over capacity searches: the knee (with the search's bracket) and the
costs compare, the search's path-dependent rates and latencies do not; a chain capped at ten
transfers a block has a lower knee than one without a cap, and a search gated on
``capacity.knee`` fails. Two searches on anvil (slow)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.conftest import clean_env, main_cmd
from utils.devchain.anvil import AnvilChain
from utils.report.compare import REGRESSED, SAME
from utils.report.compare_cli import compare_main


def search(chain: AnvilChain, out: Path, *extra: str) -> Path:
    args = ["capacity", "--rpc-url", chain.url, "--port", "0", "--out", str(out), "--seed", "5",
            "--dapp", "transfers", "--start-rate", "8", "--max-rate", "64", "--hold", "3",
            "--warmup", "1", *extra]
    done = subprocess.run(main_cmd(*args), capture_output=True, text=True, timeout=400,
                          env=clean_env(PRIVATE_KEY=chain.funder_key.hex()))
    # 3: no knee up to --max-rate (its capacity is then a lower bound)
    assert done.returncode in (0, 1, 3), done.stdout[-2000:] + done.stderr[-2000:]
    return (out / "latest").resolve()


def test_a_capped_chains_knee_is_a_regression(anvil_installed: Path, tmp_path: Path) -> None:
    with AnvilChain.start(block_time=0.5) as chain:
        fast = search(chain, tmp_path / "fast")
    with AnvilChain.start(block_time=1.0, gas_limit=10 * 21_000) as chain:
        capped = search(chain, tmp_path / "capped", "--threshold", "capacity.knee>=12",
                        "--junit", str(tmp_path / "gate.xml"))
    summary = json.loads((capped / "summary.json").read_text())
    knee = next(c for c in summary["verdict"]["checks"] if c["kind"] == "threshold")
    assert knee["status"] == "missed" and knee["measured"] < 12  # 10 transfers/s at most
    assert summary["verdict"]["exit_code"] == 1

    assert compare_main([str(fast), str(fast), "--out", str(tmp_path / "same")]) == 0
    same = json.loads((tmp_path / "same" / "compare.json").read_text())
    figures = {f["name"]: f for f in same["comparisons"][0]["figures"]}
    assert figures["capacity.knee"]["verdict"] == SAME
    assert figures["capacity.knee"]["method"] == "search bracket"
    assert "totals.p95" not in figures and "totals.throughput" not in figures
    assert "totals.l2_gas_per_op" in figures

    assert compare_main([str(fast), str(capped), "--out", str(tmp_path / "worse")]) == 1
    worse = json.loads((tmp_path / "worse" / "compare.json").read_text())
    regressed = worse["comparisons"][0]["regressed"]
    assert "capacity.knee" in regressed  # and maybe the fee: full blocks raise the base fee
    assert set(regressed) <= {"capacity.knee", "totals.fee_per_op", "payment_app.fee_per_op"}
    knee_figure = next(f for f in worse["comparisons"][0]["figures"]
                       if f["name"] == "capacity.knee")
    assert knee_figure["verdict"] == REGRESSED and knee_figure["high"] < 0
