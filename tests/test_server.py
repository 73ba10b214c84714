"""The HTTP endpoints over real HTTP on 127.0.0.1, port 0."""

from __future__ import annotations

import json
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from server import ServerThread, create_app
from tests.test_metrics import sample_events
from utils.errors import ConfigError
from utils.observe.aggregate import RunAggregate
from utils.observe.kpis import Targets, kpi_snapshot
from utils.observe.metrics import PrometheusSink
from utils.observe.stats import StatsHub

T0 = 1_700_000_000.0


def get(url: str, accept: str | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


class Health:
    """A health check the test can flip."""

    def __init__(self) -> None:
        self.ok = True

    def __call__(self) -> tuple[bool, dict[str, Any]]:
        if self.ok:
            return True, {"run_id": "r1", "chain": "reachable"}
        return False, {"reason": "chain unreachable: connection refused"}


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[ServerThread, Health, RunAggregate]]:
    registry = CollectorRegistry()
    aggregate = RunAggregate({"payment_app": 2.0, "merchant_app": 1.0}, clock=T0)
    hub = StatsHub()
    hub.listen(aggregate)
    hub.add_sink(PrometheusSink(registry, run_id="r1", chain_id=31337, version="0.1.0",
                                targets={"payment_app": 2.0, "merchant_app": 1.0}))  # fmt: skip
    for event in sample_events(T0):
        hub.emit(event)
    hub.flush()
    aggregate.ended_at = T0 + 10
    health = Health()
    app = create_app(
        registry=registry, health=health,
        kpis=lambda: kpi_snapshot(aggregate, targets=Targets()),
    )  # fmt: skip
    server = ServerThread(app, host="127.0.0.1", port=0).start()
    yield server, health, aggregate
    server.stop()


def test_binds_a_free_port_on_loopback(served: tuple) -> None:
    server, _, _ = served
    assert server.port > 0
    assert server.url == f"http://127.0.0.1:{server.port}"


def test_health_ok_then_unhealthy(served: tuple) -> None:
    server, health, _ = served
    status, _, body = get(server.url + "/health")
    assert status == 200
    assert json.loads(body) == {"status": "ok", "run_id": "r1", "chain": "reachable"}
    health.ok = False
    try:
        status, _, body = get(server.url + "/health")
    finally:
        health.ok = True
    assert status == 503
    assert json.loads(body) == {
        "status": "unhealthy",
        "reason": "chain unreachable: connection refused",
    }


def test_metrics_text_format(served: tuple) -> None:
    server, _, _ = served
    status, headers, body = get(server.url + "/metrics")
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}
    samples = {
        (s.labels.get("workload"), s.labels.get("outcome")): s.value
        for s in families["kcstress_transactions"].samples
        if s.name.endswith("_total")
    }
    assert samples[("payment_app", "success")] == 4
    assert samples[("merchant_app", "rejected")] == 1
    assert families["kcstress_chain_head_block"].samples[0].value == 9


def test_metrics_openmetrics_when_asked(served: tuple) -> None:
    server, _, _ = served
    status, headers, body = get(server.url + "/metrics", accept="application/openmetrics-text")
    assert status == 200
    assert headers["Content-Type"].startswith("application/openmetrics-text")
    assert body.rstrip().endswith(b"# EOF")


def test_kpis_json_from_the_aggregate(served: tuple) -> None:
    server, _, aggregate = served
    status, headers, body = get(server.url + "/kpis")
    assert status == 200 and headers["Content-Type"] == "application/json"
    kpis = json.loads(body)
    assert kpis["workloads"]["payment_app"]["successes"] == 4
    assert kpis["workloads"]["payment_app"]["achieved_rate"] == pytest.approx(0.4)
    assert kpis["data_submissions"] == 2 and kpis["registrations"] == 1
    assert kpis["on_chain_commitments"] == 1
    assert kpis == json.loads(json.dumps(kpi_snapshot(aggregate, targets=Targets())))


def test_concurrent_requests(served: tuple) -> None:
    server, _, _ = served
    statuses: list[int] = []

    def hit() -> None:
        statuses.append(get(server.url + "/metrics")[0])

    threads = [threading.Thread(target=hit) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert statuses == [200] * 8


def test_port_in_use_is_a_config_error() -> None:
    app = create_app(registry=CollectorRegistry(), health=lambda: (True, {}), kpis=dict)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError) as info:
            ServerThread(app, port=port).start()
    assert info.value.setting == "--port"
    assert str(info.value).startswith(f"--port: port {port} on 127.0.0.1 is already in use")
    assert "--port 0" in str(info.value)


def test_stop_is_clean_and_idempotent() -> None:
    app = create_app(registry=CollectorRegistry(), health=lambda: (True, {}), kpis=dict)
    server = ServerThread(app).start()
    url = server.url
    assert get(url + "/kpis")[2] == b"{}\n"
    server.stop()
    server.stop()
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url + "/health", timeout=2)
    again = ServerThread(app, port=int(url.rsplit(":", 1)[1])).start()  # the port is free again
    try:
        assert get(again.url + "/health")[0] == 200
    finally:
        again.stop()


def test_a_raising_health_check_is_unhealthy_not_500() -> None:
    def broken() -> tuple[bool, dict[str, Any]]:
        raise RuntimeError("db locked")

    app = create_app(registry=CollectorRegistry(), health=broken, kpis=dict)
    with ServerThread(app) as server:
        status, _, body = get(server.url + "/health")
    assert status == 503
    reason = "health check raised RuntimeError: db locked"
    assert json.loads(body) == {"status": "unhealthy", "reason": reason}
