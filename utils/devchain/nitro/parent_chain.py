"""The emulated parent chain (L1) of the embedded chain: its block clock and the batches on it.

Nitro's world (OffchainLabs/nitro, see docs/nitro.md):

* the parent chain makes a block every 12 s (Ethereum); here every ``block_time`` seconds of
  wall time (dev-scaled, default :data:`DEFAULT_PARENT_BLOCK_TIME_S`), counted from
  ``start_block`` (20,000,000 by default);
* every L2 block header carries the parent-chain block its sequencer saw, in its mixHash
  (OffchainLabs/go-ethereum ``core/types/arb_types.go`` ``HeaderInfo.mixDigest``: bytes 0-8
  send count, 8-16 L1 block number, 16-24 ArbOS format version, big-endian):
  :func:`header_mix_hash` / :func:`l1_block_of_mix_hash`. NodeInterface ``blockL1Num`` and a
  receipt's ``l1BlockNumber`` read it from there, as Nitro does;
* the sequencer inbox holds batches; batch ``n`` holds the L2 blocks up to its cumulative
  message count (``arbnode/inbox_tracker.go`` ``FindInboxBatchContainingMessage``); L2 block
  ``b`` is message ``b`` (genesis block 0 = the init message, batch 0, posted at the start).
  :class:`BatchLog` keeps, per batch, that count and the parent block it landed in.
"""

from __future__ import annotations

import bisect
import json
import time
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field

__all__ = [
    "DEFAULT_L1_START_BLOCK",
    "DEFAULT_PARENT_BLOCK_TIME_S",
    "NITRO_PARENT_BLOCK_TIME_S",
    "BatchLog",
    "ParentClock",
    "header_mix_hash",
    "l1_block_of_mix_hash",
]

NITRO_PARENT_BLOCK_TIME_S = 12.0  # Ethereum's slot time, the parent chain of Arbitrum One
DEFAULT_PARENT_BLOCK_TIME_S = 1.0  # dev-scaled: 12x faster than Ethereum
DEFAULT_L1_START_BLOCK = 20_000_000
BATCH_KEY = b"nitro_batch:%d"  # a kept chain's batches in its store's meta table


def header_mix_hash(l1_block: int, arbos_version: int, send_count: int = 0) -> bytes:
    """Nitro's ``HeaderInfo.mixDigest``: send count, L1 block number, ArbOS format version."""
    return (send_count.to_bytes(8, "big") + l1_block.to_bytes(8, "big")
            + arbos_version.to_bytes(8, "big") + bytes(8))  # fmt: skip


def l1_block_of_mix_hash(mix_hash: bytes) -> int:
    """The L1 block number a header's mixHash carries (``DeserializeHeaderExtraInformation``)."""
    return int.from_bytes(bytes(mix_hash)[8:16], "big")


@dataclass
class ParentClock:
    """Parent-chain block numbers by wall time: ``start_block`` at ``start_time``, then one
    block every ``block_time`` seconds."""

    block_time: float = DEFAULT_PARENT_BLOCK_TIME_S
    start_block: int = DEFAULT_L1_START_BLOCK
    start_time: float = field(default_factory=time.time)
    now: Callable[[], float] = field(default=time.time, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.block_time <= 0:
            raise ValueError(f"the parent chain's block time must be > 0 s: {self.block_time}")

    def block_number(self, at: float | None = None) -> int:
        """The parent chain's latest block at wall time ``at`` (default: now)."""
        elapsed = max(0.0, (self.now() if at is None else at) - self.start_time)
        return self.start_block + int(elapsed // self.block_time)

    def continue_from(self, block: int) -> None:
        """Never go back below ``block`` (a chain re-opened from its data keeps its clock
        ahead of the L1 blocks its headers already carry)."""
        if self.block_number() < block:
            self.start_block, self.start_time = block, self.now()


@dataclass
class BatchLog:
    """The batches posted so far: ``ends[n]`` is batch ``n``'s cumulative message count (the
    first L2 block *not* in batches 0..n), ``parent_blocks[n]`` the parent block it is in."""

    ends: list[int] = field(default_factory=list)
    parent_blocks: list[int] = field(default_factory=list)
    posted_at: list[float] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.ends)

    @property
    def next_block(self) -> int:
        """The first L2 block no batch holds yet."""
        return self.ends[-1] if self.ends else 0

    def add(self, end_block: int, parent_block: int, posted_at: float) -> int:
        """Record a batch holding the L2 blocks from :attr:`next_block` up to ``end_block``
        (exclusive); returns its number."""
        if end_block <= self.next_block:
            raise ValueError(f"a batch must hold blocks from {self.next_block}: end {end_block}")
        if self.parent_blocks and parent_block < self.parent_blocks[-1]:
            raise ValueError("batches land in the parent chain in order")
        self.ends.append(end_block)
        self.parent_blocks.append(parent_block)
        self.posted_at.append(posted_at)
        return len(self.ends) - 1

    def batch_of(self, block: int, parent_head: int) -> int | None:
        """The batch holding L2 block ``block`` among those in parent blocks up to
        ``parent_head``; None while no such batch holds it."""
        visible = bisect.bisect_right(self.parent_blocks, parent_head)
        index = bisect.bisect_right(self.ends, block, 0, visible)
        return index if index < visible else None

    def confirmations(self, block: int, parent_head: int) -> int:
        """Parent-chain blocks on top of the one holding ``block``'s batch (``arbnode/node.go``
        ``GetL1Confirmations``: latest L1 block - the batch's block; 0 while not posted)."""
        batch = self.batch_of(block, parent_head)
        if batch is None:
            return 0
        return parent_head - self.parent_blocks[batch]

    def save(self, meta: MutableMapping[bytes, bytes], saved: int) -> int:
        """Write batches ``saved`` and later into ``meta`` (a kept chain's store), one key
        each; returns the count written so far."""
        for number in range(saved, self.count):
            meta[BATCH_KEY % number] = json.dumps(
                [self.ends[number], self.parent_blocks[number], self.posted_at[number]]
            ).encode()
        return self.count

    @classmethod
    def load(cls, meta: MutableMapping[bytes, bytes]) -> BatchLog:
        """The batches :meth:`save` wrote (none for a new store)."""
        log = cls()
        while (raw := meta.get(BATCH_KEY % log.count)) is not None:
            end, parent, posted = json.loads(raw)
            log.add(int(end), int(parent), float(posted))
        return log
