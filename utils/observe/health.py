"""Is the run healthy? The chain answers, and the lcore node is not failing.

A :class:`HealthMonitor` subscribes to the stats hub (commit and IoT events)
and reads the block follower's last successful poll; ``check()`` is what
``GET /health`` serves (called from the HTTP thread: it only reads).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from utils.clock import Clock
from utils.observe.events import Event, IotEvent

CHAIN_SILENT_AFTER = 10.0  # seconds without a successful poll of the chain
LCORE_FAILING_AFTER = 5  # consecutive failed IoT operations (whole op or commit)


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
    consecutive_iot_failures: int = 0
    last_iot_error: str = ""
    phase: str = "starting"

    def on_event(self, event: Event) -> None:
        if not isinstance(event, IotEvent) or event.stage not in ("total", "commit"):
            return
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
        if self.consecutive_iot_failures >= LCORE_FAILING_AFTER:
            return False, details | {
                "reason": f"lcore node failing: {self.consecutive_iot_failures} operations "
                f"failed in a row (last: {self.last_iot_error})"
            }
        return True, details

