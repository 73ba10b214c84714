"""The input reader: follows an application's ``InputAdded`` logs as Cartesi's node reads
them and hands each ``EvmAdvance`` to the application (:mod:`lcore_node.inputbox_app`).

Each step reads the logs (``eth_getLogs`` in ranges, from the InputBox's deployment block
the first time) from the last ``window`` blocks below what it read before up to the head:
the confirmation window is read again every time. An input the application already
processed that now comes from another block hash, or no longer comes at all, means a reorg
replaced its block: the application forgets every input from the first such index on
(:meth:`InputApp.rollback`) and processes what the chain holds now. Inputs are processed
in index order, each once; ``on_processed(log, result, processed_at)`` is told of each.
A reorg deeper than the window is not seen.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from lcore_node.inputbox_app import AppResult, InputApp
from lcore_node.inputbox_chain import InputBoxReader, InputLog
from lcore_node.inputbox_heads import HeadTimes
from utils.chain.rpc import hex_int

__all__ = ["InputReader"]

log = logging.getLogger(__name__)

OnProcessed = Callable[[InputLog, AppResult, float], None]


class InputReader:
    """``step()`` once, or ``run()`` until cancelled (``start``/``stop``)."""

    def __init__(
        self, chain: InputBoxReader, app: InputApp, *, window: int = 64, poll: float = 0.25,
        on_processed: OnProcessed | None = None, clock: Callable[[], float] = time.time,
        heads: HeadTimes | None = None,
    ) -> None:
        self.chain = chain
        self._app = app
        self._window = window
        self._poll = poll
        self._on_processed = on_processed
        self._clock = clock
        self.heads = heads or HeadTimes()  # when each block was first seen (input lag)
        self._read_to: int | None = None  # highest block read so far
        self.reorgs = 0
        self._task: asyncio.Task[None] | None = None

    async def step(self) -> int:
        """Read up to the head once; returns how many inputs were processed."""
        asked = self._clock()
        head = hex_int(await self.chain.rpc.call("eth_blockNumber"))
        self.heads.saw(head, asked)
        start = self.chain.deployment_block if self._read_to is None else max(
            self.chain.deployment_block, self._read_to - self._window + 1)
        logs = await self.chain.logs(start, head)
        self._repair(start, logs)
        processed = 0
        expected = self._app.next_index()
        for item in logs:
            if item.index < expected:
                continue
            if item.index > expected:  # an earlier input lies below what was read: read it
                log.warning("input %d seen before input %d: reading from the deployment "
                            "block again", item.index, expected)
                self._read_to = None
                return processed
            # in the loop's thread: a stop cannot come between the application's commit and
            # the event that tells of it
            result = self._app.advance(item.advance, item.block_hash, self._clock())
            processed += 1
            expected += 1
            if self._on_processed is not None:
                self._on_processed(item, result, self._clock())
        self._read_to = head
        return processed

    def _repair(self, start: int, logs: list[InputLog]) -> None:
        """Roll the application back to the first input it holds whose block changed: read
        in the window from another block hash, or no longer read there at all."""
        by_index = {item.index: item.block_hash for item in logs}
        held = self._app.inputs_from_block(start)  # read from the window's blocks before
        if by_index:  # and every input from the window's first one on
            held.update(self._app.block_hashes(min(by_index)))
        changed = [i for i, h in held.items() if by_index.get(i) != h]
        if changed:
            first = min(changed)
            self.reorgs += 1
            dropped = self._app.rollback(first)
            log.warning("InputBox reorg: input %d on is in another block or gone; the "
                        "application forgot %d input(s) and reads them again", first, dropped)

    async def run(self) -> None:
        while True:
            try:
                await self.step()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the chain misbehaves: read again at the next poll
                log.info("input reader step failed: %s", exc)
            await asyncio.sleep(self._poll)

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="inputbox-reader")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def catch_up(self, inputs: int, timeout: float) -> bool:
        """Step until the application processed ``inputs`` inputs or ``timeout`` passed."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._app.next_index() < inputs and loop.time() < deadline:
            await self.step()
            if self._app.next_index() < inputs:
                await asyncio.sleep(self._poll)
        return self._app.next_index() >= inputs
