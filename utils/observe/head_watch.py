"""The chain's head as the run sees it: the highest block, when it last moved, the mean block
time over the last blocks seen, and whether the chain has stalled. A stats-hub listener
(``hub.listen(watch)``) fed by :class:`~utils.observe.events.HeadEvent`; the live panel and
the console's ticks read it (one place for "no new block for N s")."""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

from utils.observe.events import HeadEvent

if TYPE_CHECKING:
    from utils.observe.tally import Tally

#: blocks the mean block time is taken over
RECENT_BLOCKS = 20
#: a chain is stalled after this many block times without a new block, and at least ...
STALL_BLOCK_TIMES = 3.0
STALL_SECONDS = 10.0


class HeadWatch:
    def __init__(self) -> None:
        self.head: int | None = None
        self.moved_at: float | None = None  # when the head last moved (the event's time)
        self._recent: deque[tuple[int, float]] = deque(maxlen=RECENT_BLOCKS)

    def on_tally(self, tally: Tally) -> None:
        for event in tally.others:
            if isinstance(event, HeadEvent) and (self.head is None
                                                 or event.block_number > self.head):
                self.head = event.block_number
                self.moved_at = event.timestamp
                self._recent.append((event.block_number, event.timestamp))

    @property
    def block_time(self) -> float | None:
        """Mean seconds per block over the last blocks seen (None: fewer than two)."""
        if len(self._recent) < 2:
            return None
        (first, t0), (last, t1) = self._recent[0], self._recent[-1]
        return (t1 - t0) / (last - first) if last > first else None

    def since_block(self, now: float) -> float | None:
        return None if self.moved_at is None else max(0.0, now - self.moved_at)

    def stall_after(self) -> float:
        """Seconds without a new block that count as a stall."""
        block_time = self.block_time or 0.0
        return max(STALL_SECONDS, STALL_BLOCK_TIMES * block_time)

    def stalled_for(self, now: float, waiting: bool) -> float | None:
        """Seconds since the last block when the chain counts as stalled (``waiting``: there
        are transactions waiting for one; an idle embedded chain seals no block), else None."""
        since = self.since_block(now)
        if not waiting or since is None or since <= self.stall_after():
            return None
        return since
