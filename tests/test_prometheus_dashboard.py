"""Every PromQL expression of the Grafana dashboard returns data from a real Prometheus.

A real Prometheus (Debian's package, installed by scripts/install_prometheus.sh)
scrapes, every second, two targets on 127.0.0.1:

- ``kcstress``: a real short run, ``python main.py --duration 25 ...``;
- ``feeder``: a ServerThread + PrometheusSink fed with real events by a thread,
  covering what a short embedded run may not produce (IoT stages, commit
  statuses, RPC errors), so those panels are checked with values too.

Each dashboard expression is evaluated for each job through /api/v1/query.
"""

from __future__ import annotations

import csv
import json
import math
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from server import ServerThread, create_app
from tests.conftest import require_tool, tool_missing
from tests.test_metrics import iot_operation, tx
from utils.observe.events import (
    CommitStatusEvent,
    Event,
    FiringEvent,
    HeadEvent,
    Outcome,
    RpcEvent,
    TxSentEvent,
)
from utils.observe.metrics import PrometheusSink
from utils.observe.stats import StatsHub

REPO = Path(__file__).resolve().parent.parent
DASHBOARD = REPO / "deploy" / "grafana" / "dashboards" / "kcstress.json"
RUN_SECONDS = 25
RATE_WINDOW = "10s"  # what $__rate_interval stands for at a 1 s scrape interval
#: NaN (no sample in the window) is a fair answer on a 25 s run at the default 0.2 IoT op/s
MAY_BE_NAN = ("kcstress_iot_stage_latency_seconds",)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.loads(resp.read())


@pytest.fixture(scope="module")
def prometheus_bin() -> str:
    """The prometheus that `make tools` installed (tests never install it)."""
    require_tool("prometheus", "prometheus (Debian's package)")
    path = shutil.which("prometheus")
    assert path, "install_prometheus.sh --check succeeded but prometheus is not on PATH"
    return path


class Feeder:
    """Real events at a steady pace into a PrometheusSink served over HTTP."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.hub = StatsHub()
        targets = {"payment_app": 5.0, "data_pipeline": 2.0}
        self.hub.add_sink(PrometheusSink(self.registry, run_id="feeder", chain_id=1337,
                                         version="test", targets=targets))  # fmt: skip
        app = create_app(registry=self.registry, health=lambda: (True, {}), kpis=dict)
        self.server = ServerThread(app, port=0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="feeder", daemon=True)

    def start(self) -> Feeder:
        self.server.start()
        self._thread.start()
        return self

    def _events(self, i: int, now: float) -> list[Event]:
        outcome = Outcome.REVERTED if i % 10 == 9 else Outcome.SUCCESS
        events: list[Event] = [
            FiringEvent("payment_app", now - 0.01, now + (0.2 if i % 7 == 0 else 0.001)),
            TxSentEvent("payment_app", now),
            tx("payment_app", outcome, now - 0.3 - (i % 5) * 0.1, 0.3 + (i % 5) * 0.1),
            FiringEvent("data_pipeline", now, now + 0.002, missed=1 if i % 25 == 0 else 0),
            HeadEvent(i, now),
            RpcEvent("eth_sendRawTransaction", 0.002 + (i % 3) * 0.001, i % 20 != 0),
            CommitStatusEvent(now, i, "pending"),
        ]
        if i > 2:
            events.append(CommitStatusEvent(now, i - 2, "committed"))
        events += iot_operation(now, f"EV_{i % 4:04d}", "submit", ok=i % 15 != 0)
        return events

    def _loop(self) -> None:
        i = 0
        while not self._stop.wait(0.1):
            i += 1
            for event in self._events(i, time.time()):
                self.hub.emit(event)
            self.hub.flush()  # no event loop in this thread: no timer, the feeder flushes

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.server.stop()


class ShortRun:
    """``python main.py --duration 25`` in a subprocess, its /metrics on a free port."""

    def __init__(self, out: Path) -> None:
        self.port = free_port()
        self.out = out
        self.log = out / "main.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ShortRun:
        cmd = [sys.executable, "main.py", "--duration", str(RUN_SECONDS), "--port",
               str(self.port), "--out", str(self.out), "--interval", "2"]  # fmt: skip
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
        return self

    def wait(self, timeout: float) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


class Prometheus:
    """A real Prometheus on a free loopback port, tmp storage, 1 s scrapes."""

    def __init__(self, binary: str, workdir: Path, targets: dict[str, int]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = workdir / "prometheus.yml"
        self.storage = workdir / "tsdb"
        self.log = workdir / "prometheus.log"
        jobs = "".join(
            f"  - job_name: {job}\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n"
            for job, port in targets.items()
        )
        self.config.write_text(
            f"global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\nscrape_configs:\n{jobs}"
        )
        self.cmd = [binary, f"--config.file={self.config}", f"--storage.tsdb.path={self.storage}",
                    f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"]  # fmt: skip
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Prometheus:
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(self.cmd, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text()
            try:
                with urllib.request.urlopen(self.url + "/-/ready", timeout=1) as resp:
                    if resp.status == 200:
                        return self
            except OSError:
                time.sleep(0.2)
        raise AssertionError("prometheus did not become ready:\n" + self.log.read_text())

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)

    def query(self, expr: str) -> list[dict[str, Any]]:
        url = self.url + "/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        body = http_json(url)
        assert body["status"] == "success", (expr, body)
        assert body["data"]["resultType"] == "vector", (expr, body)
        return list(body["data"]["result"])

    def scalar(self, expr: str) -> float:
        result = self.query(expr)
        return float(result[0]["value"][1]) if result else math.nan


@pytest.fixture(scope="module")
def stack(
    prometheus_bin: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Prometheus, ShortRun]]:
    workdir = tmp_path_factory.mktemp("prometheus")
    run = ShortRun(tmp_path_factory.mktemp("run"))
    feeder = Feeder()
    prom: Prometheus | None = None
    try:
        run.start()
        feeder.start()
        prom = Prometheus(prometheus_bin, workdir, {"kcstress": run.port,
                                                    "feeder": feeder.server.port})  # fmt: skip
        prom.start()
        yield prom, run
    finally:
        if prom is not None:
            prom.stop()
        feeder.stop()
        run.stop()


def dashboard_expressions() -> list[tuple[str, str]]:
    """(panel title, expr) of every target of every panel (rows included)."""
    board = json.loads(DASHBOARD.read_text())
    found = []
    panels = list(board["panels"])
    while panels:
        panel = panels.pop(0)
        panels += panel.get("panels", [])
        found += [(panel["title"], t["expr"]) for t in panel.get("targets", [])]
    return found


def substitute(expr: str, job: str) -> str:
    for var, value in (("$__rate_interval", RATE_WINDOW), ("$job", job), ("$workload", ".*")):
        expr = expr.replace("${" + var[1:] + "}", value).replace(var, value)
    assert "$" not in expr, f"unknown dashboard variable in {expr}"
    return expr


def wait_for_traffic(prom: Prometheus, run: ShortRun) -> None:
    """Until both jobs have been scraped for a while and the run has finished transactions."""
    success = 'sum(kcstress_transactions_total{job="%s", outcome="success"})'
    deadline = time.monotonic() + RUN_SECONDS + 20
    while time.monotonic() < deadline:
        if run.proc is not None and run.proc.poll() is not None:
            pytest.fail(f"main.py exited early ({run.proc.returncode}):\n{run.log.read_text()}")
        ready = all(prom.scalar(success % job) > 0 for job in ("kcstress", "feeder"))
        scraped = prom.scalar('count_over_time(up{job="kcstress"}[1m]) and up{job="kcstress"} == 1')
        if ready and scraped >= 8:
            return
        time.sleep(1)
    pytest.fail(f"no transactions seen on /metrics of main.py:\n{run.log.read_text()[-3000:]}")


def finite(result: list[dict[str, Any]]) -> bool:
    return any(math.isfinite(float(r["value"][1])) for r in result)


def test_every_dashboard_expression_returns_data(stack: tuple[Prometheus, ShortRun]) -> None:
    prom, run = stack
    expressions = dashboard_expressions()
    assert len(expressions) >= 20
    wait_for_traffic(prom, run)
    problems = []
    for title, expr in expressions:
        for job in ("kcstress", "feeder"):
            result = prom.query(substitute(expr, job))
            must_have_values = job == "feeder" or not any(m in expr for m in MAY_BE_NAN)
            if not result or (must_have_values and not finite(result)):
                problems.append(f"[{job}] {title}: {expr} -> {result}")
    assert not problems, "\n".join(problems)


def test_dashboard_variables_resolve(stack: tuple[Prometheus, ShortRun]) -> None:
    prom, _ = stack
    jobs = http_json(prom.url + "/api/v1/label/job/values?match[]=kcstress_run_info")["data"]
    assert {"kcstress", "feeder"} <= set(jobs)
    match = urllib.parse.quote('kcstress_target_rate_per_second{job=~"kcstress"}')
    url = f"{prom.url}/api/v1/label/workload/values?match[]={match}"
    assert {"payment_app", "merchant_app", "lending_app"} <= set(http_json(url)["data"])


def test_the_short_run_ends_and_its_numbers_agree(stack: tuple[Prometheus, ShortRun]) -> None:
    """After the run: the CSVs and summary.json agree; /metrics never counted more."""
    prom, run = stack
    code = run.wait(RUN_SECONDS + 60)
    assert code in (0, 1), run.log.read_text()[-3000:]  # targets met or missed, no crash
    run_dir = (run.out / "latest").resolve()
    summary = json.loads((run_dir / "summary.json").read_text())
    with (run_dir / "tx_metrics.csv").open(newline="") as fh:
        tx_rows = list(csv.DictReader(fh))
    with (run_dir / "kpi_intervals.csv").open(newline="") as fh:
        interval_rows = list(csv.DictReader(fh))
    scraped = {
        r["metric"]["workload"]: float(r["value"][1])
        for r in prom.query('last_over_time(kcstress_transactions_total'
                            '{job="kcstress", outcome="success"}[5m])')
    }  # fmt: skip
    assert (run_dir / "report.html").exists()
    for name, wl in summary["kpis"]["workloads"].items():
        in_csv = sum(1 for r in tx_rows if r["workload"] == name and r["status"] == "success")
        per_interval = sum(int(r["successes"]) for r in interval_rows if r["workload"] == name)
        assert wl["successes"] == in_csv == per_interval, name
        assert scraped.get(name, 0) <= in_csv, name
    assert sum(scraped.values()) > 0
    info = prom.query('last_over_time(kcstress_run_info{job="kcstress"}[5m])')
    assert info[0]["metric"]["run_id"] == summary["run_id"]


# -- static checks of the deploy files (no Prometheus process needed) --------------------


def test_dashboard_uses_the_provisioned_datasource() -> None:
    board = json.loads(DASHBOARD.read_text())
    provisioned = (REPO / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text()
    assert "uid: kcstress-prometheus" in provisioned
    for panel in board["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "kcstress-prometheus", panel["title"]
    exprs = " ".join(expr for _, expr in dashboard_expressions())
    for metric in ("kcstress_firings_total", "kcstress_tx_latency_seconds_bucket",
                   "kcstress_in_flight_transactions", "kcstress_iot_records",
                   "kcstress_chain_head_block", "histogram_quantile"):  # fmt: skip
        assert metric in exprs


def test_prometheus_config_is_valid() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        tool_missing("prometheus", "promtool (Debian's prometheus package)")
    config = REPO / "deploy" / "prometheus" / "prometheus.yml"
    done = subprocess.run([promtool, "check", "config", str(config)], capture_output=True,
                          text=True, timeout=30, check=False)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "orchestrator:8000" in config.read_text()


def test_compose_file_parses_and_mounts_existing_files() -> None:
    yaml = pytest.importorskip("yaml", reason="PyYAML is not installed")
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"orchestrator", "prometheus", "grafana", "nitro"} <= services.keys()
    assert services["nitro"]["profiles"] == ["nitro"]
    assert "--dev" in services["nitro"]["command"]
    assert services["orchestrator"]["build"] == "."
    for service in services.values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (REPO / source).exists(), volume
    dockerfile = (REPO / "Dockerfile").read_text()
    assert dockerfile.startswith("# ") and "FROM python:3.11-slim" in dockerfile
    assert 'CMD ["--host", "0.0.0.0"]' in dockerfile
