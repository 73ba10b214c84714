"""How much of its past the embedded chain keeps (light: imported by the parent side too).

The pruning itself is :mod:`utils.devchain.pruning`, in the chain process.
"""

from __future__ import annotations

from dataclasses import dataclass

# 512 blocks: 128 s at 4 blocks/s (0.25 s blocks under load), beyond the run's 60 s receipt
# timeout and BLOCKHASH's 256 blocks; 128 states as geth keeps in memory.
DEFAULT_HISTORY_BLOCKS = 512
DEFAULT_STATE_BLOCKS = 128


@dataclass(frozen=True)
class Retention:
    """How many recent blocks keep their history and their state (0 = all, an archive)."""

    history_blocks: int = DEFAULT_HISTORY_BLOCKS
    state_blocks: int = DEFAULT_STATE_BLOCKS

    def __post_init__(self) -> None:
        if self.history_blocks < 0 or self.state_blocks < 0:
            raise ValueError("retention windows must be >= 0")

    @property
    def keeps_all(self) -> bool:
        return not (self.history_blocks or self.state_blocks)
