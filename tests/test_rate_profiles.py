"""Rate profiles, SLOs and the search's decisions, without a chain: the real scheduler on the
real clock, the real KPI interval sink, the real search state machine."""

from __future__ import annotations

import asyncio
import csv
import itertools
import math
from pathlib import Path

import pytest

from utils.clock import Clock
from utils.errors import ConfigError
from utils.load.capacity import (
    FAIL,
    GENERATOR_BOUND,
    PASS,
    CapacityConfig,
    CapacitySearch,
    StepResult,
)
from utils.load.profiles import RateProfile, parse_profile, profile_from_toml
from utils.load.scheduler import Scheduler
from utils.load.slo import DEFAULT_SLOS, failures, parse_slo, slo_set
from utils.load.workload import Workload
from utils.observe.events import Event, FiringEvent, TargetRateEvent
from utils.observe.kpi_intervals import KpiIntervalSink
from utils.observe.stats import StatsHub
from utils.settings import load_settings


class Recorder(Workload):
    name = "payment_app"

    def __init__(self) -> None:
        self.intended: list[float] = []

    async def step(self, intended_at: float) -> None:
        self.intended.append(intended_at)


def test_profile_forms_and_their_integral() -> None:
    ramp = parse_profile("ramp:10-200:60")
    assert ramp.rate_at(0) == 10 and ramp.rate_at(30) == 105 and ramp.rate_at(99) == 200
    assert ramp.firings_until(60) == pytest.approx(6300)
    stages = parse_profile("stages:30@100,60@100,30@0:poisson")
    assert stages.arrival == "poisson" and stages.peak == 100
    assert stages.firings_until(120) == pytest.approx(1500 + 6000 + 1500)
    assert math.isinf(stages.time_at(9001))  # it offers nothing after its last stage
    for profile in (ramp, stages, parse_profile("25")):
        for count in (0.5, 7, 1234.5):
            t = profile.time_at(count)
            assert profile.firings_until(t) == pytest.approx(count, rel=1e-9)
    assert parse_profile(ramp.describe()) == ramp
    assert profile_from_toml({"ramp": [10, 200, 60], "arrival": "poisson"}, "p").arrival \
        == "poisson"
    assert profile_from_toml({"stages": [[30, 100], [60, 100]]}, "p").firings_until(90) \
        == pytest.approx(7500)
    for bad in ("ramp:10:60", "stages:30", "sine:1", "-5", "ramp:a-2:3"):
        with pytest.raises(ConfigError):
            parse_profile(bad)


def test_scenario_profiles_and_capacity_table(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text('[rates]\npayment = "ramp:0-50:10"\nmerchant = {stages = [[5, 20]]}\n'
                    "lending = 3\n[capacity]\nslo = ['p95<1s']\n")
    settings = load_settings({}, path)
    assert settings.lending_rate == 3
    assert settings.rate_profiles == {"payment_app": "ramp:0-50:10",
                                      "merchant_app": {"stages": [[5, 20]]}}
    from utils.load.profiles import apply_profiles

    applied = apply_profiles(settings, {"merchant_app": "7"})  # the CLI wins over the file
    assert applied.payment_rate == 50 and applied.merchant_rate == 7


async def _fire(profile: RateProfile, seconds: float, hub: StatsHub) -> list[float]:
    clock = Clock()
    workload, stop = Recorder(), asyncio.Event()
    task = asyncio.create_task(Scheduler(hub, clock, seed=1).run(workload, profile, stop))
    start = clock.now()
    await asyncio.sleep(seconds)
    stop.set()
    await task
    return [t - start for t in workload.intended]


async def test_intended_times_follow_a_ramp_open_loop() -> None:
    hub, events = StatsHub(), []
    hub.tap(events.append)
    profile = parse_profile("ramp:0-400:2")
    offsets = await _fire(profile, 2.0, hub)
    # 400 expected firings in 2 s, the n-th at the time the integral reaches n
    assert 380 <= len(offsets) <= 401
    for n in (1, 100, 300):
        assert offsets[n - 1] == pytest.approx(profile.time_at(n), abs=0.01)
    first, last = offsets[:50], offsets[-50:]
    assert (first[-1] - first[0]) > 3 * (last[-1] - last[0])  # spacing shrinks as rate grows
    targets = [e.rate for e in events if isinstance(e, TargetRateEvent)]
    assert targets[0] == 0 and max(targets) > 300 and targets[-1] == 0
    assert sum(e.fired for e in events if isinstance(e, FiringEvent)) == len(offsets)


async def test_poisson_on_stages() -> None:
    profile = parse_profile("stages:0@300,1@300:poisson")
    offsets = await _fire(profile, 1.5, StatsHub())
    gaps = [b - a for a, b in itertools.pairwise(offsets)]
    assert 450 * 0.8 <= len(offsets) <= 450 * 1.2  # 300/s, held after the last stage
    assert max(gaps) > 4 * min(gaps)  # exponential gaps, not even spacing


def test_kpi_interval_target_is_the_profile_mean(tmp_path: Path) -> None:
    now = [1000.0]
    sink = KpiIntervalSink(tmp_path, interval=10, targets={"payment_app": 0.0}, start=1000.0,
                           clock=lambda: now[0])
    events: list[Event] = [TargetRateEvent("payment_app", 1000.0 + t, 10.0 * t)
                           for t in range(21)]  # a ramp 0 -> 200 in steps each second
    hub = StatsHub()
    hub.add_sink(sink)
    for event in events:
        now[0] = event.timestamp
        hub.emit(event)
        hub.flush()  # the tally handed on, then the sink ticks
    now[0] = 1020.0
    sink.close()
    rows = list(csv.DictReader((tmp_path / "kpi_intervals.csv").open()))
    targets = [float(r["target_rate"]) for r in rows if r["workload"] == "payment_app"]
    assert targets[:2] == [pytest.approx(45.0), pytest.approx(145.0)]  # each second's rate


def test_slo_text_and_defaults() -> None:
    assert parse_slo("p95<2s").threshold == 2 and parse_slo("p99<=800ms").threshold == 0.8
    assert parse_slo("success>=99%").threshold == pytest.approx(0.99)
    slos = slo_set(["p95<1s"])
    assert len(slos) == len(DEFAULT_SLOS) and any(s.text() == "p95<1s" for s in slos)
    assert failures(slos, {"p95": 1.5, "success": 1.0, "basefee": None}) == [
        "p95 1.500s (SLO p95<1s)"]
    for bad in ("p95<<2s", "latency<1s", "success>=99ms", "p95<-1s"):
        with pytest.raises(ConfigError):
            parse_slo(bad)


def _judge(knee: float, generator_limit: float = math.inf):
    def step(index: int, rate: float) -> StepResult:
        bound = ["firings late"] if rate > generator_limit else []
        failed = ["backlog"] if rate > knee or bound else []
        return StepResult(index, "", rate, {"achieved": min(rate, generator_limit)}, failed,
                          bound)
    return step


@pytest.mark.parametrize("knee", [7.0, 137.0, 2500.0])
def test_search_brackets_the_knee_to_its_precision(knee: float) -> None:
    search = CapacitySearch(CapacityConfig(start_rate=10, precision=0.05))
    judge = _judge(knee)
    while (rate := search.next_rate()) is not None:
        search.record(judge(len(search.steps) + 1, rate))
    outcome = search.outcome()
    assert outcome.status == "knee" and outcome.exit_code == 0
    assert knee * 0.95 <= outcome.capacity <= knee
    assert outcome.upper is not None and outcome.upper.offered > knee
    assert len(search.steps) < 16
    assert {s.verdict for s in search.steps} == {PASS, FAIL}


def test_search_says_generator_bound_and_never_calls_it_capacity() -> None:
    search = CapacitySearch(CapacityConfig(start_rate=10, precision=0.05))
    judge = _judge(knee=5000.0, generator_limit=300.0)
    while (rate := search.next_rate()) is not None:
        search.record(judge(len(search.steps) + 1, rate))
    outcome = search.outcome()
    assert outcome.status == GENERATOR_BOUND and outcome.exit_code == 1
    assert ">= " in outcome.headline() and "--workers" in outcome.headline()
    assert outcome.as_dict()["knee_tx_per_sec"] is None
    assert 285 <= outcome.capacity <= 300
