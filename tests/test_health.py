"""HealthMonitor: which IoT failures and refusals make a run unhealthy (fed as a run feeds
it: events emitted to a stats hub, handed on in tallies)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from lcore_node.errors import DEVICE_ERROR_CODES
from utils.clock import Clock
from utils.observe.events import Event, IotEvent, Outcome, TxEvent
from utils.observe.health import (
    LCORE_FAILING_AFTER,
    REFUSALS_JUDGED_FROM,
    HealthMonitor,
    RefusalWindow,
)
from utils.observe.stats import StatsHub


def feeder(monitor: HealthMonitor) -> Callable[[Iterable[Event]], None]:
    hub = StatsHub()
    hub.listen(monitor)

    def feed(events: Iterable[Event]) -> None:
        for event in events:
            hub.emit(event)
        hub.flush_tally()

    return feed


def failure(error: str, stage: str = "total") -> IotEvent:
    return IotEvent(0.0, "dev-1", "ev_sensor", "submit", stage, False, 0.01, error=error)


def test_node_failures_in_a_row_make_the_run_unhealthy_until_a_success() -> None:
    monitor = HealthMonitor(Clock())
    feed = feeder(monitor)
    feed([failure("unavailable")] * (LCORE_FAILING_AFTER - 1))
    assert monitor.check()[0]
    feed([failure("storage", stage="commit")])
    ok, details = monitor.check()
    assert not ok and "lcore node failing" in details["reason"] and "storage" in details["reason"]
    feed([IotEvent(0.0, "dev-1", "ev_sensor", "submit", "total", True, 0.01)])
    assert monitor.check()[0]


def test_bad_device_input_is_not_node_failure() -> None:
    monitor = HealthMonitor(Clock(), device_errors=DEVICE_ERROR_CODES)
    errors = ("unauthorized", "stale", "replay", "not_found", "too_large", "invalid") * 3
    feeder(monitor)([failure(error) for error in errors])
    assert monitor.check() == (True, {"phase": "starting"})


def tx(finished_at: float, outcome: Outcome, error: str = "") -> TxEvent:
    return TxEvent("payment_app", "payment_app", outcome, "0x", finished_at - 0.1, None,
                   finished_at, None, 0, "0xabc", 0, error)


def test_mostly_rejected_transactions_are_unhealthy_then_healthy_again() -> None:
    clock = Clock()
    monitor = HealthMonitor(clock, refusals=RefusalWindow(window=60.0, share=0.5))
    now = clock.now()
    feed = feeder(monitor)  # 6 of 12 rejected: at the share
    feed([tx(now, Outcome.REJECTED if i % 2 else Outcome.SUCCESS, "refused") for i in range(12)])
    ok, details = monitor.check()
    assert not ok and "6 of 12 rejected" in details["reason"] and "refused" in details["reason"]
    feed([tx(now, Outcome.SUCCESS)] * 20)
    assert monitor.check()[0]  # 6 of 32: below the share


def test_refusals_older_than_the_window_are_forgotten() -> None:
    clock = Clock()
    monitor = HealthMonitor(clock, refusals=RefusalWindow(window=5.0, share=0.5))
    feeder(monitor)([tx(clock.now() - 10.0, Outcome.REJECTED)] * 20)
    assert monitor.check()[0]


def test_a_few_transactions_do_not_judge() -> None:
    monitor = HealthMonitor(Clock())
    feeder(monitor)([tx(monitor.clock.now(), Outcome.REJECTED)] * (REFUSALS_JUDGED_FROM - 1))
    assert monitor.check()[0]


def test_the_window_stays_bounded_when_health_is_never_asked() -> None:
    window = RefusalWindow(window=5.0, share=0.5)
    feed = feeder(HealthMonitor(Clock(), refusals=window))
    start = 1_000_000.0
    for second in range(200):  # 100 tx/s for 200 s, a tally a second, nobody calling /health
        feed([tx(start + second + i / 100, Outcome.SUCCESS) for i in range(100)])
    kept = sum(n for _, n, _ in window._outcomes)
    assert 400 <= kept <= 601, kept  # the last 5 s (and the tally's second) only
    assert len(window._outcomes) <= 61  # a tenth of a second each
    assert window.judge(start + 200.0) is None
