"""The run's JSON-RPC round trips, by how they failed: what summary.json's ``rpc`` block, the
report and the "provider-throttled" condition read. Counted from the tallies (a worker's
round trips included), so they are the whole run's, as /metrics is.

The seconds held back by the provider are the wall-clock union of every client's hold
windows (:class:`HoldUnion`): each worker process has its own client and its own window, and
the sum of those can exceed the run's length (``held_seconds_by_clients`` keeps that sum,
as ``kcstress_rpc_throttled_seconds_total`` counts it)."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from utils.observe.tally import Tally

#: failure kinds the transport retries (utils/chain/rpc_faults.py); a failure of one of them
#: that was not retried is a call that gave up
RETRIED_KINDS = frozenset({"throttled", "transient", "connection", "timeout"})
#: windows ending this long (s) before the latest one are closed (summed; none comes before)
KEEP_OPEN = 600.0


@dataclass
class HoldUnion:
    """The union of wall-clock windows (start, end), in bounded memory: windows that ended
    :data:`KEEP_OPEN` s before the latest one are summed and let go."""

    closed: float = 0.0
    starts: list[float] = field(default_factory=list)  # disjoint spans, sorted
    ends: list[float] = field(default_factory=list)

    def add(self, start: float, end: float) -> None:
        if end <= start:
            return
        i = bisect.bisect_left(self.ends, start)  # the first span ending at or after start
        j = bisect.bisect_right(self.starts, end)  # spans from i to j-1 overlap
        if i < j:
            start, end = min(start, self.starts[i]), max(end, self.ends[j - 1])
        self.starts[i:j], self.ends[i:j] = [start], [end]
        limit = self.ends[-1] - KEEP_OPEN
        old = bisect.bisect_left(self.ends, limit)
        if old:
            self.closed += sum(e - s for s, e in zip(self.starts[:old], self.ends[:old],
                                                     strict=True))
            del self.starts[:old], self.ends[:old]

    @property
    def seconds(self) -> float:
        return self.closed + sum(e - s for s, e in zip(self.starts, self.ends, strict=True))


@dataclass
class RpcTotals:
    requests: int = 0
    errors: dict[str, int] = field(default_factory=dict)  # failures by kind
    retries: dict[str, int] = field(default_factory=dict)  # failures retried, by kind
    held_by_clients: float = 0.0  # each client's hold windows, summed over clients
    held: HoldUnion = field(default_factory=HoldUnion)  # the windows, on the wall clock
    unplaced: float = 0.0  # held seconds no event placed on the wall clock (added as they are)
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
            self.held_by_clients += cell.held
            for start, end in cell.windows:
                self.held.add(start, end)
            self.unplaced += max(0.0, cell.held - sum(e - s for s, e in cell.windows))

    @property
    def held_seconds(self) -> float:
        """Seconds in which the provider held requests back: the wall-clock union of every
        client's windows."""
        return self.held.seconds + self.unplaced

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
            "held_seconds_is": "wall-clock union of every client's hold windows",
            "held_seconds_by_clients": round(self.held_by_clients, 3),
            "requests_by_method": dict(sorted(self.methods.items())),
        }
