"""Timing of node operations: one IotEvent per stage reached, one ``total`` per operation.

The ``total`` carries the timings of the stages reached (``stages``) and, for a
submission the node's outbox will commit, its ``record_id``: iot_metrics.csv writes
one row per operation from them.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from lcore_node.errors import LcoreError
from utils.observe.events import IotEvent
from utils.observe.stats import StatsHub


def error_code(exc: BaseException) -> str:
    """Low-cardinality name of a failure, for events."""
    return exc.code if isinstance(exc, LcoreError) else type(exc).__name__


class OperationTimer:
    """Times the stages of one register/submit operation with ``perf_counter``.

    ``with timer.stage("encrypt"): ...`` emits the stage once, as a success or
    (if the block raises) as a failure carrying the error code; ``finish``
    emits the ``total`` event. Without a hub nothing is emitted. Stages do not
    nest (the timer is its own context manager: cheap on the hot path).
    """

    __slots__ = (
        "_clock",
        "_hub",
        "_stage",
        "_stage_start",
        "_start",
        "data_size",
        "device_id",
        "device_type",
        "operation",
        "record_id",
        "stages",
    )

    def __init__(
        self,
        hub: StatsHub | None,
        operation: str,
        device_id: str,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._hub = hub
        self._clock = clock
        self.operation = operation
        self.device_id = device_id
        self.device_type = ""
        self.data_size = 0
        self.record_id: int | None = None
        self.stages: list[tuple[str, float]] = []
        self._stage = ""
        self._start = self._stage_start = time.perf_counter()

    def stage(self, name: str) -> OperationTimer:
        self._stage = name
        return self

    def __enter__(self) -> None:
        self._stage_start = time.perf_counter()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, _tb: object
    ) -> None:
        latency = time.perf_counter() - self._stage_start
        self.stages.append((self._stage, latency))
        if exc is None:
            self._emit(self._stage, True, latency, "")
        elif isinstance(exc, Exception):
            self._emit(self._stage, False, latency, error_code(exc))

    def finish(self, error: BaseException | None = None) -> None:
        latency = time.perf_counter() - self._start
        self._emit("total", error is None, latency, error_code(error) if error else "",
                   total=True)

    def _emit(
        self, stage: str, success: bool, latency: float, error: str, *, total: bool = False
    ) -> None:
        if self._hub is not None:
            self._hub.emit(
                IotEvent(
                    self._clock(),
                    self.device_id,
                    self.device_type,
                    self.operation,
                    stage,
                    success,
                    latency,
                    "",
                    error,
                    self.data_size,
                    self.record_id if total else None,
                    tuple(self.stages) if total else (),
                )
            )
