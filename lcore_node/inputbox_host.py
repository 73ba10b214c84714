"""The Cartesi side of a run in inputbox mode: the application and its input reader beside
the node, measured. Each processed input is one :class:`~utils.observe.events.InputEvent`:
its input lag (the first sighting of the block that added it -> processed) and, per record the
application kept, end to end (the node's acceptance of the device's submission ->
processed)."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path

from lcore_node.inputbox_app import AppResult, InputApp
from lcore_node.inputbox_chain import InputBoxReader, InputLog
from lcore_node.inputbox_reader import InputReader
from lcore_node.node import LcoreNode
from utils.observe.events import Event, HeadEvent, InputEvent
from utils.observe.stats import StatsHub

__all__ = ["CartesiSide"]

log = logging.getLogger(__name__)


class CartesiSide:
    """``start()`` after the node; ``finish(timeout)`` after the outbox drained."""

    def __init__(
        self, node: LcoreNode, chain: InputBoxReader, app_db: Path, *,
        hub: StatsHub | None = None, clock: Callable[[], float], poll: float = 0.25,
    ) -> None:
        self._node = node
        self._chain = chain
        self._hub = hub
        self._clock = clock
        jws = node.jws_devices  # device tokens in the payloads are checked again
        self.app = InputApp(app_db, node.cipher, node.device_known,
                            jws.check_stored if jws is not None else None)
        self.reader = InputReader(chain, self.app, poll=poll, on_processed=self._processed,
                                  clock=clock)
        self.caught_up: bool | None = None  # set by finish
        if hub is not None:
            hub.tap(self._saw_head)  # the block follower's heads: when blocks were seen

    async def start(self) -> None:
        self.app.open()
        self.reader.start()

    def _accepted_at(self, record_ids: tuple[int, ...]) -> list[float]:
        """When the node accepted each record (its submission)."""
        if not record_ids:
            return []
        marks = ",".join("?" * len(record_ids))
        with sqlite3.connect(f"file:{self._node.config.db_path}?mode=ro", uri=True) as conn:
            return [float(r[0]) for r in conn.execute(
                f"SELECT submission_date FROM data_submissions WHERE id IN ({marks})",
                record_ids)]

    def _saw_head(self, event: Event) -> None:
        if isinstance(event, HeadEvent):
            self.reader.heads.saw(event.block_number, event.timestamp)

    def _processed(self, item: InputLog, result: AppResult, at: float) -> None:
        """One InputEvent. Input lag: from the first sighting of the block that holds the
        input (by the run's block follower or by the reader) to its processing."""
        if self._hub is None:
            return
        seen = self.reader.heads.first_seen(item.block_number)
        self._hub.emit(InputEvent(
            at, item.index, item.block_number, len(result.accepted), len(result.rejected),
            0.0 if seen is None else max(0.0, at - seen),
            tuple(max(0.0, at - t) for t in self._accepted_at(result.accepted))))
        for record_id, reason in result.rejected:
            log.warning("the application refused record %s of input %d: %s", record_id,
                        item.index, reason)

    async def finish(self, timeout: float) -> bool:
        """Read until every input the application has on chain is processed (or
        ``timeout``), then stop; True when it caught up. A second call answers the first's."""
        if self.caught_up is not None:
            return self.caught_up
        await self.reader.stop()
        try:
            caught_up = await self.reader.catch_up(await self._chain.number_of_inputs(), timeout)
        finally:
            self.app.close()
        if not caught_up:
            log.warning("the Cartesi application did not process every input in %g s", timeout)
        self.caught_up = caught_up
        return caught_up
