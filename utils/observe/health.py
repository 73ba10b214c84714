"""Is the run healthy? The chain answers, and the lcore node is not failing.

A :class:`HealthMonitor` listens to the stats hub (refusals, commit and IoT events)
and reads the block follower's last successful poll; ``check()`` is what
``GET /health`` serves (called from the HTTP thread: it only reads).
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Protocol

from utils.clock import Clock
from utils.observe.events import IotEvent
from utils.observe.tally import REFUSAL_TICK, Tally

CHAIN_SILENT_AFTER = 10.0  # seconds without a successful poll of the chain
LCORE_FAILING_AFTER = 5  # consecutive failed IoT operations (whole op or commit)
REFUSALS_JUDGED_FROM = 10  # transactions in the window before refusals can make it unhealthy


@dataclass
class RefusalWindow:
    """Outcomes of the transactions that ended in the last ``window`` seconds, per tenth of
    a second (added from tallies on the event loop, judged from the HTTP thread: a lock
    keeps the two apart)."""

    window: float = 10.0
    share: float = 0.5  # unhealthy at or over this share rejected
    #: (finishing time, transactions, of them rejected)
    _outcomes: deque[tuple[float, int, int]] = field(default_factory=deque)
    last_error: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add_tally(self, tally: Tally) -> None:
        """A tally's transactions, by the tenth of a second they finished in."""
        with self._lock:
            for tick, (total, rejected) in sorted(tally.refusals.items()):
                self._outcomes.append((tick * REFUSAL_TICK, total, rejected))
            if tally.last_refusal:
                self.last_error = tally.last_refusal
            if self._outcomes:
                self._trim(self._outcomes[-1][0])  # the tally's newest tick

    def _trim(self, now: float) -> None:
        """Drop the outcomes that ended before ``now - window`` (caller holds the lock)."""
        outcomes, oldest = self._outcomes, now - self.window
        while outcomes and outcomes[0][0] < oldest:
            outcomes.popleft()

    def judge(self, now: float) -> str | None:
        """A reason to be unhealthy, or None."""
        with self._lock:
            self._trim(now)
            total = sum(n for _, n, _ in self._outcomes)
            rejected = sum(r for _, _, r in self._outcomes)
        if total < REFUSALS_JUDGED_FROM or rejected < self.share * total:
            return None
        return (f"chain refusing transactions: {rejected} of {total} rejected in the last "
                f"{self.window:g} s (last: {self.last_error})")


class ChainWatch(Protocol):
    """What health reads of the chain: the block follower satisfies it."""

    head: int | None
    last_ok_at: float | None
    last_error: str


@dataclass
class HealthMonitor:
    """``device_errors``: IotEvent error codes that blame the device's input, not the node
    (the run passes the lcore errors its API answers with a 4xx)."""

    clock: Clock
    follower: ChainWatch | None = None
    device_errors: frozenset[str] = field(default_factory=frozenset)
    refusals: RefusalWindow = field(default_factory=RefusalWindow)
    consecutive_iot_failures: int = 0
    last_iot_error: str = ""
    phase: str = "starting"

    def on_tally(self, tally: Tally) -> None:
        self.refusals.add_tally(tally)
        for event in tally.others:
            if isinstance(event, IotEvent) and event.stage in ("total", "commit"):
                self._on_iot(event)

    def _on_iot(self, event: IotEvent) -> None:
        if event.success:
            self.consecutive_iot_failures = 0
        elif event.error not in self.device_errors:  # bad device input is not node failure
            self.consecutive_iot_failures += 1
            self.last_iot_error = event.error

    def check(self) -> tuple[bool, dict[str, Any]]:
        details: dict[str, Any] = {"phase": self.phase}
        follower = self.follower
        if follower is not None:
            details["chain_head"] = follower.head
            silent = self.clock.now() - (follower.last_ok_at or 0.0)
            if silent > CHAIN_SILENT_AFTER:
                reason = f"chain not answering for {silent:.0f} s"
                if follower.last_error:
                    reason += f": {follower.last_error}"
                return False, details | {"reason": reason}
        if (refused := self.refusals.judge(self.clock.now())) is not None:
            return False, details | {"reason": refused}
        if self.consecutive_iot_failures >= LCORE_FAILING_AFTER:
            return False, details | {
                "reason": f"lcore node failing: {self.consecutive_iot_failures} operations "
                f"failed in a row (last: {self.last_iot_error})"
            }
        return True, details

