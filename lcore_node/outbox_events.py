"""What the outbox reports, per record, whatever the commit mode.

Every status move of a unit is a :class:`CommitStatusEvent` for each of its records, and
its end (committed, or failed for good) one ``commit`` :class:`IotEvent` per record: a
record committed or failed in a batch counts in ``/health``, ``iot_metrics.csv``,
Prometheus and summary.json exactly as one committed alone. A record whose block a reorg
replaced is ``reorged`` (committed -> pending in the counts), then ``submitted``; its end
after that is a status only: its ``commit`` event was reported already (never twice).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from lcore_node.outbox_store import Member
from utils.observe.events import CommitStatusEvent, IotEvent
from utils.observe.stats import StatsHub

__all__ = ["CommitEvents"]


class CommitEvents:
    """Emits to ``hub`` (nothing without one)."""

    def __init__(
        self, hub: StatsHub | None, device_type_of: Callable[[str], str],
        clock: Callable[[], float],
    ) -> None:
        self._hub = hub
        self._device_type_of = device_type_of
        self._clock = clock
        self._reported: set[int] = set()  # reopened records whose commit event was emitted

    def status(self, record_ids: Iterable[int], status: str) -> None:
        if self._hub is None:
            return
        now = self._clock()
        for record_id in record_ids:
            self._hub.emit(CommitStatusEvent(now, record_id, status))

    def moved(self, members: Iterable[Member], status: str) -> None:
        self.status((m.record_id for m in members), status)

    def reopened(self, members: Iterable[Member]) -> None:
        """Committed records whose block was replaced: ``reorged``, then ``submitted``."""
        ids = [m.record_id for m in members]
        self._reported.update(ids)
        self.status(ids, "reorged")
        self.status(ids, "submitted")

    def ended(
        self, members: Iterable[Member], ok: bool, tx_hash: str, error: str = ""
    ) -> None:
        """The final status of each record, then its ``commit`` event (success or not),
        unless a reopened record's was emitted already."""
        members = list(members)
        self.moved(members, "committed" if ok else "failed")
        fresh = [m for m in members if m.record_id not in self._reported]
        self._reported.difference_update(m.record_id for m in members)
        if self._hub is None:
            return
        now = self._clock()
        for member in fresh:
            self._hub.emit(IotEvent(
                timestamp=now, device_id=member.device_id,
                device_type=self._device_type_of(member.device_id), operation="submit",
                stage="commit", success=ok, latency=max(0.0, now - member.submission_date),
                tx_hash=tx_hash, error=error, data_size=member.data_size,
                record_id=member.record_id,
            ))
