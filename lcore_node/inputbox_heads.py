"""When a block was first seen: the start of an input's lag (block of ``addInput`` ->
processed). Fed with chain heads and the time each was seen, by the input reader (each
step's head) and by the run's block follower (its HeadEvents): a block was there at the
first moment any head at or above it was seen. Bounded: the last ``keep`` sightings."""

from __future__ import annotations

import bisect

__all__ = ["HeadTimes"]


class HeadTimes:
    def __init__(self, keep: int = 4096) -> None:
        self._keep = keep
        self._heads: list[int] = []  # rising, with rising times: a staircase
        self._times: list[float] = []
        self._forgotten = -1  # the highest head dropped for the bound: older blocks unknown

    def saw(self, head: int, at: float) -> None:
        """Head ``head`` was there at ``at``."""
        later = bisect.bisect_left(self._heads, head)
        if later < len(self._heads) and self._times[later] <= at:
            return  # a head at or above it was seen no later: nothing new
        first = bisect.bisect_right(self._times, at)  # sightings after ``at`` ...
        drop = [i for i in range(first, len(self._heads)) if self._heads[i] <= head]
        for i in reversed(drop):  # ... of heads this one covers are superseded
            del self._heads[i], self._times[i]
        spot = bisect.bisect_left(self._heads, head)
        self._heads.insert(spot, head)
        self._times.insert(spot, at)
        if len(self._heads) > self._keep:
            self._forgotten = self._heads.pop(0)
            del self._times[0]

    def first_seen(self, block: int) -> float | None:
        """When a head at or above ``block`` was first seen; None when none was yet (or the
        sighting was dropped for the bound)."""
        if block <= self._forgotten:
            return None
        at = bisect.bisect_left(self._heads, block)
        return None if at == len(self._heads) else self._times[at]
