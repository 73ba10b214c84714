"""``main.py compare`` and a run's gate, on real runs: no false alarm for a run against itself
and against a rerun of the same seed; real alarms for a chain slowed down (anvil with longer
blocks and a gas cap that holds ten transfers a block); thresholds in the run's one verdict,
summary.json, its final line and JUnit file.

Three runs of 6 s on anvil (plain transfers: the chain, not the contracts, is what differs),
shared by the module's tests."""

from __future__ import annotations

import json
import re
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import clean_env, main_cmd
from utils.devchain.anvil import AnvilChain
from utils.report.compare import IMPROVED, REGRESSED, SAME
from utils.report.compare_cli import compare_main
from utils.report.merge import merge_runs

SEED = 11
TRANSFER_GAS = 21_000
RATES = ("payment=20", "merchant=5", "lending=0", "iot=0", "iot_registration=0")


def run(chain: AnvilChain, out: Path, *extra: str, **env: str) -> subprocess.CompletedProcess:
    args = ["--duration", "6", "--port", "0", "--out", str(out), "--interval", "1",
            "--seed", str(SEED), "--rpc-url", chain.url, "--dapp", "transfers",
            "--drain-timeout", "3", *extra]
    for rate in RATES:
        args += ["--rate", rate]
    return subprocess.run(main_cmd(*args), capture_output=True, text=True, timeout=180,
                          env=clean_env(PRIVATE_KEY=chain.funder_key.hex(), **env))


@pytest.fixture(scope="module")
def runs(anvil_installed: Path, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[dict[str, object]]:
    """base and rerun (same seed) on a chain of 0.5 s blocks; slowed on one of 1 s blocks
    holding 10 transfers each (capacity 10/s for 25/s offered). The rerun and the slowed run
    are gated against the base."""
    out = tmp_path_factory.mktemp("compare")
    found: dict[str, object] = {"out": out}
    with AnvilChain.start(block_time=0.5) as chain:
        found["base"] = run(chain, out / "base")
        found["rerun"] = run(chain, out / "rerun", "--baseline", str(out / "base" / "latest"),
                             "--threshold", "totals.success>=99.5%", "--threshold",
                             "p95<=+100%", "--threshold", "missed<=0.5%",
                             "--junit", str(out / "rerun.xml"))
    with AnvilChain.start(block_time=1.0, gas_limit=10 * TRANSFER_GAS) as chain:
        # no success target: the thresholds alone decide this run's exit
        found["slowed"] = run(chain, out / "slowed", "--baseline",
                              str(out / "base" / "latest"), "--threshold", "p95<=+10%",
                              "--threshold", "throughput>=-5%", "--threshold", "missed<=0.5%",
                              "--junit", str(out / "slowed.xml"), TARGET_SUCCESS_RATE="0")
    for name in ("base", "rerun", "slowed"):
        found[f"{name}_dir"] = (out / name / "latest").resolve()
    yield found


def compare(runs: dict[str, object], *names: str, extra: tuple[str, ...] = ()
            ) -> tuple[int, dict, Path]:
    out = Path(str(runs["out"])) / "-".join(names)
    code = compare_main([*(str(runs[f"{n}_dir"]) for n in names), "--out", str(out),
                         "--junit", str(out.with_suffix(".xml")), *extra])
    return code, json.loads((out / "compare.json").read_text()), out


def verdicts(result: dict, index: int = 0) -> dict[str, str]:
    return {f["name"]: f["verdict"] for f in result["comparisons"][index]["figures"]}


def test_the_runs_ran(runs: dict[str, object]) -> None:
    base = runs["base"]
    assert isinstance(base, subprocess.CompletedProcess)
    assert base.returncode == 0, base.stdout[-2000:] + base.stderr[-2000:]


def test_a_run_against_itself_changes_nothing(runs: dict[str, object]) -> None:
    code, result, _ = compare(runs, "base", "base")
    assert code == 0
    figures = result["comparisons"][0]["figures"]
    assert {"totals.throughput", "totals.p95", "payment_app.p99", "merchant_app.fee_per_op",
            "totals.l2_gas_per_op"} <= {f["name"] for f in figures}
    for f in figures:
        assert (f["change"], f["verdict"]) == (0.0, SAME), f


def test_a_rerun_of_the_same_seed_shows_no_significant_change(runs: dict[str, object]
                                                               ) -> None:
    code, result, out = compare(runs, "base", "rerun")
    assert code == 0, verdicts(result)
    assert set(verdicts(result).values()) == {SAME}
    p95 = next(f for f in result["comparisons"][0]["figures"] if f["name"] == "totals.p95")
    assert p95["low"] < p95["change"] < p95["high"]  # an interval around the change
    page = (out / "compare.html").read_text()
    assert "uPlot" in page and "<script src" not in page  # one file, offline
    data = json.loads(page.split("id='kc-compare-data'>")[1].split("</script>")[0])
    assert len(data["runs"]) == 2 and len(data["scopes"]["totals"]["p95"]) == 2


def test_a_slowed_chain_is_a_regression(runs: dict[str, object]) -> None:
    code, result, out = compare(runs, "base", "slowed")
    assert code == 1
    found = verdicts(result)
    for name in ("totals.p50", "totals.p95", "totals.throughput", "payment_app.p95",
                 "payment_app.throughput"):
        assert found[name] == REGRESSED, (name, found[name])
    assert IMPROVED not in found.values()
    assert found["totals.l2_gas_per_op"] == SAME  # a transfer costs the same gas anywhere
    suite = ET.parse(out.with_suffix(".xml")).getroot().find("testsuite")
    assert suite is not None
    failed = {c.get("name") for c in suite.iter("testcase") if c.find("failure") is not None}
    assert {"totals.p95", "totals.throughput"} <= failed
    (p95,) = [c.find("failure") for c in suite.iter("testcase") if c.get("name") == "totals.p95"]
    assert p95 is not None and re.fullmatch(  # what CI shows: from, to, change, interval
        r"totals\.p95 regressed: [\d.]+ s -> [\d.]+ s \(\+[\d.]+%, 99% interval "
        r"\[\+[\d.]+%, \+[\d.]+%\]\)", p95.get("message", "")), p95.get("message")


def test_a_merged_shard_run_compares_with_its_run(runs: dict[str, object]) -> None:
    merged = merge_runs([Path(str(runs["base_dir"]))], Path(str(runs["out"])) / "merged")
    runs["merged_dir"] = merged
    code, result, _ = compare(runs, "base", "merged")
    found = verdicts(result)
    assert code == 0, {name: v for name, v in found.items() if v != SAME}
    assert {"totals.p95", "payment_app.throughput", "merchant_app.p99"} <= set(found)
    assert set(found.values()) == {SAME}
    throughput = next(f for f in result["comparisons"][0]["figures"]
                      if f["name"] == "totals.throughput")
    assert throughput["new"] == throughput["base"]  # over the same load window, not + drain


def test_several_new_runs_each_against_the_base(runs: dict[str, object]) -> None:
    code, result, _ = compare(runs, "base", "rerun", "slowed",
                              extra=("--threshold", "p95<=+50%"))
    assert code == 1
    first, second = result["comparisons"]
    assert first["regressed"] == [] and "totals.p95" in second["regressed"]
    assert [t["status"] for t in first["thresholds"]] == ["met"]
    assert [t["status"] for t in second["thresholds"]] == ["missed"]


def test_thresholds_join_the_run_verdict(runs: dict[str, object]) -> None:
    rerun, slowed = runs["rerun"], runs["slowed"]
    assert isinstance(rerun, subprocess.CompletedProcess)
    assert isinstance(slowed, subprocess.CompletedProcess)
    assert rerun.returncode == 0, rerun.stdout[-2000:] + rerun.stderr[-2000:]
    assert slowed.returncode == 1, slowed.stdout[-2000:] + slowed.stderr[-2000:]
    summary = json.loads((Path(str(runs["slowed_dir"])) / "summary.json").read_text())
    checks = {c["key"]: c for c in summary["verdict"]["checks"] if c["kind"] == "threshold"}
    assert checks["thresholds.p95<=+10%"]["status"] == "missed"
    assert checks["thresholds.throughput>=-5%"]["status"] == "missed"
    assert checks["thresholds.missed<=0.5%"]["status"] == "met"
    assert summary["baseline"].endswith("base/latest")
    lines = slowed.stdout.splitlines()
    assert "threshold missed<=0.5%: 0.00% <= 0.50%" in lines  # each one above the verdict
    final = [ln for ln in lines if ln.startswith("run ")][-1]
    assert "threshold p95<=+10% (crossed)" in final
    assert "threshold throughput>=-5% (crossed)" in final
    report = (Path(str(runs["slowed_dir"])) / "report.html").read_text()
    assert "threshold p95&lt;=+10%" in report
    cases = {c.get("name"): c for c in
             ET.parse(Path(str(runs["out"])) / "slowed.xml").getroot().iter("testcase")}
    assert cases["p95<=+10%"].find("failure") is not None
    assert cases["missed<=0.5%"].find("failure") is None
    rerun_cases = ET.parse(Path(str(runs["out"])) / "rerun.xml").getroot().iter("testcase")
    assert all(c.find("failure") is None for c in rerun_cases)
