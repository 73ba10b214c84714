"""Thresholds on any figure (utils.observe.thresholds): parsing with errors that name the
threshold and the known figures, judging into checks of the run's one verdict, a scenario's
[thresholds], a bad threshold refused before a run starts, and the JUnit file's shape."""

from __future__ import annotations

import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from main import build_parser
from tests.conftest import clean_env, main_cmd
from utils.errors import ConfigError
from utils.observe.run_figures import run_figures
from utils.observe.thresholds import judge, parse
from utils.observe.verdict import THRESHOLD, Status, Verdict
from utils.report.gate import gated_settings
from utils.report.junit import run_suite, write_junit
from utils.settings import load_settings


def summary(p95: float = 1.2, knee: float | None = None) -> dict[str, Any]:
    """The parts of a summary.json the figures are read from (as build_summary writes them)."""
    tx = {"achieved_rate": 20.0, "success_rate": 0.996, "finished": 500, "fired": 500,
          "missed": 2, "p50": 0.4, "p95": p95, "p99": 2.0,
          "costs": {"l2_gas_per_op": 60_000.0, "l1_gas_per_op": 800_000.0,
                    "fee_wei_per_op": 2.0e13}}
    found: dict[str, Any] = {
        "totals": tx, "kpis": {"workloads": {"payment_app": tx}, "total_operations": 10,
                               "success_rate": 1.0, "p95_latency_sec": 0.02,
                               "daily_submission_rate": 86_400.0},
        "dapp": {"goodput": {"payment_app": {"payment": {"count": 100, "per_second": 10.0}},
                             "merchant_app": {"settlement": {"count": 50,
                                                             "per_second": 5.0}}}},
    }
    if knee is not None:
        found["capacity"] = {"status": "knee", "capacity_tx_per_sec": knee}
    return found


@pytest.mark.parametrize(("text", "name", "op", "value", "relative"), [
    ("payment_app.p95<1.5s", "payment_app.p95", "<", 1.5, False),
    ("payment.p95 < 1500ms", "payment_app.p95", "<", 1.5, False),
    ("totals.success>=99.5%", "totals.success", ">=", 0.995, False),
    ("missed<=0.5%", "totals.missed", "<=", 0.005, False),
    ("missed<=0.01", "totals.missed", "<=", 0.01, False),  # k6's rate: a ratio
    ("payment_app.l1_gas_per_op<=900000", "payment_app.l1_gas_per_op", "<=", 900_000, False),
    ("capacity.knee>=200", "capacity.knee", ">=", 200, False),
    ("p95<=+10%", "totals.p95", "<=", 0.10, True),
    ("goodput>=-5%", "goodput", ">=", -0.05, True),
    ("goodput.payment>2", "goodput.payment", ">", 2, False),
    ("lending_app.borrow.l2_gas_per_op<=200000", "lending_app.borrow.l2_gas_per_op", "<=",
     200_000, False),
])
def test_thresholds_are_read(text: str, name: str, op: str, value: float,
                             relative: bool) -> None:
    t = parse(text)
    assert (t.name, t.op, t.relative) == (name, op, relative)
    assert t.value == pytest.approx(value)


@pytest.mark.parametrize(("text", "says"), [
    ("payment_app.p95<1.5x", "write NAME OP VALUE"),
    ("payment_app.p95=1.5s", "write NAME OP VALUE"),
    ("paymnt.p95<1.5s", "unknown figure 'paymnt.p95' (known: [totals|payment_app"),
    ("p95<=10%", "totals.p95 is in s, not a share"),
    ("throughput>=5s", "not seconds"),
    ("p95<=+0.2s", "a signed value is a change relative to the baseline"),
    ("totals.success>=99.5", "a share, a ratio from 0 to 1 (k6's rate); write it in % ('99.5%')"),
])
def test_a_bad_threshold_names_itself(text: str, says: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse(text, "scenarios/x.toml: [thresholds] p95")
    assert str(err.value).startswith("scenarios/x.toml: [thresholds] p95: ")
    assert repr(text) in str(err.value) and says in str(err.value)


def test_thresholds_are_judged_on_the_summary_figures() -> None:
    figures = run_figures(summary(p95=1.7, knee=250))
    checks = {c.key.removeprefix("thresholds."): c for c in judge(
        [parse(t) for t in ("payment_app.p95<1.5s", "totals.success>=99.5%", "missed<=0.5%",
                            "payment_app.l1_gas_per_op<=900000", "capacity.knee>=200",
                            "goodput>=14", "iot.records_per_sec>=1", "iot.cost_per_record<1")],
        figures, None)}
    assert all(c.kind == THRESHOLD for c in checks.values())
    status = {k: c.status for k, c in checks.items()}
    assert status == {
        "payment_app.p95<1.5s": Status.MISSED, "totals.success>=99.5%": Status.MET,
        "missed<=0.5%": Status.MET, "payment_app.l1_gas_per_op<=900000": Status.MET,
        "capacity.knee>=200": Status.MET, "goodput>=14": Status.MET,
        "iot.records_per_sec>=1": Status.MET,
        "iot.cost_per_record<1": Status.NOT_EVALUATED}  # the run committed no record
    assert checks["missed<=0.5%"].measured == pytest.approx(2 / 502)
    assert checks["payment_app.p95<1.5s"].line() == \
        "threshold payment_app.p95<1.5s (crossed): 1.700 s >= 1.500 s"


def test_relative_thresholds_read_the_baseline() -> None:
    base, new = run_figures(summary(p95=1.0)), run_figures(summary(p95=1.15))
    crossed, held = judge([parse("p95<=+10%"), parse("p95<=+20%")], new, base)
    assert (crossed.status, crossed.threshold) == (Status.MISSED, pytest.approx(1.1))
    assert held.status is Status.MET
    (alone,) = judge([parse("p95<=+10%")], new, None)
    assert (alone.status, alone.note) == (Status.NOT_EVALUATED, "no --baseline")


def test_thresholds_join_the_verdict() -> None:
    figures = run_figures(summary(p95=1.7))
    crossed = judge([parse("payment_app.p95<1.5s")], figures, None)
    run = Verdict(()).with_checks(crossed)
    assert (run.code, run.clean) == (1, False)
    assert "threshold payment_app.p95<1.5s (crossed)" in run.headline()
    search = Verdict((), exit_code=0, headline_text="capacity 250.0 tx/s (knee)")
    gated = search.with_checks(crossed)
    assert gated.code == 1 and gated.headline().startswith("capacity 250.0 tx/s (knee); thr")
    no_knee = Verdict((), exit_code=3, headline_text="capacity >= 9.0 tx/s (no knee found)")
    assert no_knee.with_checks(crossed).code == 3  # the search's own code stays
    assert Verdict.from_dict(run.as_dict()).checks[-1].kind == THRESHOLD


def test_a_scenarios_thresholds_table(tmp_path: Path) -> None:
    file = tmp_path / "gate.toml"
    file.write_text('duration = 5\n[thresholds]\n"payment_app.p95" = "<1.5s"\n'
                    'totals.success = [">=99.5%", "<=100%"]\n')
    settings = load_settings({}, file)
    assert settings.thresholds == ["payment_app.p95<1.5s", "totals.success>=99.5%",
                                   "totals.success<=100%"]
    file.write_text("[thresholds]\np95 = 1.5\n")
    with pytest.raises(ConfigError, match=r"gate.toml: \[thresholds\] p95: a threshold is a"):
        load_settings({}, file)


def test_a_bad_threshold_costs_no_run(tmp_path: Path) -> None:
    file = tmp_path / "gate.toml"
    file.write_text('duration = 5\n[thresholds]\n"payment_app.p95" = "<1.5 parsecs"\n')
    out = tmp_path / "runs"
    # --rpc-url: no embedded chain is started for a run refused anyway
    done = subprocess.run(main_cmd("--scenario", str(file), "--out", str(out), "--port", "0",
                                   "--rpc-url", "http://127.0.0.1:9"),
                          capture_output=True, text=True, timeout=120, env=clean_env())
    assert done.returncode == 2
    assert f"error: {file}: [thresholds]: cannot read threshold " \
        "'payment_app.p95<1.5 parsecs'" in done.stderr
    assert not out.exists()  # refused before a run folder was made
    args = build_parser().parse_args(["--threshold", "p95<=+10%"])
    with pytest.raises(ConfigError, match="--baseline: needed by the relative thresholds "
                       "'p95<=\\+10%'"):
        gated_settings(load_settings({}), args)
    args = build_parser().parse_args(["--threshold", "p95<=+10%", "--baseline", str(tmp_path)])
    with pytest.raises(ConfigError, match=r"--baseline: .* is not a finished run folder"):
        gated_settings(load_settings({}), args)


#: junit-10.xsd (jenkinsci/xunit-plugin, what Jenkins validates; GitLab reads the same
#: elements): element -> (required attributes, allowed attributes)
JUNIT_10 = {
    "testsuites": (set(), {"name", "time", "tests", "failures", "errors"}),
    "testsuite": ({"name", "tests", "failures", "errors"},
                  {"name", "tests", "failures", "errors", "group", "time", "skipped",
                   "timestamp", "hostname", "id", "package", "file", "log", "url"}),
    "testcase": ({"name"}, {"name", "time", "classname", "group"}),
    "failure": (set(), {"type", "message"}),
    "skipped": (set(), {"type", "message"}),
}


def test_the_junit_file_has_the_shape_ci_systems_read(tmp_path: Path) -> None:
    figures = run_figures(summary(p95=1.7))
    checks = judge([parse("payment_app.p95<1.5s"), parse("missed<=0.5%"),
                    parse("iot.cost_per_record<1")], figures, None)
    verdict = Verdict(()).with_checks(checks)
    path = write_junit(tmp_path / "gate.xml", [run_suite("r1", verdict, verdict.code)])
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    for element in root.iter():
        required, allowed = JUNIT_10[element.tag]
        assert required <= set(element.attrib) <= allowed, element.tag
    (suite,) = root
    cases = list(suite)
    assert [c.get("name") for c in cases] == ["payment_app.p95<1.5s", "missed<=0.5%",
                                              "iot.cost_per_record<1", "verdict"]
    assert [c.find("failure") is not None for c in cases] == [True, False, False, True]
    assert cases[2].find("skipped") is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("4", "2", "1")
    assert (root.get("tests"), root.get("failures")) == ("4", "2")
    failure = cases[0].find("failure")
    assert failure is not None and failure.get("type") == "threshold"
    assert failure.get("message") == \
        "threshold payment_app.p95<1.5s (crossed): 1.700 s >= 1.500 s"
