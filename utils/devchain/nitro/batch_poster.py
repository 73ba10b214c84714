"""The embedded chain's batch poster: sealed L2 blocks go to the emulated parent chain in
batches, by size or by delay, and each batch pays the parent chain's base fee to the L1 pricer.

Nitro's batch poster (OffchainLabs/nitro ``arbnode/batch_poster.go`` ``maybePostSequencerBatch``
and ``batchSegments``), at block granularity:

* each L2 message (here: each transaction, as a signed-tx L2 message) is an RLP segment
  written to a brotli stream; the batch is full when its compressed size reaches
  ``MaxCalldataBatchSize`` (100,000 bytes): Nitro measures the compressed size only once
  ``last compressed size + bytes added since`` reaches the limit (``testForOverflow``), and
  the message that overflows goes to the next batch (the first one always goes in);
* a batch is posted when it is full, or when its first message is ``MaxDelay`` old (1 h on
  Nitro; dev-scaled default :data:`DEFAULT_MAX_DELAY_S`);
* the size is measured on a brotli stream at level 1; the batch's bytes are ``0x00`` (brotli
  header) + the segments compressed again at level 6 (``close`` recompresses them all,
  ``CloseAndGetBytes``): Nitro streams and recompresses at levels set by its backlog
  (``arbnode/compression_level.go``: 11/11 when idle, 6/11, 6/6, 4/6 as it grows; 11 is about
  80x slower here than 6 for 1-2 % fewer bytes);
* it lands in the parent chain's next block and is seen once that block exists; its posting
  report pays the pricer (:mod:`utils.devchain.nitro.pricer`) at once (on Nitro the report
  arrives later as a delayed message), and the new price applies from the next block.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import brotli

from utils.devchain.nitro.l1pricing import BROTLI_WINDOW, L1Pricing
from utils.devchain.nitro.options import BatchPolicy
from utils.devchain.nitro.parent_chain import (
    BatchLog,
    ParentClock,
)
from utils.devchain.nitro.pricer import (
    batch_wei_spent,
    legacy_cost_for_stats,
    update_for_batch,
)
from utils.devchain.nitro.vm import signed_bytes

__all__ = [
    "BatchPoster",
]

logger = logging.getLogger(__name__)

BATCH_COMPRESSION_LEVEL = 6  # the batch's bytes (Nitro's recompression level)
STREAM_COMPRESSION_LEVEL = 1  # the stream its size is measured on (Nitro's compression level)
BROTLI_MESSAGE_HEADER = b"\x00"  # daprovider.BrotliMessageHeaderByte
SEGMENT_L2_MESSAGE = b"\x00"  # arbstate.BatchSegmentKindL2Message
L2_MESSAGE_SIGNED_TX = b"\x04"  # arbos L2MessageKind_SignedTx


def segment(signed_tx: bytes) -> bytes:
    """One transaction as a batch segment, RLP-encoded (a byte string: its length prefix, then
    the bytes) as it goes into the brotli stream."""
    item = SEGMENT_L2_MESSAGE + L2_MESSAGE_SIGNED_TX + signed_tx
    if len(item) < 56:
        return bytes([0x80 + len(item)]) + item
    size = len(item).to_bytes((len(item).bit_length() + 7) // 8, "big")
    return bytes([0xB7 + len(size)]) + size + item


def batch_bytes(segments: Sequence[bytes]) -> bytes:
    compressed = brotli.compress(b"".join(segments), quality=BATCH_COMPRESSION_LEVEL,
                                 lgwin=BROTLI_WINDOW)  # fmt: skip
    return BROTLI_MESSAGE_HEADER + compressed


@dataclass
class _Building:
    """The batch being built: its blocks' segments and Nitro's size bookkeeping."""

    first_block: int
    started: float  # wall time its first block was sealed
    segments: list[bytes] = field(default_factory=list)
    blocks: int = 0
    last_compressed: int = 0
    new_uncompressed: int = 0
    # the brotli stream Nitro measures the size on (each byte compressed once)
    stream: Any = field(default_factory=lambda: brotli.Compressor(
        quality=STREAM_COMPRESSION_LEVEL, lgwin=BROTLI_WINDOW))
    streamed: int = 0  # compressed bytes out of the stream so far

    def feed(self, segments: list[bytes]) -> None:
        data = b"".join(segments)
        self.streamed += len(self.stream.process(data))
        self.new_uncompressed += len(data)


class BatchPoster:
    """Builds batches from sealed blocks and posts them to :attr:`log` on :attr:`clock`."""

    def __init__(self, pricing: L1Pricing, policy: BatchPolicy, clock: ParentClock,
                 *, head: int = 0, log: BatchLog | None = None,
                 now: Callable[[], float] = time.time) -> None:
        """``head``: the chain's last block; ``log``: the batches a kept chain posted. Blocks
        up to ``head`` that no batch holds go into one now (a new chain: batch 0, the genesis
        block, its init message)."""
        self.pricing = pricing
        self.policy = policy
        self.clock = clock
        self.log = log or BatchLog()
        self.now = now
        self._building: _Building | None = None
        self._full: _Building | None = None  # closed by size, waiting to be posted
        if head >= self.log.next_block:
            parent = max([self.clock.block_number(), *self.log.parent_blocks[-1:]])
            self.log.add(head + 1, parent, self.now())
        self._mined = head  # the last block mined
        #: the oldest block whose history the chain keeps (None: all)
        self.oldest_kept: Callable[[], int] | None = None

    def on_mined(self, block: Any) -> None:
        """A block was mined: into the batch being built; post what is then due."""
        txs = [raw for raw in (signed_bytes(tx) for tx in block.transactions) if raw]
        self.add_block(int(block.number), txs)
        self._mined = max(self._mined, int(block.number))
        self.tick()

    def tick(self) -> None:
        """Post every batch that is due (called on each mined block and by a timer); a new
        price applies from the first block no transaction has executed in yet."""
        while self.due():
            price = self.post()
            if price is not None:
                executing = self.pricing._executing_block
                first = executing + 1 if executing > self._mined else self._mined + 1
                self.pricing.set_price(price, first)
                if self.oldest_kept is not None:  # one price per batch: keep the window's
                    self.pricing.forget_before(self.oldest_kept())

    def add_block(self, number: int, txs: Sequence[bytes]) -> None:
        """Add block ``number`` (its signed transactions) to the batch being built."""
        if number < self.log.next_block:
            return
        segments = [segment(tx) for tx in txs]
        building = self._building
        if building is None:
            building = self._building = _Building(number, self.now())
        building.feed(segments)
        if self._overflows(building):
            self._full, self._building = building, _Building(number, self.now())
            building = self._building
            building.feed(segments)
        building.segments += segments
        building.blocks += 1

    def _overflows(self, building: _Building) -> bool:
        """Nitro's ``testForOverflow``, once the new block is in the stream: the compressed
        size is measured (the stream flushed) only when the last measure plus the bytes added
        since reach the limit; the first block always stays."""
        limit = self.policy.max_size
        if building.blocks == 0 or building.last_compressed + building.new_uncompressed < limit:
            return False
        building.streamed += len(building.stream.flush())
        building.last_compressed = building.streamed
        building.new_uncompressed = 0
        return building.last_compressed >= limit

    def due(self) -> bool:
        """A batch is full, or the one being built waited ``max_delay``."""
        if self._full is not None:
            return True
        building = self._building
        return building is not None and self.now() - building.started >= self.policy.max_delay

    def post(self) -> int | None:
        """Post what is due (a full batch first); the new L1 price, or None when it stays."""
        batch: _Building | None = None
        if self._full is not None:
            batch, self._full = self._full, None
        elif self.due():
            batch, self._building = self._building, None
        return None if batch is None else self._post(batch)

    def _post(self, batch: _Building) -> int | None:
        data = batch_bytes(batch.segments)
        now = self.now()
        parent = max(self.clock.block_number(now) + 1, self.log.parent_blocks[-1])
        number = self.log.add(batch.first_block + batch.blocks, parent, now)
        logger.debug("batch %s: blocks %s-%s, %s bytes, parent block %s", number,
                     batch.first_block, batch.first_block + batch.blocks - 1, len(data), parent)
        pricing = self.pricing
        if not pricing.moves:
            return None
        before = pricing.price_per_unit
        fee = self.policy.parent_base_fee_wei
        spent = batch_wei_spent(self.policy.pricer, legacy_cost_for_stats(data), fee)
        when = int(now)
        update_for_batch(pricing, self.policy.pricer, max(when, pricing.last_update_time),
                         max(when, pricing.last_update_time), spent, fee)  # fmt: skip
        return pricing.price_per_unit if pricing.price_per_unit != before else None

    def batch_of(self, block: int) -> int | None:
        """The posted batch holding L2 block ``block`` as the parent chain shows it now."""
        return self.log.batch_of(block, self.clock.block_number())

    def confirmations(self, block: int) -> int:
        return self.log.confirmations(block, self.clock.block_number())
