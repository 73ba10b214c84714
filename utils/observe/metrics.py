"""Prometheus metrics fed by the stats hub, on a registry passed in.

Names start with ``kcstress_``, are in base units (``_seconds``), counters end
in ``_total``, and no label holds a tx hash, an address or a block number.
See docs/observability.md for the list and the meaning of each metric.
"""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge

from utils.observe.aggregate import IOT_TOTAL_STAGE, LATE_AFTER_SECONDS, CommitStatusTracker
from utils.observe.buckets import FINALITY_BUCKETS, LATENCY_BUCKETS, RPC_BUCKETS
from utils.observe.events import (
    FINALITY_STAGES,
    CommitStatusEvent,
    Event,
    FinalityEvent,
    HeadEvent,
    InputEvent,
    IotEvent,
    Outcome,
    ReorgEvent,
    TargetRateEvent,
    TxCorrectionEvent,
)
from utils.observe.prom_series import CounterSeries, GaugeSeries, HistogramSeries, SeriesCollector
from utils.observe.tally import RpcCell, Tally

__all__ = ["LATENCY_BUCKETS", "RPC_BUCKETS", "PrometheusSink"]

#: label values known in advance (utils/observe/events.py), created at 0 so dashboards have
#: series
IOT_OPERATIONS = ("register", "submit")
IOT_STAGES = ("validate", "encrypt", "store", "commit", IOT_TOTAL_STAGE)
COMMIT_STATUSES = ("pending", "submitted", "committed", "failed")
#: the JSON-RPC failure kinds the transport retries (utils/chain/rpc_faults.py RETRYABLE)
RETRIED_KINDS = ("throttled", "transient", "connection", "timeout")


class PrometheusSink:
    """Stats-hub sink updating ``kcstress_*`` metrics in ``registry``.

    Fed by the stats hub's tallies (:meth:`on_tally`). The per-transaction series
    (transactions, latency, gas, fees, firings, lag, JSON-RPC) and the IoT stage latency are
    plain numbers exported at scrape time (:mod:`utils.observe.prom_series`); the latency
    and lag buckets are the tally's own histograms re-bucketed (:mod:`utils.observe.buckets`).
    The rare ones (IoT counts, commit statuses, head, rates, run info) are prometheus_client
    metrics."""

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
        self._head = -1
        r = registry
        self._init_hot(r)
        self.target_rate = Gauge(
            "kcstress_target_rate_per_second", "Target firings per second", ["workload"],
            registry=r,
        )  # fmt: skip
        self.offered_rate = Gauge(
            "kcstress_offered_rate_per_second",
            "Rate the workload's profile offers now (follows ramps and stages; 0 when idle)",
            ["workload"], registry=r,
        )  # fmt: skip
        self._init_iot_and_chain(r)
        info = Gauge(
            "kcstress_run_info", "Constant 1; identifies the run",
            ["run_id", "chain_id", "version"], registry=r,
        )  # fmt: skip
        info.labels(run_id, "" if chain_id is None else str(chain_id), version).set(1)
        for name, rate in targets.items():
            self._init_workload(name, rate)

    def _init_hot(self, r: CollectorRegistry) -> None:
        wl = ["workload"]
        self.transactions = CounterSeries(
            "kcstress_transactions", "Transactions finished, by outcome", [*wl, "outcome"])
        self.sent = CounterSeries("kcstress_transactions_sent",
                                  "Transactions accepted by the node", wl)
        self.tx_latency = HistogramSeries(
            "kcstress_tx_latency_seconds", "Intended send time to outcome known, all outcomes",
            wl, LATENCY_BUCKETS)
        self.gas = CounterSeries("kcstress_gas_used", "Gas used by finished transactions", wl)
        self.gas_by_dimension = CounterSeries(
            "kcstress_gas", "Gas of finished transactions: dimension l1 = the L1 data charge "
            "(Nitro's gasUsedForL1), l2 = execution (gasUsed - l1)", [*wl, "dimension"])
        self.fee = CounterSeries(
            "kcstress_fee_wei", "Fees paid by finished transactions (gasUsed x effectiveGasPrice)",
            wl)
        self.in_flight = GaugeSeries("kcstress_in_flight_transactions",
                                     "Sent, outcome not known yet", wl)
        self.firings = CounterSeries("kcstress_firings", "Scheduler firings (offered load)", wl)
        self.lag = HistogramSeries("kcstress_scheduler_lag_seconds",
                                   "Firing time minus intended time", wl, LATENCY_BUCKETS)
        self.late = CounterSeries("kcstress_late_firings",
                                  f"Firings later than {LATE_AFTER_SECONDS}s", wl)
        self.missed = CounterSeries("kcstress_missed_firings",
                                    "Firings given up (workload too far behind)", wl)
        self.rpc = HistogramSeries("kcstress_rpc_request_duration_seconds",
                                   "JSON-RPC round trip", ["method"], RPC_BUCKETS)
        self.rpc_errors = CounterSeries(
            "kcstress_rpc_errors", "JSON-RPC requests that failed, by kind (throttled, transient, "
            "connection, timeout, unsupported, reply, final)", ["method", "kind"])
        self.rpc_retries = CounterSeries("kcstress_rpc_retries",
                                         "JSON-RPC requests tried again, by the failure's kind",
                                         ["kind"])
        self.rpc_held = CounterSeries(
            "kcstress_rpc_throttled_seconds", "Seconds no JSON-RPC request could leave: the "
            "provider's Retry-After (or throttle backoff) windows")
        self.rpc_held.touch()
        for kind in RETRIED_KINDS:
            self.rpc_retries.touch(kind)
        # a corrected outcome (utils/observe/events.py TxCorrectionEvent): the new outcome is
        # counted in kcstress_transactions_total, the one it replaces here, so the current
        # count of an outcome is transactions_total - transactions_superseded_total
        self.superseded = CounterSeries(
            "kcstress_transactions_superseded",
            "Outcomes replaced by a correction (late receipt, reorg), by the replaced outcome",
            [*wl, "outcome"])
        self.gas_superseded = CounterSeries(
            "kcstress_gas_used_superseded",
            "Gas of corrected outcomes as first recorded (gas_used_total counts the new gas)", wl)
        self.fee_superseded = CounterSeries(
            "kcstress_fee_wei_superseded",
            "Fees of corrected outcomes as first recorded (fee_wei_total counts the new fee)", wl)
        SeriesCollector(r, [self.transactions, self.sent, self.tx_latency, self.gas,
                            self.gas_by_dimension, self.fee, self.in_flight, self.firings,
                            self.lag, self.late, self.missed, self.rpc, self.rpc_errors,
                            self.rpc_retries, self.rpc_held,
                            self.superseded, self.gas_superseded, self.fee_superseded])

    def _init_iot_and_chain(self, r: CollectorRegistry) -> None:
        self.iot_ops = Counter(
            "kcstress_iot_operations", "IoT pipeline operations and stages, by outcome",
            ["operation", "stage", "outcome"], registry=r,
        )  # fmt: skip
        self.iot_latency = HistogramSeries(
            "kcstress_iot_stage_latency_seconds", "IoT pipeline stage duration", ["stage"],
            LATENCY_BUCKETS)
        self.finality = HistogramSeries(
            "kcstress_finality_latency_seconds", "Sampled transactions: intended send time to "
            "a finality stage (receipt, batch_posted, l1_confirmed)", ["stage"],
            FINALITY_BUCKETS)
        self.inputbox = HistogramSeries(
            "kcstress_inputbox_latency_seconds", "Cartesi application (--iot-commit inputbox): "
            "measure input_lag = the block that added an input first seen to its "
            "processing; end_to_end = a record's submission to its processing", ["measure"],
            LATENCY_BUCKETS)
        SeriesCollector(r, [self.iot_latency, self.finality, self.inputbox])
        for measure in ("input_lag", "end_to_end"):
            self.inputbox.touch(measure)
        self.inputbox_records = Counter(
            "kcstress_inputbox_records", "Records in the InputBox inputs the Cartesi "
            "application processed, by outcome (kept, rejected)", ["outcome"], registry=r)
        self.inputbox_inputs = Counter(
            "kcstress_inputbox_inputs", "InputBox inputs the Cartesi application processed",
            registry=r)
        for outcome in ("kept", "rejected"):
            self.inputbox_records.labels(outcome)
        for stage in FINALITY_STAGES:
            self.finality.touch(stage)
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
        self.reorgs = Counter("kcstress_reorgs", "Chain reorganisations the block follower "
                              "found (parent hash mismatch)", registry=r)
        self.reorg_blocks = Counter("kcstress_reorg_blocks", "Blocks replaced by reorgs (the "
                                    "sum of their depths)", registry=r)
        self.reorg_max_depth = Gauge("kcstress_reorg_max_depth_blocks",
                                     "Deepest reorg so far, in blocks", registry=r)
        self._reorgs_seen: set[str] = set()
        self._reorg_depth = 0
        for stage in IOT_STAGES:
            self.iot_latency.touch(stage)
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
            self.transactions.touch(name, outcome.value)
            self.superseded.touch(name, outcome.value)
        for metric in (self.sent, self.tx_latency, self.gas, self.in_flight, self.firings,
                       self.fee, self.lag, self.late, self.missed, self.gas_superseded,
                       self.fee_superseded):
            metric.touch(name)
        for dimension in ("l1", "l2"):
            self.gas_by_dimension.touch(name, dimension)

    def on_tally(self, tally: Tally) -> None:
        """Every series, from the frequent events' counts and the others in order."""
        self._on_transactions(tally)
        for name, firing in tally.firing.items():
            key = (name,)
            if firing.fired:
                self.firings.inc(key, firing.fired)
                self.lag.add_histogram(key, firing.lag)
                if firing.late:
                    self.late.inc(key, firing.late)
            if firing.missed:
                self.missed.inc(key, firing.missed)
        for method, rpc in tally.rpc.items():
            self.rpc.add((method,), rpc.buckets, rpc.total)
            if rpc.errors:
                self._on_rpc_errors(method, rpc)
        for event in tally.others:
            self._on_other(event)

    def _on_rpc_errors(self, method: str, rpc: RpcCell) -> None:
        for kind, n in rpc.kinds.items():
            self.rpc_errors.inc((method, kind), n)
        for kind, n in rpc.retries.items():
            self.rpc_retries.inc((kind,), n)
        if rpc.held:
            self.rpc_held.inc((), rpc.held)

    def _on_transactions(self, tally: Tally) -> None:
        for name, tx in tally.tx.items():
            key = (name,)
            for outcome, n in tx.outcomes.items():
                self.transactions.inc((name, outcome), n)
            self.tx_latency.add_histogram(key, tx.latency)
            if tx.gas_used:
                self.gas.inc(key, tx.gas_used)
                self.gas_by_dimension.inc((name, "l2"), tx.l2_gas_used)
                if tx.l1_gas_used:
                    self.gas_by_dimension.inc((name, "l1"), tx.l1_gas_used)
                if tx.fee_wei:
                    self.fee.inc(key, tx.fee_wei)
            if tx.finished_sent:
                self.in_flight.inc(key, -tx.finished_sent)
        for name, n in tally.sent.items():
            self.sent.inc((name,), n)
            self.in_flight.inc((name,), n)

    def _on_other(self, event: Event) -> None:
        if isinstance(event, IotEvent):
            outcome = "success" if event.success else "failure"
            self.iot_ops.labels(event.operation, event.stage, outcome).inc()
            self.iot_latency.observe((event.stage,), event.latency)
            if event.stage == IOT_TOTAL_STAGE and event.data_size:
                self.iot_bytes.labels(event.operation).inc(event.data_size)
        elif isinstance(event, CommitStatusEvent):
            self._on_commit(event)
        elif isinstance(event, TargetRateEvent):
            self.offered_rate.labels(event.workload).set(event.rate)
        elif isinstance(event, HeadEvent) and event.block_number > self._head:
            self._head = event.block_number
            self.head.set(event.block_number)
        elif isinstance(event, TxCorrectionEvent):
            self._on_correction(event)
        elif isinstance(event, FinalityEvent):
            self.finality.observe((event.stage,), event.latency)
        elif isinstance(event, InputEvent):
            self._on_input(event)
        elif isinstance(event, ReorgEvent) and event.removed_head not in self._reorgs_seen:
            self._reorgs_seen.add(event.removed_head)  # once, however many workers saw it
            self.reorgs.inc()
            self.reorg_blocks.inc(event.depth)
            self._reorg_depth = max(self._reorg_depth, event.depth)
            self.reorg_max_depth.set(self._reorg_depth)

    def _on_input(self, event: InputEvent) -> None:
        self.inputbox_inputs.inc()
        self.inputbox_records.labels("kept").inc(event.records)
        if event.rejected:
            self.inputbox_records.labels("rejected").inc(event.rejected)
        self.inputbox.observe(("input_lag",), event.input_lag)
        for latency in event.latencies:
            self.inputbox.observe(("end_to_end",), latency)

    def _on_correction(self, event: TxCorrectionEvent) -> None:
        key = (event.workload,)
        self.transactions.inc((event.workload, event.new_outcome))
        self.superseded.inc((event.workload, event.old_outcome))
        if event.new_gas_used:
            self.gas.inc(key, event.new_gas_used)
            self.fee.inc(key, event.new_fee_wei)
        if event.old_gas_used:
            self.gas_superseded.inc(key, event.old_gas_used)
            self.fee_superseded.inc(key, event.old_fee_wei)

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
