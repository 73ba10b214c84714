"""Is the run healthy? The chain answers, and the lcore node is not failing.

A :class:`HealthMonitor` subscribes to the stats hub (commit and IoT events)
and reads the block follower's last successful poll; ``check()`` is what
``GET /health`` serves (called from the HTTP thread: it only reads).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lcore_node.errors import ERRORS_BY_CODE
from utils.block_follower import BlockFollower
from utils.clock import Clock
from utils.events import Event, IotEvent

CHAIN_SILENT_AFTER = 10.0  # seconds without a successful poll of the chain
LCORE_FAILING_AFTER = 5  # consecutive failed IoT operations (whole op or commit)


@dataclass
class HealthMonitor:
    clock: Clock
    follower: BlockFollower | None = None
    consecutive_iot_failures: int = 0
    last_iot_error: str = ""
    phase: str = "starting"

    def on_event(self, event: Event) -> None:
        if not isinstance(event, IotEvent) or event.stage not in ("total", "commit"):
            return
        if event.success:
            self.consecutive_iot_failures = 0
        elif event.error not in _DEVICE_ERRORS:  # bad device input is not node failure
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


#: IotEvent error codes that blame the device's input, not the node: the lcore errors the
#: API answers with a 4xx status
_DEVICE_ERRORS = frozenset(
    code for code, cls in ERRORS_BY_CODE.items() if 400 <= cls.http_status < 500
)
