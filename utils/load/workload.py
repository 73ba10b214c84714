"""The one workload abstraction: a name, and one async ``step()`` the scheduler fires."""

from __future__ import annotations

import abc


class Workload(abc.ABC):
    """A named flow whose :meth:`step` the scheduler fires at a target rate."""

    name: str = "workload"

    @abc.abstractmethod
    async def step(self, intended_at: float) -> None:
        """Do one operation. ``intended_at`` is the run-clock time it was meant to start."""

    def exhausted(self) -> bool:
        """True when the workload has nothing left to do (firing stops)."""
        return False

    def funding_needs(self, steps: float) -> dict[str, int]:
        """Wei each sending address needs for ``steps`` steps at current fees."""
        return {}
