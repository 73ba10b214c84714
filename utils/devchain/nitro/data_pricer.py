"""Nitro's Stylus activation data fee (``arbos/programs/data_pricer.go``), for ArbWasm.

Demand (bytes) decays at ``bytesPerSecond`` and grows by each activation's estimated
machine-code size; the price per byte is ``minPrice * e^(demand / inertia)`` with Nitro's
integer Horner approximation (``arbmath.ApproxExpBasisPoints``, accuracy 12), and the fee is
``price per byte * asm estimate``. Initial values are Nitro's: no demand, 1 TB a year of
refill, 82,928,201 wei a byte minimum, inertia 21,360,419. The state (demand, last update)
lives in the storage of the 0x…71 account, so a reverted activation leaves it unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DataPricerState", "approx_exp_bips", "update_model"]

ONE_IN_BIPS = 10_000
ARBITRUM_START_TIME = 1_421_388_000
INITIAL_HOURLY_BYTES = (1 << 40) // (365 * 24)
INITIAL_BYTES_PER_SECOND = INITIAL_HOURLY_BYTES // 3600
INITIAL_MIN_PRICE = 82_928_201
INITIAL_INERTIA = 21_360_419
_U32_MAX = (1 << 32) - 1
_U64_MAX = (1 << 64) - 1
_I64_MAX = (1 << 63) - 1


@dataclass(frozen=True, slots=True)
class DataPricerState:
    demand: int = 0
    last_update_time: int = ARBITRUM_START_TIME

    def encode(self) -> int:
        return (self.demand << 64) | self.last_update_time

    @classmethod
    def decode(cls, word: int) -> DataPricerState:
        if word == 0:
            return cls()
        return cls(demand=word >> 64, last_update_time=word & _U64_MAX)


def approx_exp_bips(value: int, accuracy: int = 12) -> int:
    """``ApproxExpBasisPoints`` for a non-negative ``value`` in basis points."""
    b = ONE_IN_BIPS
    res = b + value // accuracy
    for i in range(accuracy - 1, 0, -1):
        res = b + min(res * value, _U64_MAX) // (i * b)
    return min(res, _I64_MAX)


def update_model(
    state: DataPricerState, temp_bytes: int, now: int
) -> tuple[DataPricerState, int]:
    """``DataPricer.UpdateModel``: the new state and the fee in wei for ``temp_bytes``."""
    passed = min(max(0, now - state.last_update_time), _U32_MAX)
    credit = min(INITIAL_BYTES_PER_SECOND * passed, _U32_MAX)
    demand = max(0, state.demand - credit)
    demand = min(demand + temp_bytes, _U32_MAX)
    exponent = ONE_IN_BIPS * demand // INITIAL_INERTIA
    multiplier = approx_exp_bips(exponent)
    cost_per_byte = min(INITIAL_MIN_PRICE * multiplier, _U64_MAX) // ONE_IN_BIPS
    fee = min(cost_per_byte * temp_bytes, _U64_MAX)
    return DataPricerState(demand, now), fee
