"""The per-record commit mode: one ``submitResult(taskId, envelope, proofHash)`` per record.

The unit is the record itself (a row of ``data_submissions``). The chain holds it when
``getResult(taskId)`` returns the same envelope and proof hash (a legacy deployment stores
no proof hash: the envelope alone decides then); the transaction that committed it is
found by ``find_commit`` when the committer has it (the first successful send, not a later
duplicate that reverted).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from lcore_node.commit_mode import OnChain
from lcore_node.outbox_store import Unit, UnitTable
from lcore_node.storage import Storage
from lcore_node.types import CommitOutcome, ResultCommitter

__all__ = ["RECORDS", "CommitLocator", "RecordMode", "RecordPayload"]


@dataclass(frozen=True, slots=True)
class RecordPayload:
    task_id: bytes
    envelope: bytes
    proof_hash: bytes


def _payload(row: Sequence[Any]) -> RecordPayload:
    return RecordPayload(bytes(row[0]), bytes(row[1]), bytes(row[2]))


RECORDS = UnitTable("data_submissions", "commit_status", "id", "task_id, data, proof_hash",
                    _payload)


@runtime_checkable
class CommitLocator(Protocol):
    """Optional committer ability: which tx committed a task id (see chain.find_commit)."""

    async def find_commit(
        self, task_id: bytes, candidates: Sequence[str] = ()
    ) -> tuple[str, int] | None: ...


class RecordMode:
    """Commits each record alone through a :class:`ResultCommitter`."""

    table = RECORDS

    def __init__(self, committer: ResultCommitter) -> None:
        self._committer = committer

    async def form(
        self, storage: Storage, now: float, flush: bool
    ) -> tuple[Unit[RecordPayload] | None, float | None]:
        return None, None  # a stored record is a unit already

    async def send(
        self, unit: Unit[RecordPayload], on_sent: Callable[[str], None]
    ) -> CommitOutcome:
        p = unit.payload
        return await self._committer.commit(p.task_id, p.envelope, p.proof_hash, on_sent)

    async def check(self, unit: Unit[RecordPayload]) -> OnChain:
        result = await self._committer.get_result(unit.payload.task_id)
        if result is None:
            return "absent"
        p = unit.payload
        if result.envelope == p.envelope and result.proof_hash in (b"", p.proof_hash):
            return "match"
        return "other"

    async def locate(
        self, unit: Unit[RecordPayload], candidates: Sequence[str]
    ) -> tuple[str, int] | None:
        if not isinstance(self._committer, CommitLocator):
            return None
        return await self._committer.find_commit(unit.payload.task_id, candidates)
