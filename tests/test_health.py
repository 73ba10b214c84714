"""HealthMonitor: which IoT failures make a run unhealthy."""

from __future__ import annotations

from lcore_node.errors import DEVICE_ERROR_CODES
from utils.clock import Clock
from utils.observe.events import IotEvent
from utils.observe.health import LCORE_FAILING_AFTER, HealthMonitor


def failure(error: str, stage: str = "total") -> IotEvent:
    return IotEvent(0.0, "dev-1", "ev_sensor", "submit", stage, False, 0.01, error=error)


def test_node_failures_in_a_row_make_the_run_unhealthy_until_a_success() -> None:
    monitor = HealthMonitor(Clock())
    for _ in range(LCORE_FAILING_AFTER - 1):
        monitor.on_event(failure("unavailable"))
    assert monitor.check()[0]
    monitor.on_event(failure("storage", stage="commit"))
    ok, details = monitor.check()
    assert not ok and "lcore node failing" in details["reason"] and "storage" in details["reason"]
    monitor.on_event(IotEvent(0.0, "dev-1", "ev_sensor", "submit", "total", True, 0.01))
    assert monitor.check()[0]


def test_bad_device_input_is_not_node_failure() -> None:
    monitor = HealthMonitor(Clock(), device_errors=DEVICE_ERROR_CODES)
    for error in ("unauthorized", "stale", "replay", "not_found", "too_large", "invalid") * 3:
        monitor.on_event(failure(error))
    assert monitor.check() == (True, {"phase": "starting"})
