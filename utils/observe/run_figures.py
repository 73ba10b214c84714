"""Every figure of a run that can be gated or compared, by name, read from its summary.json.

summary.json holds each figure where it is computed (the KPI snapshot of
:mod:`utils.observe.kpis`, the dApp's goodput and gas per operation, the IoT costs, a
capacity search's result); this module only names them and says which way is better, so
thresholds (:mod:`utils.observe.thresholds`) and ``main.py compare`` read the same values.

Names: ``SCOPE.METRIC`` where SCOPE is ``totals`` (every transaction) or a workload
(``payment_app``, ``merchant_app``, ``lending_app``, ``data_pipeline``); a bare METRIC is
``totals.METRIC`` (``p95``, ``missed``). Besides: ``iot.*``, ``goodput`` (business operations
per second, all of them), ``goodput.OPERATION``, ``WORKLOAD.OPERATION.l2_gas_per_op`` /
``.l1_gas_per_op`` and ``capacity.knee``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from utils.workload_names import NON_TX_WORKLOADS, RATE_FIELDS

HIGHER, LOWER = "higher", "lower"  # which way is better
SHARE = "ratio"  # a share (0..1): changes are told in percentage points


@dataclass(frozen=True, slots=True)
class Metric:
    unit: str  # a verdict.Check unit: "ratio", "s", "tx/s", "gas", "wei", "ops/s", ...
    better: str
    label: str


#: metrics of a set of transactions (a workload's or all of them), read from its KPI dict
TX_METRICS: dict[str, Metric] = {
    "throughput": Metric("tx/s", HIGHER, "successful transactions per second"),
    "success": Metric(SHARE, HIGHER, "success rate"),
    "p50": Metric("s", LOWER, "p50 latency"),
    "p95": Metric("s", LOWER, "p95 latency"),
    "p99": Metric("s", LOWER, "p99 latency"),
    "missed": Metric(SHARE, LOWER, "share of firings missed"),
    "l2_gas_per_op": Metric("gas", LOWER, "L2 gas per transaction"),
    "l1_gas_per_op": Metric("gas", LOWER, "L1 gas per transaction"),
    "fee_per_op": Metric("wei", LOWER, "fee per transaction"),
}
OTHER_METRICS: dict[str, Metric] = {
    "iot.success": Metric(SHARE, HIGHER, "IoT operations' success rate"),
    "iot.p95": Metric("s", LOWER, "IoT operations' p95 latency"),
    "iot.records_per_sec": Metric("records/s", HIGHER, "IoT records submitted per second"),
    "iot.cost_per_record": Metric("wei", LOWER, "fee per committed IoT record"),
    "iot.l2_gas_per_record": Metric("gas", LOWER, "L2 gas per committed IoT record"),
    "iot.l1_gas_per_record": Metric("gas", LOWER, "L1 gas per committed IoT record"),
    "goodput": Metric("ops/s", HIGHER, "business operations per second"),
    "capacity.knee": Metric("tx/s", HIGHER, "capacity (the knee)"),
}
OPERATION_GAS = {"l2_gas_per_op": Metric("gas", LOWER, "L2 gas per operation"),
                 "l1_gas_per_op": Metric("gas", LOWER, "L1 gas per operation")}
GOODPUT_OP = Metric("ops/s", HIGHER, "operations per second")
TX_SCOPES = ("totals", *(w for w in RATE_FIELDS if w not in NON_TX_WORKLOADS))


@dataclass(frozen=True, slots=True)
class Figure:
    name: str
    value: float | None  # None: the run did not measure it
    metric: Metric

    @property
    def label(self) -> str:
        return f"{self.name}: {self.metric.label}"


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) \
        else None


def missed_share(tx: Mapping[str, Any]) -> float | None:
    """Firings missed over firings asked for (fired + missed), as the verdict's check."""
    asked = tx.get("fired", 0) + tx.get("missed", 0)
    return tx.get("missed", 0) / asked if asked else None


def tx_values(tx: Mapping[str, Any]) -> dict[str, float | None]:
    """The TX_METRICS of one KPI dict (``totals`` or ``kpis.workloads.NAME``)."""
    costs = tx.get("costs") or {}
    done = bool(tx.get("finished"))
    return {
        "throughput": _num(tx.get("achieved_rate")),
        "success": _num(tx.get("success_rate")) if done else None,
        **{q: _num(tx.get(q)) if done else None for q in ("p50", "p95", "p99")},
        "missed": missed_share(tx),
        "l2_gas_per_op": _num(costs.get("l2_gas_per_op")),
        "l1_gas_per_op": _num(costs.get("l1_gas_per_op")),
        "fee_per_op": _num(costs.get("fee_wei_per_op")),
    }


def _iot_values(summary: Mapping[str, Any]) -> dict[str, float | None]:
    kpis = summary.get("kpis") or {}
    costs = (summary.get("iot") or {}).get("costs_per_record") or {}
    daily = _num(kpis.get("daily_submission_rate"))
    ran = bool(kpis.get("total_operations"))
    return {
        "iot.success": _num(kpis.get("success_rate")) if ran else None,
        "iot.p95": _num(kpis.get("p95_latency_sec")) if ran else None,
        "iot.records_per_sec": None if daily is None or not ran else daily / 86_400.0,
        "iot.cost_per_record": _num(costs.get("fee_wei")),
        "iot.l2_gas_per_record": _num(costs.get("l2_gas")),
        "iot.l1_gas_per_record": _num(costs.get("l1_gas")),
    }


def _dapp_figures(summary: Mapping[str, Any]) -> list[Figure]:
    dapp = summary.get("dapp") or {}
    goodput = dapp.get("goodput") or {}
    rates = {op: _num(s.get("per_second")) for ops in goodput.values() for op, s in ops.items()}
    found = [Figure("goodput", sum(r for r in rates.values() if r is not None)
                    if rates else None, OTHER_METRICS["goodput"])]
    found += [Figure(f"goodput.{op}", rate, GOODPUT_OP) for op, rate in sorted(rates.items())]
    for workload, ops in sorted((dapp.get("gas_per_operation") or {}).items()):
        for op, s in sorted(ops.items()):
            found += [Figure(f"{workload}.{op}.{key}", _num(s.get(key)), metric)
                      for key, metric in OPERATION_GAS.items()]
    return found


def _knee(summary: Mapping[str, Any]) -> float | None:
    block = summary.get("capacity") or {}
    return _num(block.get("capacity_tx_per_sec"))


def run_figures(summary: Mapping[str, Any]) -> dict[str, Figure]:
    """Every figure of a summary by name (those a run did not measure have value None)."""
    kpis = summary.get("kpis") or {}
    parts: list[tuple[str, Mapping[str, Any]]] = [("totals", summary.get("totals") or {})]
    parts += sorted((kpis.get("workloads") or {}).items())
    found: dict[str, Figure] = {}
    for scope, tx in parts:
        if scope in NON_TX_WORKLOADS:
            continue
        for key, value in tx_values(tx).items():
            found[f"{scope}.{key}"] = Figure(f"{scope}.{key}", value, TX_METRICS[key])
    for name, value in _iot_values(summary).items():
        found[name] = Figure(name, value, OTHER_METRICS[name])
    found.update((f.name, f) for f in _dapp_figures(summary))
    found["capacity.knee"] = Figure("capacity.knee", _knee(summary),
                                    OTHER_METRICS["capacity.knee"])
    return found


def canonical_name(name: str) -> str:
    """``p95`` -> ``totals.p95``; ``payment.p95`` -> ``payment_app.p95``; others unchanged."""
    name = name.strip()
    if name in TX_METRICS:
        return f"totals.{name}"
    scope, dot, rest = name.partition(".")
    aliases = {"payment": "payment_app", "merchant": "merchant_app", "lending": "lending_app",
               "iot_data": "data_pipeline", "total": "totals"}
    return f"{aliases.get(scope, scope)}{dot}{rest}"


def metric_of(name: str) -> Metric | None:
    """The metric a (canonical) figure name has, whether or not a run measured it; None for
    a name no run can have."""
    scope, _, rest = name.partition(".")
    if scope in TX_SCOPES and rest in TX_METRICS:
        return TX_METRICS[rest]
    if name in OTHER_METRICS:
        return OTHER_METRICS[name]
    if scope == "goodput" and rest and "." not in rest:
        return GOODPUT_OP
    op, _, key = rest.partition(".")
    if scope in TX_SCOPES and op and key in OPERATION_GAS:
        return OPERATION_GAS[key]
    return None


def known_names() -> str:
    """What an error about an unknown figure lists."""
    scopes = "|".join(TX_SCOPES)
    return (f"[{scopes}.]{{{','.join(TX_METRICS)}}}, " + ", ".join(OTHER_METRICS)
            + ", goodput.OPERATION, WORKLOAD.OPERATION.{l2_gas_per_op,l1_gas_per_op}")

