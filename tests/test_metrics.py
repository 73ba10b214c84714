"""PrometheusSink on a fresh registry, read back through the registry and the text format."""

from __future__ import annotations

import itertools

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from utils.observe.events import (
    CommitStatusEvent,
    Event,
    FiringEvent,
    HeadEvent,
    IotEvent,
    Outcome,
    RpcEvent,
    TxEvent,
    TxSentEvent,
)
from utils.observe.metrics import PrometheusSink
from utils.observe.stats import StatsHub

TARGETS = {"payment_app": 2.0, "merchant_app": 1.0}


def tx(workload: str, outcome: Outcome, t: float, latency: float, **kw: object) -> TxEvent:
    sent = outcome is not Outcome.REJECTED
    included = outcome in (Outcome.SUCCESS, Outcome.REVERTED)
    fields: dict[str, object] = {
        "workload": workload, "module": workload, "outcome": outcome,
        "tx_hash": "0x" + "ab" * 32 if sent else "", "intended_at": t,
        "sent_at": t + 0.005 if sent else None, "finished_at": t + latency,
        "block_number": 7 if included else None, "gas_used": 21_000 if included else 0,
        "sender": "0x" + "11" * 20, "nonce": 3, "error": "" if outcome.ok else outcome.value,
    }  # fmt: skip
    fields.update(kw)
    return TxEvent(**fields)  # type: ignore[arg-type]


def iot_operation(t: float, device: str, operation: str, ok: bool = True) -> list[IotEvent]:
    """The events of one IoT operation: its stages, then its ``total``."""
    stages = {"validate": 0.0001, "encrypt": 0.0002, "store": 0.002}
    events = [
        IotEvent(t, device, "ev_sensor", operation, stage, True, lat, data_size=400)
        for stage, lat in stages.items()
    ]
    total = sum(stages.values())
    events.append(
        IotEvent(t, device, "ev_sensor", operation, "total", ok, total,
                 error="" if ok else "store failed", data_size=400,
                 stages=tuple(stages.items()))
    )  # fmt: skip
    return events


def sample_events(t0: float) -> list[Event]:
    """A plausible slice of a run, in emission order."""
    events: list[Event] = []
    for i in range(4):
        t = t0 + i * 0.5
        events.append(FiringEvent("payment_app", t, t + 0.002))
        events.append(TxSentEvent("payment_app", t + 0.005))
        events.append(tx("payment_app", Outcome.SUCCESS, t, 0.2 + 0.1 * i))
    t = t0 + 2.0
    events += [
        FiringEvent("merchant_app", t, t + 0.3, missed=2),  # late, and gave up 2 firings
        TxSentEvent("merchant_app", t + 0.3),
        tx("merchant_app", Outcome.REVERTED, t, 0.8),
        FiringEvent("merchant_app", t + 1, t + 1.001),
        tx("merchant_app", Outcome.REJECTED, t + 1, 0.01),
        FiringEvent("merchant_app", t + 2, t + 2.001),
        TxSentEvent("merchant_app", t + 2.01),  # still in flight at the end
        HeadEvent(7, t), HeadEvent(9, t + 1), HeadEvent(8, t + 1.5),
        RpcEvent("eth_sendRawTransaction", 0.004, True),
        RpcEvent("eth_getBlockByNumber", 0.02, False),
    ]  # fmt: skip
    events += iot_operation(t0, "EV_0001", "register")
    events += iot_operation(t0 + 1, "EV_0001", "submit")
    events += iot_operation(t0 + 2, "EV_0001", "submit", ok=False)
    events += [
        CommitStatusEvent(t0 + 1, 1, "pending"),
        CommitStatusEvent(t0 + 1.5, 1, "submitted"),
        CommitStatusEvent(t0 + 2, 1, "committed"),
        CommitStatusEvent(t0 + 2, 2, "pending"),
    ]
    return events


@pytest.fixture()
def fed() -> tuple[CollectorRegistry, PrometheusSink]:
    registry = CollectorRegistry()
    sink = PrometheusSink(registry, run_id="r1", chain_id=31337, version="0.1.0", targets=TARGETS)
    hub = StatsHub()
    hub.add_sink(sink)
    for event in sample_events(1_700_000_000.0):
        hub.emit(event)
    hub.flush()  # the run's path: the hub hands its tally on
    return registry, sink


def test_transaction_counters_latency_gas_and_in_flight(fed: tuple) -> None:
    registry, _ = fed

    def value(name: str, workload: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, {"workload": workload, **labels})

    txs = "kcstress_transactions_total"
    assert value(txs, "payment_app", outcome="success") == 4
    assert value(txs, "merchant_app", outcome="reverted") == 1
    assert value(txs, "merchant_app", outcome="rejected") == 1
    assert value(txs, "payment_app", outcome="timeout") == 0
    assert value("kcstress_tx_latency_seconds_count", "payment_app") == 4
    assert value("kcstress_tx_latency_seconds_sum", "payment_app") == pytest.approx(1.4)
    # latencies 0.2, 0.3, 0.4, 0.5 s; bounds 2**18 us and its 122/64, 2**19 us
    assert value("kcstress_tx_latency_seconds_bucket", "payment_app", le="0.262144") == 1
    assert value("kcstress_tx_latency_seconds_bucket", "payment_app", le="0.499712") == 3
    assert value("kcstress_tx_latency_seconds_bucket", "payment_app", le="0.524288") == 4
    assert value("kcstress_tx_latency_seconds_bucket", "payment_app", le="+Inf") == 4
    assert value("kcstress_gas_used_total", "payment_app") == 4 * 21_000
    assert value("kcstress_gas_used_total", "merchant_app") == 21_000
    assert value("kcstress_in_flight_transactions", "payment_app") == 0
    assert value("kcstress_in_flight_transactions", "merchant_app") == 1
    assert value("kcstress_target_rate_per_second", "payment_app") == 2.0


def test_scheduler_metrics(fed: tuple) -> None:
    registry, _ = fed
    value = registry.get_sample_value
    assert value("kcstress_firings_total", {"workload": "merchant_app"}) == 3
    assert value("kcstress_late_firings_total", {"workload": "merchant_app"}) == 1
    assert value("kcstress_missed_firings_total", {"workload": "merchant_app"}) == 2
    assert value("kcstress_late_firings_total", {"workload": "payment_app"}) == 0
    assert value("kcstress_scheduler_lag_seconds_count", {"workload": "payment_app"}) == 4


def test_iot_chain_rpc_and_info(fed: tuple) -> None:
    registry, _ = fed
    value = registry.get_sample_value
    ops = "kcstress_iot_operations_total"
    assert value(ops, {"operation": "submit", "stage": "total", "outcome": "success"}) == 1
    assert value(ops, {"operation": "submit", "stage": "total", "outcome": "failure"}) == 1
    assert value(ops, {"operation": "submit", "stage": "encrypt", "outcome": "success"}) == 2
    assert value("kcstress_iot_stage_latency_seconds_count", {"stage": "store"}) == 3
    assert value("kcstress_iot_payload_bytes_total", {"operation": "submit"}) == 800
    assert value("kcstress_iot_records", {"status": "committed"}) == 1
    assert value("kcstress_iot_records", {"status": "pending"}) == 1  # record 2
    assert value("kcstress_iot_records", {"status": "submitted"}) == 0  # record 1 moved on
    assert value("kcstress_chain_head_block") == 9  # never goes back
    assert (
        value("kcstress_rpc_request_duration_seconds_count", {"method": "eth_sendRawTransaction"})
        == 1
    )
    assert value("kcstress_rpc_errors_total",
                 {"method": "eth_getBlockByNumber", "kind": "final"}) == 1
    assert (
        value("kcstress_run_info", {"run_id": "r1", "chain_id": "31337", "version": "0.1.0"}) == 1
    )


def test_names_units_and_label_hygiene(fed: tuple) -> None:
    registry, _ = fed
    families = list(text_string_to_metric_families(generate_latest(registry).decode()))
    assert len(families) >= 18
    forbidden = {"tx_hash", "hash", "address", "sender", "block", "block_number", "device_id"}
    for family in families:
        assert family.name.startswith("kcstress_"), family.name
        if family.type == "counter":  # the parser strips the _total suffix of counters
            assert any(s.name == family.name + "_total" for s in family.samples)
        if family.type == "histogram":
            assert family.name.endswith("_seconds"), family.name
        labels = set(itertools.chain.from_iterable(s.labels for s in family.samples))
        assert not labels & forbidden, (family.name, labels)


def test_registry_is_private() -> None:
    """Two sinks on two registries do not collide (nothing on the global registry)."""
    a, b = CollectorRegistry(), CollectorRegistry()
    PrometheusSink(a, run_id="a", chain_id=None, version="0", targets={})
    PrometheusSink(b, run_id="b", chain_id=None, version="0", targets={})
    assert a.get_sample_value("kcstress_run_info", {"run_id": "a", "chain_id": "", "version": "0"})
    assert (
        b.get_sample_value("kcstress_run_info", {"run_id": "a", "chain_id": "", "version": "0"})
        is None
    )


def test_a_stop_report_of_missed_firings_is_not_a_firing() -> None:
    registry = CollectorRegistry()
    hub = StatsHub()
    hub.add_sink(PrometheusSink(registry, run_id="r", chain_id=1, version="0", targets=TARGETS))
    hub.emit(FiringEvent("payment_app", 10.0, 12.0, missed=3, fired=False))
    hub.flush()
    value = registry.get_sample_value
    assert value("kcstress_missed_firings_total", {"workload": "payment_app"}) == 3
    assert value("kcstress_firings_total", {"workload": "payment_app"}) == 0
    assert value("kcstress_late_firings_total", {"workload": "payment_app"}) == 0
    assert value("kcstress_scheduler_lag_seconds_count", {"workload": "payment_app"}) == 0
