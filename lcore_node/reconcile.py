"""What the chain holds for a record: the outbox's check before it retries or recovers.

``lookup`` compares the result stored under a record's task id with the record
('match' / 'other' / 'absent', or 'unknown' when the chain cannot say); ``locate``
finds the transaction and block that committed it, when the committer can tell.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from lcore_node.storage import SubmissionRow
from lcore_node.types import ResultCommitter

log = logging.getLogger(__name__)


@runtime_checkable
class CommitLocator(Protocol):
    """Optional committer ability: which tx committed a task id (see chain.find_commit)."""

    async def find_commit(
        self, task_id: bytes, candidates: Sequence[str] = ()
    ) -> tuple[str, int] | None: ...


class ChainView:
    """Reads the chain through the committer; never raises but for cancellation."""

    def __init__(self, committer: ResultCommitter) -> None:
        self._committer = committer

    async def lookup(self, row: SubmissionRow) -> str:
        """'match' / 'other' / 'absent' for what the chain holds, 'unknown' if it can't say."""
        try:
            result = await self._committer.get_result(row.task_id)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.info("get_result for record %s failed: %s", row.record_id, exc)
            return "unknown"
        if result is None:
            return "absent"
        # a legacy deployment stores no proof hash: the envelope alone decides then
        if result.envelope == row.envelope and result.proof_hash in (b"", row.proof_hash):
            return "match"
        return "other"

    async def locate(
        self, row: SubmissionRow, candidates: list[str]
    ) -> tuple[str | None, int | None]:
        """(tx hash, block) of the commit the chain holds; (first candidate, None) if unknown."""
        fallback = next((h for h in candidates if h), None)
        if not isinstance(self._committer, CommitLocator):
            return fallback, None
        try:
            found = await self._committer.find_commit(row.task_id, candidates)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.info("locating the commit of record %s failed: %s", row.record_id, exc)
            return fallback, None
        return found if found is not None else (fallback, None)
