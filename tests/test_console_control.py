"""Steering a running workload (utils/load/rate_control.py through the scheduler): a new
profile applies from the instant of the change with its own time 0 (no burst to catch up),
pause fires nothing until resume, and every change moves the target the scheduler reports."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from utils.clock import Clock
from utils.load.profiles import parse_profile
from utils.load.rate_control import LoadControl, SteeringError
from utils.load.scheduler import Scheduler
from utils.load.workload import Workload
from utils.observe.events import Event, FiringEvent, TargetRateEvent
from utils.observe.stats import StatsHub


class Counter(Workload):
    name = "payment_app"

    async def step(self, intended_at: float) -> None:
        await asyncio.sleep(0)


def _fired(events: list[Event], since: float = 0.0, until: float = float("inf")) -> list[float]:
    return [e.intended_at for e in events
            if isinstance(e, FiringEvent) and e.fired and since <= e.intended_at < until]


async def test_switch_rebases_time_and_pause_fires_nothing() -> None:
    hub, events, clock = StatsHub(), list[Event](), Clock()
    hub.tap(events.append)
    control = LoadControl(clock.now)
    control.add("payment_app", parse_profile("20"))
    scheduler, stop = Scheduler(hub, clock), asyncio.Event()
    task = asyncio.create_task(scheduler.run(Counter(), control.controls["payment_app"], stop))
    await asyncio.sleep(0.3)
    changes = control.set_rates(control.check_rates({"payment": "200"}))
    switched = control.controls["payment_app"].start
    assert changes == {"payment_app": "20 -> 200"} and switched is not None
    await asyncio.sleep(0.3)
    control.set_paused("payment_app", True)
    paused = control.controls["payment_app"].start
    assert paused is not None
    await asyncio.sleep(0.3)
    control.set_paused("payment_app", False)
    resumed = control.controls["payment_app"].start
    assert resumed is not None
    await asyncio.sleep(0.2)
    stop.set()
    await task
    await scheduler.wait_steps(2.0)
    before = _fired(events, until=switched)
    after = _fired(events, switched, paused)
    # before the switch every 1/20 s; after it, from the switch on, every 1/200 s: the first
    # firing at the switch itself, none owed from before
    assert all(abs(b - a - 0.05) < 1e-6 for a, b in itertools.pairwise(before))
    assert after and abs(after[0] - switched) < 1e-6
    assert all(abs(b - a - 0.005) < 1e-6 for a, b in itertools.pairwise(after))
    assert not _fired(events, paused + 1e-9, resumed)  # paused: nothing
    again = _fired(events, resumed)
    assert again and abs(again[0] - resumed) < 1e-6  # resumed at its profile's time 0
    targets = [(e.timestamp, e.rate) for e in events if isinstance(e, TargetRateEvent)]
    assert [r for _, r in targets] == [20.0, 200.0, 0.0, 200.0, 0.0]
    assert targets[1][0] >= switched


def test_bad_changes_name_the_problem_and_change_nothing() -> None:
    control = LoadControl(Clock().now)
    control.add("payment_app", parse_profile("5"))
    with pytest.raises(SteeringError, match="unknown workload 'nope'"):
        control.check_rates({"nope": 3})
    with pytest.raises(SteeringError, match=r"payment_app.*unknown profile 'zigzag'"):
        control.check_rates({"payment_app": "zigzag:1"})
    with pytest.raises(SteeringError, match="expected a rate"):
        control.check_rates({"payment_app": [1, 2]})
    with pytest.raises(SteeringError, match="already not paused"):
        control.set_paused("payment", False)
    assert control.describe()["payment_app"]["profile"] == "5"
    assert control.controls["payment_app"].version == 0


def test_a_steered_workloads_target_is_the_mean_of_what_it_was_told() -> None:
    """10/s for 10 s, 40/s for 5 s, paused 5 s, 40/s again for 10 s, then a ramp 0-20 over 10 s
    held: the run's target over 0-40 s is the mean of all of it, (100 + 200 + 0 + 400 + 100 +
    0) / 40, not the first profile's 10/s."""
    now = [0.0]
    control = LoadControl(lambda: now[0])
    c = control.add("payment_app", parse_profile("10"))
    c.start = 0.0
    assert c.mean_target(0.0, 10.0) == 10.0
    for at, change in ((10.0, {"payment": 40}), (15.0, "pause"), (20.0, "resume"),
                       (30.0, {"payment": "ramp:0-20:10"})):
        now[0] = at
        if isinstance(change, dict):
            control.set_rates(control.check_rates(change))
        else:
            control.set_paused("payment", change == "pause")
    assert c.mean_target(0.0, 40.0) == pytest.approx((100 + 200 + 400 + 100) / 40)
    now[0] = 45.0
    control.set_paused("payment", True)  # paused to the end: nothing more is told
    assert c.mean_target(0.0, 50.0) == pytest.approx((100 + 200 + 400 + 100 + 100) / 50)
