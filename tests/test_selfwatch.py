"""The generator's self-watch judges a run's load only when there was one to judge."""

from __future__ import annotations

import time

from utils.observe.selfwatch import MIN_JUDGED_SECONDS, SelfWatch, bound_reasons


def _busy(seconds: float) -> None:
    """Spend ``seconds`` of this thread's CPU (bounded by wall time too)."""
    start, deadline = time.thread_time(), time.monotonic() + 5 * seconds + 1
    while time.thread_time() - start < seconds and time.monotonic() < deadline:
        sum(range(1000))


def test_a_load_of_a_few_ms_is_not_called_generator_bound() -> None:
    """Ctrl-C during set-up: the load starts and stops at once, its loop CPU over a few ms
    reads about 100 % of a core; the run's verdict must not say generator-bound."""
    now = [100.0]
    watch = SelfWatch(clock=lambda: now[0])
    watch.start_run()
    _busy(0.05)
    now[0] += 0.05  # the window's wall time: as busy as the CPU it used
    watch.end_run()
    summary = watch.summary(None)
    assert summary["seconds"] < MIN_JUDGED_SECONDS and summary["loop_cpu"] > 0.5
    assert bound_reasons(summary, None)  # the same figures over a long window would be bound
    assert summary["generator_bound"] is False and summary["reasons"] == []
