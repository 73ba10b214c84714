"""What a way of committing records supplies to the one outbox (:mod:`lcore_node.outbox`).

A mode says what a unit of work is (its :class:`~lcore_node.outbox_store.UnitTable`, and
how waiting records are grouped into a new unit), what goes on chain for a unit, and how
the chain is asked whether a unit is committed. Everything else (launching, accounting,
backoff, the breaker, retry and failure events, drain, crash recovery) is the outbox's.

Modes: :class:`lcore_node.record_mode.RecordMode` (one ``submitResult`` per record) and
:class:`lcore_node.batch_mode.BatchMode` (one ``commitBatch`` Merkle root per batch).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal, Protocol, TypeVar

from lcore_node.outbox_store import Unit, UnitTable
from lcore_node.storage import Storage
from lcore_node.types import CommitOutcome

__all__ = ["CommitMode", "OnChain"]

#: what the chain holds for a unit: it ("match"), something else under its key ("other"),
#: nothing ("absent"), or it cannot say now ("unknown": the outbox maps any error to this)
OnChain = Literal["match", "other", "absent", "unknown"]

P = TypeVar("P")


class CommitMode(Protocol[P]):
    """A unit's ``payload`` (type ``P``) is what :meth:`send` puts on chain."""

    @property
    def table(self) -> UnitTable[P]:
        """Where this mode's units live."""
        ...

    async def form(
        self, storage: Storage, now: float, flush: bool
    ) -> tuple[Unit[P] | None, float | None]:
        """A new unit grouped from records that wait for one (``flush``: whatever waits,
        without waiting to fill up), or None and when one will be due (None: not by time)."""
        ...

    async def send(self, unit: Unit[P], on_sent: Callable[[str], None]) -> CommitOutcome:
        """Put ``unit`` on chain; ``on_sent(tx_hash)`` once sent; wait for the outcome."""
        ...

    async def check(self, unit: Unit[P]) -> OnChain:
        """What the chain holds for ``unit`` (may raise: read as "unknown")."""
        ...

    async def locate(
        self, unit: Unit[P], candidates: Sequence[str]
    ) -> tuple[str, int] | None:
        """The transaction and block that committed ``unit`` (``candidates``: hashes sent for
        it, latest first), or None when the mode cannot tell (may raise: read as None)."""
        ...
