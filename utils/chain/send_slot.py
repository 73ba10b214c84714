"""A step's send slot: the scheduler's hold on a step until its transaction has been sent.

The scheduler (:mod:`utils.load.scheduler`) bounds the steps whose load has not reached the
node yet; a step that waits for its receipt has offered its load and should not keep new
firings out (on a node whose blocks come every second, every step would otherwise hold its
slot for a block time or more after the node took its transaction). The scheduler runs each
step with :func:`hold_send_slot`; the engine takes :func:`send_slot_release` when a step asks
for a send (tasks inherit the context) and calls it when the node has answered. The release is
the scheduler's and idempotent; outside a step there is nothing to release.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar

_release: ContextVar[Callable[[], None] | None] = ContextVar("kcstress_send_slot",
                                                             default=None)


def hold_send_slot(release: Callable[[], None]) -> None:
    """In the current task (and the tasks it starts): ``release`` once the send is out."""
    _release.set(release)


def _nothing() -> None:
    pass


def send_slot_release() -> Callable[[], None]:
    """The current step's release (a no-op outside a step), to call later from elsewhere (the
    engine calls it where the node's answer is read, in another task)."""
    return _release.get() or _nothing


def release_send_slot() -> None:
    """Release the current step's send slot now (a step that sends without the engine)."""
    send_slot_release()()
