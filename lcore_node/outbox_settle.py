"""How the outbox settles one unit, whatever the mode: send, then committed, retried or failed.

After a failed send, and for a unit a previous run left 'submitted', the chain decides
(the mode's ``check``): the unit already there is committed with the transaction that put
it there (the mode's ``locate``, else the last hash sent), not a later duplicate that
reverted; something else under its key fails it; otherwise a retryable failure (or a chain
that cannot say) sends it back to pending with a backoff and trips the breaker.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Generic, TypeVar

from lcore_node.commit_breaker import CommitBreaker
from lcore_node.commit_mode import CommitMode, OnChain
from lcore_node.measure import error_code
from lcore_node.outbox_events import CommitEvents
from lcore_node.outbox_store import Unit, UnitStore
from lcore_node.types import CommitOutcome

if TYPE_CHECKING:  # the outbox imports this module
    from lcore_node.outbox import OutboxSettings

__all__ = ["Settle"]

log = logging.getLogger(__name__)

P = TypeVar("P")
TAKEN = "the chain holds a different result under this unit's key (task id or root)"


class Settle(Generic[P]):
    """Commits and settles units; every settling counts one attempt. ``released`` is called
    when the breaker closes and the backed-off units were made due."""

    def __init__(
        self, store: UnitStore[P], mode: CommitMode[P], events: CommitEvents,
        breaker: CommitBreaker, settings: OutboxSettings, clock: Callable[[], float],
        released: Callable[[], None],
    ) -> None:
        self._store = store
        self._mode = mode
        self._events = events
        self._breaker = breaker
        self._settings = settings
        self._clock = clock
        self._released = released

    async def commit(self, unit: Unit[P]) -> None:
        sent: list[str] = []

        def on_sent(tx_hash: str) -> None:
            sent.append(tx_hash)
            self._store.mark_submitted(unit.unit_id, tx_hash)
            self._events.moved(unit.members, "submitted")

        try:
            outcome = await self._mode.send(unit, on_sent)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            last = sent[-1] if sent else ""
            outcome = CommitOutcome(False, last, None, f"{error_code(exc)}: {exc}", True)
        tx_hash = outcome.tx_hash or (sent[-1] if sent else None)
        if outcome.ok:
            await self._committed(unit, tx_hash, outcome.block_number)
        else:
            await self._after_failure(unit, outcome, tx_hash)

    async def recheck(
        self, unit: Unit[P], reason: str = "re-check after restart", retry_at: float = 0.0
    ) -> None:
        """A unit left 'submitted' (by a previous run, or reopened by a reorg): the send
        before was an attempt; on chain it is committed, else it goes back to pending (due
        at ``retry_at``)."""
        found = await self._check(unit)
        if found == "match":
            await self._committed_on_chain(unit, [unit.transaction_hash or ""])
        elif found == "other":
            await self._failed(unit, TAKEN)
        else:
            await self._store.mark_retry(unit.unit_id, reason, retry_at, None)
            self._events.moved(unit.members, "pending")

    async def _after_failure(
        self, unit: Unit[P], outcome: CommitOutcome, tx_hash: str | None
    ) -> None:
        found = await self._check(unit)
        if found == "match":
            # e.g. an earlier send landed after its timeout and this one reverted
            await self._committed_on_chain(unit, [tx_hash or "", unit.transaction_hash or ""])
            return
        if found == "other":
            await self._failed(unit, TAKEN)
            return
        attempts = unit.attempts + 1
        limit = self._settings.max_attempts
        if (outcome.retryable or found == "unknown") and (limit == 0 or attempts < limit):
            self._breaker.trip(outcome.error)
            next_at = self._clock() + self._settings.backoff(attempts)
            await self._store.mark_retry(unit.unit_id, outcome.error, next_at, tx_hash)
            self._events.moved(unit.members, "pending")  # back to pending: counted as a retry
            log.debug("unit %s: commit attempt %s failed: %s", unit.unit_id, attempts,
                      outcome.error)
            return
        await self._failed(unit, outcome.error or "commit failed")

    async def _check(self, unit: Unit[P]) -> OnChain:
        try:
            return await self._mode.check(unit)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.info("checking unit %s on chain failed: %s", unit.unit_id, exc)
            return "unknown"

    async def _committed_on_chain(self, unit: Unit[P], candidates: list[str]) -> None:
        """Committed, with the transaction and block that put it on chain when the mode can
        tell (else the first candidate, block unknown)."""
        hashes = [h for h in candidates if h]
        try:
            found = await self._mode.locate(unit, hashes)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.info("locating the commit of unit %s failed: %s", unit.unit_id, exc)
            found = None
        tx_hash, block = found if found is not None else (next(iter(hashes), None), None)
        await self._committed(unit, tx_hash, block)

    async def _committed(self, unit: Unit[P], tx_hash: str | None, block: int | None) -> None:
        await self._store.mark_committed(unit.unit_id, tx_hash, block)
        if self._breaker.reset():
            released = await self._store.release_backoff()
            log.info("the chain takes commits again: %d backed-off units released", released)
            self._released()
        self._events.ended(unit.members, True, tx_hash or "")

    async def _failed(self, unit: Unit[P], error: str) -> None:
        await self._store.mark_failed(unit.unit_id, error)
        self._events.ended(unit.members, False, unit.transaction_hash or "", error)
        log.warning("unit %s (%d records) commit failed for good: %s", unit.unit_id,
                    len(unit.members), error)
