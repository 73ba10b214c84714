"""The inputbox commit mode (``--iot-commit inputbox``): records to Cartesi's InputBox.

Records wait until ``batch_records`` of them are pending (1: each record is its own input),
as many as fit in one 64 KiB input, or the oldest has waited ``batch_wait`` seconds; then
they form an input (:mod:`lcore_node.inputbox_store`) whose payload bytes are fixed, and one
``addInput(app, payload)`` puts it on chain. The InputBox has no key to ask by (an input's
index is given when it lands), so the chain holds an input when one of the application's
``InputAdded`` logs carries its payload bytes. Before an input formed by an earlier process
(or tried before) is sent, the chain is searched for it once no transaction that could carry
it is in the pool (for an input of this process, those it sent for it; for one of an earlier
process, whose sends are unknown, any of the committer wallets'): a send answered just before a
kill -9 (its 'submitted' mark not yet written) is found instead of being sent twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from lcore_node.commit_mode import OnChain
from lcore_node.inputbox_chain import InputLog
from lcore_node.inputbox_store import INPUTS as INPUTS_TABLE
from lcore_node.inputbox_store import InputPayload, form_input, set_position
from lcore_node.outbox_store import Unit
from lcore_node.storage import Storage
from lcore_node.types import CommitOutcome

__all__ = ["InputBoxCommitter", "InputBoxMode"]

log = logging.getLogger(__name__)

SETTLE_TIMEOUT = 30.0  # seconds to wait for the senders' pending transactions
SETTLE_POLL = 0.25


class InputBoxCommitter(Protocol):
    async def add_input(
        self, payload: bytes, on_sent: Callable[[str], None]
    ) -> CommitOutcome: ...

    async def find_payload(self, payload: bytes) -> InputLog | None: ...

    async def in_receipt(self, tx_hash: str) -> InputLog | None: ...

    async def senders_settled(self) -> bool: ...

    async def pending(self, tx_hash: str) -> bool: ...


class InputBoxMode:
    """Commits records as InputBox inputs through an :class:`InputBoxCommitter`."""

    table = INPUTS_TABLE

    def __init__(
        self, committer: InputBoxCommitter, storage: Storage, batch_records: int,
        batch_wait: float, clock: Callable[[], float] = time.time,
    ) -> None:
        self._committer = committer
        self._storage = storage
        self._records = max(1, batch_records)
        self._wait = batch_wait if batch_records > 1 else 0.0
        self._clock = clock
        self._fresh: set[int] = set()  # inputs formed here, never sent: no search first
        self._here: set[int] = set()  # inputs formed here, not committed yet
        self._sent: dict[int, list[str]] = {}  # their transactions sent here

    async def form(
        self, storage: Storage, now: float, flush: bool
    ) -> tuple[Unit[InputPayload] | None, float | None]:
        unit, due = await form_input(storage, self._records, 0.0 if flush else self._wait, now)
        if unit is not None:
            self._fresh.add(unit.unit_id)
            self._here.add(unit.unit_id)
        return unit, due

    async def send(
        self, unit: Unit[InputPayload], on_sent: Callable[[str], None]
    ) -> CommitOutcome:
        if unit.unit_id not in self._fresh or unit.attempts:
            found = await self._search(unit)
            if found is not None:
                log.info("input %s is on chain already (index %s): not sent again",
                         unit.unit_id, found.index)
                return CommitOutcome(True, found.tx_hash, found.block_number)
        self._fresh.discard(unit.unit_id)

        def sent(tx_hash: str) -> None:
            self._sent.setdefault(unit.unit_id, []).append(tx_hash)
            on_sent(tx_hash)

        outcome = await self._committer.add_input(unit.payload.payload, sent)
        if outcome.ok and outcome.tx_hash:
            self._done(unit.unit_id)
            try:
                added = await self._committer.in_receipt(outcome.tx_hash)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the index is found again by verify's search
                log.info("reading the receipt of input %s failed: %s", unit.unit_id, exc)
                added = None
            if added is not None:
                await set_position(self._storage, unit.unit_id, added.index, added.input_hash,
                                   self._clock())
        return outcome

    def _done(self, unit_id: int) -> None:
        self._here.discard(unit_id)
        self._sent.pop(unit_id, None)

    async def check(self, unit: Unit[InputPayload]) -> OnChain:
        return "match" if await self._search(unit) is not None else "absent"

    async def locate(
        self, unit: Unit[InputPayload], candidates: Sequence[str]
    ) -> tuple[str, int] | None:
        found = await self._search(unit)
        return None if found is None else (found.tx_hash, found.block_number)

    async def _search(self, unit: Unit[InputPayload]) -> InputLog | None:
        """The application's input carrying this unit's payload, once no transaction that
        could carry it is in the pool: for an input formed here, those sent for it here; for
        one of an earlier process (its sends unknown), any of the senders'."""
        sent = [h for h in (*self._sent.get(unit.unit_id, ()), unit.transaction_hash or "")
                if h]
        for _ in range(int(SETTLE_TIMEOUT / SETTLE_POLL)):
            if unit.unit_id in self._here:
                pending = [h for h in sent if await self._committer.pending(h)]
                settled = not pending
            else:
                settled = await self._committer.senders_settled()
            if settled:
                break
            await asyncio.sleep(SETTLE_POLL)
        found = await self._committer.find_payload(unit.payload.payload)
        if found is not None:
            self._done(unit.unit_id)
            await set_position(self._storage, unit.unit_id, found.index, found.input_hash,
                               self._clock())
        return found
