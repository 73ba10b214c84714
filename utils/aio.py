"""Small asyncio helpers."""

from __future__ import annotations

import asyncio
from typing import Any, TypeVar

T = TypeVar("T")


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


def follow_future(source: asyncio.Future[T], target: asyncio.Future[T]) -> None:
    """``target`` ends as ``source`` does; cancelling ``target`` cancels ``source``."""
    def copy(done: asyncio.Future[T]) -> None:
        if target.done():
            return
        if done.cancelled():
            target.cancel()
        elif done.exception() is not None:
            target.set_exception(done.exception())  # type: ignore[arg-type]
        else:
            target.set_result(done.result())

    source.add_done_callback(copy)
    target.add_done_callback(lambda t: source.cancel() if t.cancelled() else None)
