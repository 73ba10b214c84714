"""The one workload abstraction: a name, and one async ``step()`` the scheduler fires."""

from __future__ import annotations

import abc
import asyncio
from collections.abc import Callable
from typing import Any


class Workload(abc.ABC):
    """A named flow whose :meth:`step` the scheduler fires at a target rate."""

    name: str = "workload"

    @abc.abstractmethod
    async def step(self, intended_at: float) -> None:
        """Do one operation. ``intended_at`` is the run-clock time it was meant to start."""

    def fire(self, intended_at: float,
             on_sent: Callable[[], None]) -> asyncio.Future[Any] | None:
        """Start one step without a task of its own, where the step is one call that returns a
        future (one transaction through :meth:`TxEngine.start
        <utils.chain.tx_engine.TxEngine.start>`); ``on_sent()`` once its load reached the
        node. The default, None: the scheduler runs :meth:`step` in a task."""
        return None

    def exhausted(self) -> bool:
        """True when the workload has nothing left to do (firing stops)."""
        return False

    def funding_needs(self, steps: float) -> dict[str, int]:
        """Wei each sending address needs for ``steps`` steps at current fees."""
        return {}
