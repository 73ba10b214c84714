"""Finality stages of a sample of the run's transactions, on any chain with NodeInterface.

On Arbitrum a receipt is the sequencer's soft confirmation; the transaction is final on the
parent chain once the batch holding its block is posted there and has confirmations. The
:class:`FinalityTracker` follows a sample of the run's included transactions (a fraction
chosen by their hash, so the choice needs no state and is the same in every process) to
three stages, each emitted as a :class:`~utils.observe.events.FinalityEvent` with its
latency from the transaction's intended send time:

* ``receipt``: the transaction's outcome event (its latency is the run's latency);
* ``batch_posted``: NodeInterface ``findBatchContainingBlock(block)`` answers;
* ``l1_confirmed``: ``getL1Confirmations(blockHash)`` >= N (``confirmations``).

Stages are per block: the tracker keeps the sampled blocks, not a request per transaction,
and polls every ``poll`` seconds in block order, stopping at the first block not there yet
(batches are posted in order, and an earlier batch has at least the confirmations of a
later one): a poll costs one call per block that moved on, plus one. A stage is seen at
the poll that finds it, so its latency is late by up to ``poll`` seconds. At most
``max_samples`` transactions are followed at once (others are counted, not followed).

On a chain without NodeInterface (anvil, Hardhat: an ``eth_call`` to 0xc8 answers ``0x``
or an error) the stages are skipped, said in one log line (:attr:`FinalityTracker.skipped`).
The transactions are the ones this process's stats hub sees (its tap): with ``--workers``
each worker process runs its own tracker on its own transport and hub (utils/run/worker.py),
so its stage events travel to the parent in its tallies and the parent's finality figures,
finality.csv and /metrics cover every process's sample.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from utils.chain.finality_calls import NodeInterfaceCalls, Presence
from utils.chain.rpc import Rpc
from utils.errors import KcStressError, RpcError, RpcTransientError
from utils.observe.events import Event, FinalityEvent, Outcome, TxCorrectionEvent, TxEvent
from utils.observe.stats import StatsHub

__all__ = ["ABSENT", "FinalityTracker"]

log = logging.getLogger(__name__)

ABSENT = "no NodeInterface at 0xc8"
POLL_SECONDS = 0.5
MAX_SAMPLES = 10_000
_INCLUDED = (Outcome.SUCCESS, Outcome.REVERTED)


@dataclass(slots=True)
class _Sample:
    tx_hash: str
    workload: str
    intended_at: float


@dataclass(slots=True)
class _Block:
    number: int
    samples: list[_Sample] = field(default_factory=list)
    hash: str | None = None
    batch: int | None = None
    l1_block: int | None = None


class FinalityTracker:
    """:meth:`start` (probes NodeInterface, then follows), :meth:`finish` at the end."""

    def __init__(self, rpc: Rpc, hub: StatsHub, clock: Callable[[], float], *, sample: float,
                 confirmations: int, poll: float = POLL_SECONDS,
                 max_samples: int = MAX_SAMPLES) -> None:
        self.calls = NodeInterfaceCalls(rpc)
        self.rpc = rpc
        self.hub = hub
        self.clock = clock
        self.sample = sample
        self.confirmations = confirmations
        self.poll = poll
        self.max_samples = max_samples
        self.presence = Presence.UNKNOWN
        self.skipped: str | None = None if sample > 0 else "not sampled (finality_sample 0)"
        self.not_followed = 0  # sampled while max_samples were followed
        self._threshold = int(sample * 2**32)
        self._unposted: dict[int, _Block] = {}
        self._posted: dict[int, _Block] = {}
        self._where: dict[str, int] = {}  # followed tx hash -> its block
        self._task: asyncio.Task[None] | None = None
        self._settled = asyncio.Event()  # set while no followed transaction is pending
        if self.skipped is None:
            hub.tap(self._on_event)

    @property
    def pending(self) -> int:
        """Followed transactions not L1-confirmed yet."""
        return len(self._where)

    def samples(self, tx_hash: str) -> bool:
        """Is ``tx_hash`` in the sample? (its last 4 bytes below ``sample`` x 2**32)"""
        return len(tx_hash) >= 10 and int(tx_hash[-8:], 16) < self._threshold

    async def start(self) -> None:
        """Probe NodeInterface and follow the sample from now on (not when skipped)."""
        if self.skipped is not None:
            log.info("finality stages: %s", self.skipped)
            return
        await self._probe()
        if self.skipped is None:
            self._task = asyncio.create_task(self._run(), name="finality")

    async def _probe(self) -> None:
        try:
            head = await self.rpc.call("eth_getBlockByNumber", "latest", False)
            self.presence, why = await self.calls.probe(head["hash"])
        except RpcTransientError as exc:
            self.presence, why = Presence.UNKNOWN, str(exc)
        if self.presence is Presence.ABSENT:
            self._skip(ABSENT, why)
        elif self.presence is Presence.PRESENT:
            log.info("finality stages: following %g of the transactions to batch posted and "
                     "%d parent-chain confirmation(s)", self.sample, self.confirmations)
        else:
            log.info("finality stages: NodeInterface did not answer yet (%s); asking again", why)

    def _skip(self, reason: str, why: str) -> None:
        self.skipped = reason
        log.info("finality stages skipped: %s (%s)", reason, why)
        self._unposted.clear()
        self._posted.clear()
        self._where.clear()

    async def finish(self, wait: float) -> None:
        """Follow the pending transactions up to ``wait`` more seconds, then stop."""
        task, self._task = self._task, None
        if task is None:
            return
        if self._where and wait > 0:
            settled = asyncio.ensure_future(self._settled.wait())
            await asyncio.wait({task, settled}, timeout=wait,
                               return_when=asyncio.FIRST_COMPLETED)
            settled.cancel()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        if self.presence is Presence.UNKNOWN and self.skipped is None:
            self._skip("NodeInterface did not answer", "transient errors all run long")
        elif self._where:
            log.info("finality stages: %d sampled transactions not L1-confirmed by the end "
                     "(%d not in a posted batch)", len(self._where),
                     sum(len(b.samples) for b in self._unposted.values()))

    async def _run(self) -> None:
        while True:
            try:
                await self.poll_once()
            except KcStressError as exc:  # a transient error: the next poll asks again
                log.debug("finality poll: %s", exc)
            await asyncio.sleep(self.poll)

    async def poll_once(self) -> None:
        if self.presence is Presence.UNKNOWN:
            await self._probe()
            if self.presence is not Presence.PRESENT:
                return
        await self._post_pass()
        await self._confirm_pass()

    async def _post_pass(self) -> None:
        """Blocks now in a posted batch, in order, up to the first one not yet."""
        for number in sorted(self._unposted):
            batch = await self.calls.batch_of(number)
            if batch is None:
                return
            block = self._unposted.pop(number)
            block.batch = batch
            block.l1_block = await self.calls.l1_block(number)
            self._posted[number] = block
            self._emit(block, "batch_posted")

    async def _confirm_pass(self) -> None:
        """Posted blocks with the confirmations asked for, in order, up to the first not."""
        for number in sorted(self._posted):
            block = self._posted[number]
            if block.hash is None:
                found = await self.rpc.call("eth_getBlockByNumber", hex(number), False)
                if not found:
                    return
                block.hash = str(found["hash"])
            try:
                confirmations = await self.calls.confirmations(block.hash)
            except RpcTransientError:
                raise
            except RpcError as exc:  # its hash is gone (a reorg): read it again next time
                log.debug("finality: block %d: %s", number, exc)
                block.hash = None
                return
            if confirmations < self.confirmations:
                return
            del self._posted[number]
            for sample in block.samples:
                self._where.pop(sample.tx_hash, None)
            self._emit(block, "l1_confirmed")
            if not self._where:
                self._settled.set()

    def _emit(self, block: _Block, stage: str) -> None:
        now = self.clock()
        for s in block.samples:
            self.hub.emit(FinalityEvent(now, s.tx_hash, s.workload, stage,
                                        max(0.0, now - s.intended_at), block.number,
                                        block.batch, block.l1_block))

    # -- the run's transactions (the hub's tap) ----------------------------------------------
    def _on_event(self, event: Event) -> None:
        if self.skipped is not None:
            return
        if isinstance(event, TxEvent):
            if (event.block_number is not None and event.outcome in _INCLUDED
                    and self.samples(event.tx_hash)):
                self._follow(event)
        elif isinstance(event, TxCorrectionEvent) and event.tx_hash in self._where:
            self._move(event)

    def _follow(self, event: TxEvent) -> None:
        if len(self._where) >= self.max_samples:
            self.not_followed += 1
            return
        assert event.block_number is not None
        sample = _Sample(event.tx_hash, event.workload, event.intended_at)
        self._block(event.block_number).samples.append(sample)
        self._where[event.tx_hash] = event.block_number
        self._settled.clear()
        self.hub.emit(FinalityEvent(event.finished_at, event.tx_hash, event.workload,
                                    "receipt", event.latency, event.block_number))

    def _block(self, number: int) -> _Block:
        block = self._unposted.get(number)
        if block is None:
            block = self._unposted[number] = _Block(number)
        return block

    def _move(self, event: TxCorrectionEvent) -> None:
        """A reorg or late receipt moved a followed transaction: follow it in its new block
        (its stages after the receipt are read there), or no more."""
        number = self._where.pop(event.tx_hash)
        for where in (self._unposted, self._posted):
            block = where.get(number)
            if block is None:
                continue
            moved = [s for s in block.samples if s.tx_hash == event.tx_hash]
            block.samples = [s for s in block.samples if s.tx_hash != event.tx_hash]
            if not block.samples:
                del where[number]
            if event.new_block is not None and event.new_outcome in _INCLUDED and moved:
                self._block(event.new_block).samples += moved
                self._where[event.tx_hash] = event.new_block
            return
