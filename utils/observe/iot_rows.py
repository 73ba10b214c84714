"""Rows of ``iot_metrics.csv``: one per IoT operation, in the original system's terms.

The original columns come first, with its values: ``operation`` is ``registration``
or ``data_submission``; ``pipeline_stage`` is ``lcore_api`` for a registration,
``complete_pipeline`` for a stored submission, and for a refused operation the stage
that failed (``validate``, ``encrypt``, ``store``; ``lcore_api`` when a remote node
refused it). Added columns follow: the record id, each stage's seconds (empty when
the stage was not reached) and the record's commit status. A submission's ``tx_hash``
and ``commit_sec`` come from its record's commit, when that ended while the row was held.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from utils.observe.events import IotEvent
from utils.redact import redact_text

ORIGINAL_IOT_COLUMNS: tuple[str, ...] = (
    "timestamp", "device_id", "device_type", "operation", "success", "latency_sec",
    "pipeline_stage", "tx_hash", "error_details", "data_size_bytes",
)  # fmt: skip
STAGES: tuple[str, ...] = ("validate", "encrypt", "store", "commit")
IOT_COLUMNS: tuple[str, ...] = (
    *ORIGINAL_IOT_COLUMNS, "record_id", *(f"{s}_sec" for s in STAGES), "commit_status",
)  # fmt: skip
OPERATION_NAMES = {"register": "registration", "submit": "data_submission"}
EVENT_OPERATIONS = {v: k for k, v in OPERATION_NAMES.items()}
SUCCESS_STAGE = {"register": "lcore_api", "submit": "complete_pipeline"}
REMOTE_STAGE = "lcore_api"  # a failure with no stage reached here: the remote API refused


def _iso_utc(unix: float) -> str:
    return datetime.fromtimestamp(unix, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


def _seconds(value: float | None) -> str:
    return "" if value is None else f"{value:.9f}"


def pipeline_stage(total: IotEvent) -> str:
    if total.success:
        return SUCCESS_STAGE.get(total.operation, total.operation)
    return total.stages[-1][0] if total.stages else REMOTE_STAGE


def commit_status(total: IotEvent, commit: IotEvent | None) -> str:
    if commit is not None:
        return "committed" if commit.success else "failed"
    return "pending" if total.record_id is not None else ""


def iot_row(total: IotEvent, commit: IotEvent | None = None) -> list[Any]:
    """The row of one operation (its ``total`` event) and, if known, its record's commit."""
    stages: dict[str, float | None] = {name: None for name in STAGES}
    stages.update(total.stages)
    error = total.error
    if commit is not None:
        stages["commit"] = commit.latency
        error = error or commit.error
    return [
        _iso_utc(total.timestamp), total.device_id, total.device_type,
        OPERATION_NAMES.get(total.operation, total.operation), total.success,
        f"{total.latency:.9f}", pipeline_stage(total),
        commit.tx_hash if commit is not None else total.tx_hash,
        redact_text(" ".join(error.split())), total.data_size,
        "" if total.record_id is None else total.record_id,
        *(_seconds(stages[name]) for name in STAGES), commit_status(total, commit),
    ]  # fmt: skip
