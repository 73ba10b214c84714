"""One clock per run: wall-clock timestamps that never jump.

Timestamps are the run's start wall time plus monotonic time since then, so
latencies computed from them are monotonic-correct and CSV timestamps are
still readable dates.
"""

from __future__ import annotations

import time


class Clock:
    def __init__(self) -> None:
        self._wall0 = time.time()
        self._mono0 = time.monotonic()

    def now(self) -> float:
        """Unix seconds (monotonic since the clock was made)."""
        return self._wall0 + (time.monotonic() - self._mono0)
