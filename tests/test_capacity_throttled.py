"""A capacity search held back by its JSON-RPC provider says "provider-throttled" and never
reports that as the chain's capacity or failure (issue 20, point 2).

The provider is tests/rpc_proxy.py in front of the embedded chain, answering a seeded share
of requests HTTP 429 + Retry-After or JSON-RPC -32005: the step probe counts a window's round
trips as the Rpc does, a search whose every step is throttled ends provider-throttled (exit 4,
no knee, every step's verdict and why say so), and the search's rules keep such a step from
ever being the knee. The search through the proxy is slow (tests/conftest.py).
"""

from __future__ import annotations

import csv
import json
import math
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import clean_env, main_cmd
from tests.rpc_proxy import Faults, proxied
from utils.chain.rpc import Rpc
from utils.chain.rpc_retry import MIN_THROTTLED
from utils.clock import Clock
from utils.devchain import DevChain
from utils.load.capacity import (
    EXIT_PROVIDER_THROTTLED,
    FAIL,
    GENERATOR_BOUND,
    PASS,
    PROVIDER_THROTTLED,
    CapacityConfig,
    CapacitySearch,
    StepResult,
)
from utils.load.step_probe import StepProbe
from utils.observe.stats import StatsHub

SEED = 20
#: a provider that throttles about a third of what it is sent (Alchemy-like 429s with a
#: 2 s Retry-After, Infura-like -32005s)
THROTTLING = Faults("throttling", seed=SEED, http_429=0.25, retry_after=2, limit_32005=0.1)


Judge = Callable[[int, float], StepResult]


def _judge(knee: float, throttle_above: float = math.inf,
           generator_above: float = math.inf) -> Judge:
    """Steps as the driver judges them: above the knee the SLOs fail; above the provider's
    limit a failed step was throttled; above the generator's, it was saturated."""
    def step(index: int, rate: float) -> StepResult:
        throttled = rate > throttle_above
        failed = ["p95 3.000s (SLO p95<=2s)"] if rate > knee or throttled else []
        provider = ["12 of 80 requests throttled (15.0 %)"] if failed and throttled else []
        bound = ["firings late"] if failed and rate > generator_above else []
        return StepResult(index, "", rate, {"achieved": min(rate, throttle_above)}, failed,
                          bound, provider)
    return step


def _search(judge: Judge) -> CapacitySearch:
    search = CapacitySearch(CapacityConfig(start_rate=10, precision=0.05))
    while (rate := search.next_rate()) is not None:
        search.record(judge(len(search.steps) + 1, rate))
    return search


def test_a_throttled_step_is_never_the_knee() -> None:
    search = _search(_judge(knee=5000.0, throttle_above=300.0))
    outcome = search.outcome()
    assert outcome.status == PROVIDER_THROTTLED and outcome.exit_code == EXIT_PROVIDER_THROTTLED
    block = outcome.as_dict()
    assert block["knee_tx_per_sec"] is None and block["provider_throttled"] is True
    assert not block["generator_bound"]
    assert 285 <= outcome.capacity <= 300  # bisected up to the provider's limit
    assert block["next_step"]["verdict"] == PROVIDER_THROTTLED
    assert "requests throttled" in block["next_step"]["why"]
    assert outcome.headline().startswith(f"capacity >= {outcome.capacity:.1f} tx/s "
                                         "(provider-throttled: 12 of 80 requests throttled")
    assert {s.verdict for s in search.steps} == {PASS, PROVIDER_THROTTLED}


def test_throttled_above_a_real_knee_and_throttled_and_saturated() -> None:
    knee = _search(_judge(knee=137.0, throttle_above=1000.0)).outcome()
    assert knee.status == "knee" and knee.exit_code == 0  # the chain failed first: a knee
    both = _search(_judge(knee=5000.0, throttle_above=300.0, generator_above=300.0))
    assert {s.verdict for s in both.steps} == {PASS, PROVIDER_THROTTLED}  # provider first
    assert both.outcome().status == PROVIDER_THROTTLED
    gen = _search(_judge(knee=5000.0, generator_above=300.0)).steps
    assert {s.verdict for s in gen} == {PASS, GENERATOR_BOUND}
    assert FAIL not in {s.verdict for s in both.steps}


async def test_the_step_probe_counts_the_round_trips_of_its_window(devchain: DevChain) -> None:
    """A real Rpc through the throttling proxy: the probe's window counts what the Rpc's own
    books count; a window that closed before the calls counts nothing."""
    clock, hub = Clock(), StatsHub()
    now = clock.now()
    inside = StepProbe(now, now + 3600, 1.0, frozenset({"payment_app"}), now=clock.now)
    before = StepProbe(now - 10, now - 5, 1.0, frozenset({"payment_app"}), now=clock.now)
    hub.tap(inside.see)
    hub.tap(before.see)
    with proxied(devchain.url, Faults("probe", seed=SEED, http_429=0.3, retry_after=1,
                                      limit_32005=0.2)) as proxy:
        async with Rpc(proxy.url, hub) as rpc:
            for _ in range(16):
                assert int(await rpc.call("eth_blockNumber"), 16) >= 0
            book = rpc.fault_summary()
    window = inside.rpc
    assert window.requests == book["requests"] == proxy.http_received
    assert window.throttled == book["throttled"] >= MIN_THROTTLED
    assert window.throttled == proxy.injected["http429"] + proxy.injected["limit32005"]
    assert window.held == pytest.approx(book["held_seconds"], abs=2e-3) and window.held >= 1
    assert window.gave_up == 0
    figures = inside.figures()
    assert (figures["rpc_requests"], figures["rpc_throttled"]) == (book["requests"],
                                                                    book["throttled"])
    reason = inside.throttled()
    assert reason is not None and f"{window.throttled} of {window.requests} requests" in reason
    assert before.rpc.requests == 0 and before.throttled() is None


def test_a_search_through_a_throttling_provider_is_provider_throttled(
        devchain: DevChain, tmp_path: Path) -> None:
    args = ["--dapp", "transfers", "--port", "0", "--start-rate", "8", "--hold", "3",
            "--warmup", "0.5", "--settle", "2", "--max-duration", "30", "--log-level", "INFO"]
    with proxied(devchain.url, THROTTLING) as proxy:
        proc = subprocess.run(
            main_cmd("capacity", "--rpc-url", proxy.url, "--out", str(tmp_path), *args),
            capture_output=True, text=True, timeout=300,
            env=clean_env(PRIVATE_KEY=devchain.funder_key.hex()))
    explain = proc.stdout + proc.stderr[-3000:]
    assert proc.returncode == EXIT_PROVIDER_THROTTLED, explain
    assert proxy.injected["http429"] and proxy.injected["limit32005"]
    run_dir = (tmp_path / "latest").resolve()
    block = json.loads((run_dir / "summary.json").read_text())["capacity"]
    assert block["status"] == PROVIDER_THROTTLED and block["provider_throttled"] is True
    assert block["knee_tx_per_sec"] is None and not block["generator_bound"]
    assert block["next_step"]["verdict"] == PROVIDER_THROTTLED
    assert "(provider-throttled: " in proc.stdout and "knee" not in block["headline"]
    table = proc.stdout[proc.stdout.index("throttled  verdict"):].splitlines()
    assert [line.split()[-1] for line in table[2:2 + len(block["steps"])]] == [
        PROVIDER_THROTTLED] * len(block["steps"])
    steps = block["steps"]
    assert steps and all(s["verdict"] == PROVIDER_THROTTLED for s in steps), explain
    assert all(s["provider_throttled_reasons"] and s["rpc_throttled"] > 0 for s in steps)
    with (run_dir / "capacity.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["verdict"] for r in rows] == [PROVIDER_THROTTLED] * len(steps)
    for row, step in zip(rows, steps, strict=True):
        assert int(row["rpc_throttled"]) == step["rpc_throttled"] > 0
        assert step["provider_throttled_reasons"][0] in row["why"]
        assert "throttled" in row["why"] or "held back" in row["why"]
    report = (run_dir / "report.html").read_text()
    assert report.count(">provider-throttled</td>") == len(steps)
