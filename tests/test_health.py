"""HealthMonitor: which IoT failures make a run unhealthy."""

from __future__ import annotations

from lcore_node.errors import DEVICE_ERROR_CODES
from utils.clock import Clock
from utils.observe.events import IotEvent, Outcome, TxEvent
from utils.observe.health import (
    LCORE_FAILING_AFTER,
    REFUSALS_JUDGED_FROM,
    HealthMonitor,
    RefusalWindow,
)


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


def tx(finished_at: float, outcome: Outcome, error: str = "") -> TxEvent:
    return TxEvent("payment_app", "payment_app", outcome, "0x", finished_at - 0.1, None,
                   finished_at, None, 0, "0xabc", 0, error)


def test_mostly_rejected_transactions_are_unhealthy_then_healthy_again() -> None:
    clock = Clock()
    monitor = HealthMonitor(clock, refusals=RefusalWindow(window=60.0, share=0.5))
    now = clock.now()
    for i in range(12):  # 6 of 12 rejected: at the share
        monitor.on_event(tx(now, Outcome.REJECTED if i % 2 else Outcome.SUCCESS, "refused"))
    ok, details = monitor.check()
    assert not ok and "6 of 12 rejected" in details["reason"] and "refused" in details["reason"]
    for _ in range(20):
        monitor.on_event(tx(now, Outcome.SUCCESS))
    assert monitor.check()[0]  # 6 of 32: below the share


def test_refusals_older_than_the_window_are_forgotten() -> None:
    clock = Clock()
    monitor = HealthMonitor(clock, refusals=RefusalWindow(window=5.0, share=0.5))
    for _ in range(20):
        monitor.on_event(tx(clock.now() - 10.0, Outcome.REJECTED))
    assert monitor.check()[0]


def test_a_few_transactions_do_not_judge() -> None:
    monitor = HealthMonitor(Clock())
    for _ in range(REFUSALS_JUDGED_FROM - 1):
        monitor.on_event(tx(monitor.clock.now(), Outcome.REJECTED))
    assert monitor.check()[0]


def test_the_window_stays_bounded_when_health_is_never_asked() -> None:
    window = RefusalWindow(window=5.0, share=0.5)
    start = 1_000_000.0
    for i in range(20_000):  # 100 tx/s for 200 s, nobody calling /health
        window.add(tx(start + i / 100, Outcome.SUCCESS))
    kept = len(window._outcomes)
    assert 400 <= kept <= 501, kept  # the last 5 s only
    assert window.judge(start + 200.0) is None
