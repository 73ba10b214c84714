"""Prometheus metrics fed by the stats hub, on a registry passed in.

Names start with ``kcstress_``, are in base units (``_seconds``), counters end
in ``_total``, and no label holds a tx hash, an address or a block number.
See docs/observability.md for the list and the meaning of each metric.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from utils.observe.aggregate import IOT_TOTAL_STAGE, LATE_AFTER_SECONDS, CommitStatusTracker
from utils.observe.events import (
    CommitStatusEvent,
    Event,
    FiringEvent,
    HeadEvent,
    IotEvent,
    Outcome,
    RpcEvent,
    TargetRateEvent,
    TxEvent,
    TxSentEvent,
)

#: transaction latency, 10 ms .. 120 s
TX_LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120)
#: scheduler lag, 100 us .. 10 s
LAG_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
               2.5, 5, 10)  # fmt: skip
#: IoT stage latency, 1 us .. 120 s (validation and encryption are microseconds, a commit
#: seconds); the run's own histograms resolve every value at 2 % (utils/observe/histogram.py)
IOT_BUCKETS = (
    0.000001, 0.0000025, 0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005,
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120,
)  # fmt: skip
#: JSON-RPC round trip, 1 ms .. 30 s
RPC_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
#: label values known in advance (utils/events.py), created at 0 so dashboards have series
IOT_OPERATIONS = ("register", "submit")
IOT_STAGES = ("validate", "encrypt", "store", "commit", IOT_TOTAL_STAGE)
COMMIT_STATUSES = ("pending", "submitted", "committed", "failed")


class PrometheusSink:
    """Stats-hub sink updating ``kcstress_*`` metrics in ``registry``."""

    def __init__(
        self,
        registry: CollectorRegistry,
        *,
        run_id: str,
        chain_id: int | None,
        version: str,
        targets: Mapping[str, float],
    ) -> None:
        self.registry = registry
        self._commits = CommitStatusTracker()
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}
        self._head = -1
        r = registry
        wl = ["workload"]
        self.transactions = Counter(
            "kcstress_transactions", "Transactions finished, by outcome", [*wl, "outcome"],
            registry=r,
        )  # fmt: skip
        self.sent = Counter(
            "kcstress_transactions_sent", "Transactions accepted by the node", wl, registry=r
        )
        self.tx_latency = Histogram(
            "kcstress_tx_latency_seconds",
            "Intended send time to outcome known, all outcomes",
            wl, buckets=TX_LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.gas = Counter("kcstress_gas_used", "Gas used by finished transactions", wl, registry=r)
        self.gas_by_dimension = Counter(
            "kcstress_gas", "Gas of finished transactions: dimension l1 = the L1 data charge "
            "(Nitro's gasUsedForL1), l2 = execution (gasUsed - l1)", [*wl, "dimension"],
            registry=r,
        )  # fmt: skip
        self.fee = Counter(
            "kcstress_fee_wei", "Fees paid by finished transactions (gasUsed x effectiveGasPrice)",
            wl, registry=r,
        )  # fmt: skip
        self.in_flight = Gauge(
            "kcstress_in_flight_transactions", "Sent, outcome not known yet", wl, registry=r
        )
        self.target_rate = Gauge(
            "kcstress_target_rate_per_second", "Target firings per second", wl, registry=r
        )
        self.offered_rate = Gauge(
            "kcstress_offered_rate_per_second",
            "Rate the workload's profile offers now (follows ramps and stages; 0 when idle)",
            wl, registry=r,
        )  # fmt: skip
        self.firings = Counter(
            "kcstress_firings", "Scheduler firings (offered load)", wl, registry=r
        )
        self.lag = Histogram(
            "kcstress_scheduler_lag_seconds", "Firing time minus intended time",
            wl, buckets=LAG_BUCKETS, registry=r,
        )  # fmt: skip
        self.late = Counter(
            "kcstress_late_firings", f"Firings later than {LATE_AFTER_SECONDS}s", wl, registry=r
        )
        self.missed = Counter(
            "kcstress_missed_firings", "Firings given up (workload too far behind)", wl,
            registry=r,
        )  # fmt: skip
        self._init_iot_and_chain(r)
        info = Gauge(
            "kcstress_run_info", "Constant 1; identifies the run",
            ["run_id", "chain_id", "version"], registry=r,
        )  # fmt: skip
        info.labels(run_id, "" if chain_id is None else str(chain_id), version).set(1)
        for name, rate in targets.items():
            self._init_workload(name, rate)

    def _init_iot_and_chain(self, r: CollectorRegistry) -> None:
        self.iot_ops = Counter(
            "kcstress_iot_operations", "IoT pipeline operations and stages, by outcome",
            ["operation", "stage", "outcome"], registry=r,
        )  # fmt: skip
        self.iot_latency = Histogram(
            "kcstress_iot_stage_latency_seconds", "IoT pipeline stage duration",
            ["stage"], buckets=IOT_BUCKETS, registry=r,
        )  # fmt: skip
        self.iot_bytes = Counter(
            "kcstress_iot_payload_bytes", "Plaintext bytes of whole IoT operations",
            ["operation"], registry=r,
        )  # fmt: skip
        self.records = Gauge(
            "kcstress_iot_records", "lcore records by commit status", ["status"], registry=r
        )
        self.commit_retries = Counter(
            "kcstress_iot_commit_retries", "IoT records sent back to pending after a failed "
            "commit attempt (retries, not failed submissions)", registry=r,
        )
        self.head = Gauge("kcstress_chain_head_block", "Highest block number seen", registry=r)
        self.rpc = Histogram(
            "kcstress_rpc_request_duration_seconds", "JSON-RPC round trip",
            ["method"], buckets=RPC_BUCKETS, registry=r,
        )  # fmt: skip
        self.rpc_errors = Counter(
            "kcstress_rpc_errors", "JSON-RPC calls that failed", ["method"], registry=r
        )
        for stage in IOT_STAGES:
            self.iot_latency.labels(stage)
            for operation in IOT_OPERATIONS:
                self.iot_ops.labels(operation, stage, "success")
                self.iot_ops.labels(operation, stage, "failure")
        for operation in IOT_OPERATIONS:
            self.iot_bytes.labels(operation)
        for status in COMMIT_STATUSES:
            self.records.labels(status).set(0)

    def _init_workload(self, name: str, rate: float) -> None:
        """Create a workload's series at 0 so rate() and absent() behave from the start."""
        self.target_rate.labels(name).set(rate)
        self.offered_rate.labels(name).set(0)
        for outcome in Outcome:
            self.transactions.labels(name, outcome.value)
        for metric in (self.sent, self.tx_latency, self.gas, self.in_flight, self.firings,
                       self.fee):
            metric.labels(name)
        for dimension in ("l1", "l2"):
            self.gas_by_dimension.labels(name, dimension)
        for metric in (self.lag, self.late, self.missed):
            metric.labels(name)

    def _child(self, metric: Any, *labels: str) -> Any:
        """``metric.labels(*labels)``, cached: labels() validates and locks on every call, the
        hot path (several metrics per transaction, from every worker) looks a child up."""
        key = (id(metric), labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def on_event(self, event: Event) -> None:
        if isinstance(event, TxEvent):
            self._on_tx(event)
        elif isinstance(event, TxSentEvent):
            self._child(self.sent, event.workload).inc()
            self._child(self.in_flight, event.workload).inc()
        elif isinstance(event, FiringEvent):
            self._on_firing(event)
        elif isinstance(event, TargetRateEvent):
            self._child(self.offered_rate, event.workload).set(event.rate)
        elif isinstance(event, IotEvent):
            outcome = "success" if event.success else "failure"
            self._child(self.iot_ops, event.operation, event.stage, outcome).inc()
            self._child(self.iot_latency, event.stage).observe(event.latency)
            if event.stage == IOT_TOTAL_STAGE and event.data_size:
                self._child(self.iot_bytes, event.operation).inc(event.data_size)
        elif isinstance(event, CommitStatusEvent):
            self._on_commit(event)
        elif isinstance(event, HeadEvent):
            if event.block_number > self._head:
                self._head = event.block_number
                self.head.set(event.block_number)
        elif isinstance(event, RpcEvent):
            self._child(self.rpc, event.method).observe(event.duration)
            if not event.ok:
                self._child(self.rpc_errors, event.method).inc()

    def _on_tx(self, event: TxEvent) -> None:
        name = event.workload
        self._child(self.transactions, name, event.outcome.value).inc()
        self._child(self.tx_latency, name).observe(event.latency)
        if event.gas_used:
            self._child(self.gas, name).inc(event.gas_used)
            self._child(self.gas_by_dimension, name, "l2").inc(event.l2_gas_used)
            if event.l1_gas_used:
                self._child(self.gas_by_dimension, name, "l1").inc(event.l1_gas_used)
            if event.fee_wei:
                self._child(self.fee, name).inc(event.fee_wei)
        if event.sent_at is not None:
            self._child(self.in_flight, name).dec()

    def _on_firing(self, event: FiringEvent) -> None:
        name = event.workload
        if event.fired:
            self._child(self.firings, name).inc()
            self._child(self.lag, name).observe(event.lag)
            if event.lag > LATE_AFTER_SECONDS:
                self._child(self.late, name).inc()
        if event.missed:
            self._child(self.missed, name).inc(event.missed)

    def _on_commit(self, event: CommitStatusEvent) -> None:
        retries = self._commits.retries
        self._commits.on_status(event)
        if self._commits.retries > retries:
            self.commit_retries.inc()
        for status, count in self._commits.counts.items():
            self.records.labels(status).set(count)

    def flush(self) -> None:
        """Nothing buffered: metrics are read at scrape time."""

    def close(self) -> None:
        """Nothing to release; the registry stays readable for a last scrape."""
