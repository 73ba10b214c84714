"""How much of its past the embedded chain keeps, and how much of it in memory (light:
imported by the parent side too).

The pruning itself is :mod:`utils.devchain.pruning`, the disk store
:mod:`utils.devchain.kvstore`, both in the chain process.
"""

from __future__ import annotations

from dataclasses import dataclass

# 512 blocks: 128 s at 4 blocks/s (0.25 s blocks under load), beyond the run's 60 s receipt
# timeout and BLOCKHASH's 256 blocks; 128 states as geth keeps in memory.
DEFAULT_HISTORY_BLOCKS = 512
DEFAULT_STATE_BLOCKS = 128
# The chain's key-value store lives on disk (utils.devchain.kvstore) behind a cache this big.
DEFAULT_STATE_CACHE_MB = 16.0


@dataclass(frozen=True)
class Retention:
    """How many recent blocks keep their history and their state (0 = all, an archive), and
    how many MB of the store stay in memory (0 = all of it, no disk store)."""

    history_blocks: int = DEFAULT_HISTORY_BLOCKS
    state_blocks: int = DEFAULT_STATE_BLOCKS
    state_cache_mb: float = DEFAULT_STATE_CACHE_MB

    def __post_init__(self) -> None:
        if self.history_blocks < 0 or self.state_blocks < 0 or self.state_cache_mb < 0:
            raise ValueError("retention windows and the state cache must be >= 0")

    @property
    def keeps_all(self) -> bool:
        return not (self.history_blocks or self.state_blocks)
