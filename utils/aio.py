"""Small asyncio helpers."""

from __future__ import annotations

import asyncio
from typing import Any


async def wait_event(event: asyncio.Event, timeout: float) -> bool:
    """Wait up to ``timeout`` seconds for ``event``; True when it is set.

    Unlike ``asyncio.wait_for`` on Python 3.11, a cancellation that arrives just as the
    event is set is never swallowed: the caller's task always sees it.
    """
    try:
        async with asyncio.timeout(timeout):
            await event.wait()
    except TimeoutError:
        pass
    return event.is_set()


async def all_or_cancel(*tasks: asyncio.Future[Any]) -> None:
    """Wait for every task; the first failure cancels the others (and waits for them) and is
    raised as it is, not wrapped in an ExceptionGroup as ``asyncio.TaskGroup`` would. Read
    each result with ``task.result()``."""
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
