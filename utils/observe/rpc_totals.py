"""The run's JSON-RPC round trips, by how they failed: what summary.json's ``rpc`` block, the
report and the "provider-throttled" condition read. Counted from the tallies (a worker's
round trips included), so they are the whole run's, as /metrics is."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from utils.observe.tally import Tally

#: failure kinds the transport retries (utils/chain/rpc_faults.py); a failure of one of them
#: that was not retried is a call that gave up
RETRIED_KINDS = frozenset({"throttled", "transient", "connection", "timeout"})


@dataclass
class RpcTotals:
    requests: int = 0
    errors: dict[str, int] = field(default_factory=dict)  # failures by kind
    retries: dict[str, int] = field(default_factory=dict)  # failures retried, by kind
    held_seconds: float = 0.0  # time the provider's windows held every request back
    methods: dict[str, int] = field(default_factory=dict)  # round trips per method

    def add(self, tally: Tally) -> None:
        for method, cell in tally.rpc.items():
            calls = sum(cell.buckets)
            self.requests += calls
            self.methods[method] = self.methods.get(method, 0) + calls
            for kind, n in cell.kinds.items():
                self.errors[kind] = self.errors.get(kind, 0) + n
            for kind, n in cell.retries.items():
                self.retries[kind] = self.retries.get(kind, 0) + n
            self.held_seconds += cell.held

    @property
    def gave_up(self) -> dict[str, int]:
        """Calls that failed for good with a failure the transport retries (out of tries or
        time): by kind."""
        left = {k: n - self.retries.get(k, 0) for k, n in self.errors.items()
                if k in RETRIED_KINDS}
        return {k: n for k, n in left.items() if n > 0}

    def summary(self, seconds: float) -> dict[str, Any]:
        """summary.json's ``rpc`` block over a window of ``seconds`` (the keys
        :func:`utils.chain.rpc_retry.throttled_reason` reads)."""
        return {
            "elapsed_seconds": round(seconds, 3),
            "requests": self.requests,
            "throttled": self.errors.get("throttled", 0),
            "errors": dict(sorted(self.errors.items())),
            "retries": dict(sorted(self.retries.items())),
            "gave_up": dict(sorted(self.gave_up.items())),
            "held_seconds": round(self.held_seconds, 3),
            "requests_by_method": dict(sorted(self.methods.items())),
        }
