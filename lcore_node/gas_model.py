"""A commit transaction's gas limit as a line in its payload size, fitted from two estimates.

Both ways the lcore node puts records on chain (``submitResult`` per record, the InputBox's
``addInput``) send payloads of varying size; their gas is close to ``a + b * bytes`` (on
Nitro the L1 data part too, which ``robust_gas_limit`` scales for a falling base fee). One
model serves both: fitted once at set-up from an estimate at each of two sizes, or a fixed
limit given by the user.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from utils.chain.fees import robust_gas_limit
from utils.chain.rpc import Rpc

__all__ = ["GAS_MARGIN", "GasModel"]

GAS_MARGIN = 1.25


class GasModel:
    """``gas_for(size)``: the fitted line times :data:`GAS_MARGIN` plus ``headroom``, or the
    fixed limit."""

    def __init__(self, fixed: int | None, headroom: int) -> None:
        self.fixed = fixed
        self.headroom = headroom
        self._fit = (0, 0)  # gas = a + b * payload bytes

    async def calibrate(self, rpc: Rpc, sizes: Sequence[int],
                        call_for: Callable[[int], dict[str, Any]]) -> None:
        """Fit the line from the estimates of ``call_for(size)`` at two ``sizes``."""
        if self.fixed is not None:
            return
        gas = [await robust_gas_limit(rpc, call_for(size), margin=1.0) for size in sizes]
        slope = max(0, gas[1] - gas[0]) / (sizes[1] - sizes[0])
        self._fit = (int(gas[0] - slope * sizes[0]), int(slope + 1))

    def gas_for(self, size: int) -> int:
        if self.fixed is not None:
            return self.fixed
        a, b = self._fit
        return int((a + b * size) * GAS_MARGIN) + self.headroom

    def funding_needs(self, senders: Sequence[Any], commits: float, max_size: int,
                      max_fee: int) -> dict[str, int]:
        """Wei for each sender to send its share of ``commits`` of ``max_size`` bytes."""
        per = -(-int(commits) // len(senders)) + 1
        cost = per * self.gas_for(max_size) * max_fee
        return {w.address: cost for w in senders}
