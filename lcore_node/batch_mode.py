"""The batch commit mode (``--iot-commit batch``): one ``commitBatch(root, size)`` per batch.

Records wait until ``batch_size`` of them are pending or the oldest has waited
``batch_wait`` seconds; then they form a batch (:mod:`lcore_node.batch_store`: leaf index
and Merkle proof stored per record in the same transaction) whose root is committed in one
transaction. The chain holds a batch when ``getBatch(root)`` returns its size.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from lcore_node.batch_store import BATCHES, BatchPayload, form_batch
from lcore_node.commit_mode import OnChain
from lcore_node.outbox_store import Unit
from lcore_node.storage import Storage
from lcore_node.types import CommitOutcome

__all__ = ["BatchCommitter", "BatchLocator", "BatchMode", "OnChainBatch"]


@dataclass(frozen=True, slots=True)
class OnChainBatch:
    """``getBatch(root)`` of MVPIoTProcessor."""

    size: int
    timestamp: int
    submitter: str


class BatchCommitter(Protocol):
    async def commit_batch(
        self, root: bytes, size: int, on_sent: Callable[[str], None]
    ) -> CommitOutcome: ...

    async def get_batch(self, root: bytes) -> OnChainBatch | None: ...


@runtime_checkable
class BatchLocator(Protocol):
    """Optional committer ability: the transaction and block that committed a root (see
    :meth:`lcore_node.batch_chain.BatchReader.find_commit`)."""

    async def find_commit(
        self, root: bytes, candidates: Sequence[str] = ()
    ) -> tuple[str, int] | None: ...


class BatchMode:
    """Commits records in Merkle batches through a :class:`BatchCommitter`."""

    table = BATCHES

    def __init__(self, committer: BatchCommitter, batch_size: int, batch_wait: float) -> None:
        self._committer = committer
        self._size = batch_size
        self._wait = batch_wait

    async def form(
        self, storage: Storage, now: float, flush: bool
    ) -> tuple[Unit[BatchPayload] | None, float | None]:
        return await form_batch(storage, self._size, 0.0 if flush else self._wait, now)

    async def send(
        self, unit: Unit[BatchPayload], on_sent: Callable[[str], None]
    ) -> CommitOutcome:
        return await self._committer.commit_batch(unit.payload.root, unit.payload.size, on_sent)

    async def check(self, unit: Unit[BatchPayload]) -> OnChain:
        found = await self._committer.get_batch(unit.payload.root)
        if found is None:
            return "absent"
        return "match" if found.size == unit.payload.size else "other"

    async def locate(
        self, unit: Unit[BatchPayload], candidates: Sequence[str]
    ) -> tuple[str, int] | None:
        if not isinstance(self._committer, BatchLocator):
            return None  # getBatch names no transaction: the batch's own one stands
        return await self._committer.find_commit(unit.payload.root, candidates)
