"""Nitro's L1 pricer: how the price per calldata unit moves each time the batch poster is paid.

Every formula is OffchainLabs/nitro's (docs/nitro.md maps each to its file and function):

* ``arbos/tx_processor.go`` ``GasChargingHook``: every transaction adds its calldata units to
  ``unitsSinceUpdate`` (``AddToUnitsSinceUpdate``) and pays ``posterGas x gasPrice`` (rounded
  down) into the L1 pricer's pool (``EndTxHook``: ``AddToL1FeesAvailable``):
  :func:`collect`.
* ``arbos/internal_tx.go`` (batch posting report, v1): the poster spent
  ``l1BaseFee x (perBatchGasCost + batchDataGas)`` wei, ``batchDataGas`` being
  ``arbos/arbostypes/incomingmessage.go`` ``LegacyCostForStats`` of the batch's bytes:
  :func:`legacy_cost_for_stats`, :func:`batch_wei_spent`.
* ``arbos/l1pricing/l1pricing.go`` ``UpdateForBatchPosterSpending`` (ArbOS >= 10): allocate
  the units since the last update to this one, cap the amortized cost, owe the poster what it
  spent, owe and pay the rewards, pay the poster what the pool holds, and move the price by
  the derivative rule (surplus, equilibration units, inertia): :func:`update_for_batch`.

The initial parameters are a fresh chain's at ArbOS >= 11 (``InitializeL1PricingState`` and
``arbos/arbosState/arbosstate.go`` upgrades): inertia 10, reward 10 wei per unit, equilibration
units ``16 x 10,000,000`` (V6), per-batch gas 210,000 (V12), amortized cost cap 0 (none).
Go's ``big.Int.Div`` is Euclidean; every divisor here is positive, so it is Python's ``//``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

__all__ = [
    "PricerParams",
    "PricerVars",
    "batch_wei_spent",
    "collect",
    "legacy_cost_for_stats",
    "surplus",
    "update_for_batch",
]

TX_DATA_ZERO_GAS = 4  # params.TxDataZeroGas
TX_DATA_NON_ZERO_GAS = 16  # params.TxDataNonZeroGasEIP2028
KECCAK256_GAS = 30  # params.Keccak256Gas
KECCAK256_WORD_GAS = 6  # params.Keccak256WordGas
SSTORE_SET_GAS = 20_000  # params.SstoreSetGasEIP2200
ONE_IN_BIPS = 10_000

BATCH_POSTER_ADDRESS = "0xA4B000000000000000000073657175656e636572"  # l1pricing.go
INITIAL_INERTIA = 10
INITIAL_PER_UNIT_REWARD = 10
INITIAL_EQUILIBRATION_UNITS_V6 = TX_DATA_NON_ZERO_GAS * 10_000_000
INITIAL_PER_BATCH_GAS_COST_V12 = 210_000


@dataclass(frozen=True)
class PricerParams:
    """The pricer's parameters (ArbOwner-settable on Nitro; fixed here)."""

    inertia: int = INITIAL_INERTIA
    per_unit_reward: int = INITIAL_PER_UNIT_REWARD
    equilibration_units: int = INITIAL_EQUILIBRATION_UNITS_V6
    per_batch_gas_cost: int = INITIAL_PER_BATCH_GAS_COST_V12
    amortized_cost_cap_bips: int = 0
    reward_recipient: str = BATCH_POSTER_ADDRESS  # the chain owner (ArbOS >= 2) when known


class PricerVars(Protocol):
    """The pricer's variables (ArbOS storage on Nitro): :class:`L1Pricing` has them."""

    price_per_unit: int
    units_since_update: int
    l1_fees_available: int
    funds_due_for_rewards: int
    poster_funds_due: int
    last_update_time: int
    last_surplus: int
    rewards_paid: int
    poster_paid: int


def collect(state: PricerVars, units: int, poster_fee_wei: int) -> None:
    """One transaction's calldata units and poster fee, into the pricer's counters."""
    state.units_since_update += units
    state.l1_fees_available += poster_fee_wei


def legacy_cost_for_stats(batch: bytes) -> int:
    """L1 gas of posting ``batch``: its calldata, a keccak of it, two storage sets."""
    non_zeros = len(batch) - batch.count(0)
    gas = TX_DATA_ZERO_GAS * (len(batch) - non_zeros) + TX_DATA_NON_ZERO_GAS * non_zeros
    words = (len(batch) + 31) // 32
    return gas + KECCAK256_GAS + words * KECCAK256_WORD_GAS + 2 * SSTORE_SET_GAS


def batch_wei_spent(params: PricerParams, batch_data_gas: int, l1_base_fee: int) -> int:
    """What the poster spent on a batch (``InternalTxBatchPostingReportMethodID``)."""
    return l1_base_fee * max(0, params.per_batch_gas_cost + batch_data_gas)


def surplus(state: PricerVars) -> int:
    """``GetL1PricingSurplus``: the pool minus what it owes (poster and rewards)."""
    return state.l1_fees_available - (state.poster_funds_due + state.funds_due_for_rewards)


def update_for_batch(
    state: PricerVars, params: PricerParams, update_time: int, current_time: int,
    wei_spent: int, l1_base_fee: int,
) -> None:
    """``UpdateForBatchPosterSpending`` (ArbOS >= 10) with the chain's one batch poster."""
    last = state.last_update_time
    if last == 0 and update_time > 0:  # the first update
        last = update_time - 1
    if update_time > current_time or update_time < last:
        raise ValueError(f"invalid timestamp: update {update_time}, last {last}, "
                         f"now {current_time}")  # fmt: skip
    numerator, denominator = update_time - last, current_time - last
    if denominator == 0:
        numerator = denominator = 1
    allocated = state.units_since_update * numerator // denominator
    state.units_since_update -= allocated
    if params.amortized_cost_cap_bips != 0:
        cap = l1_base_fee * allocated * params.amortized_cost_cap_bips // ONE_IN_BIPS
        wei_spent = min(wei_spent, cap)
    state.poster_funds_due += wei_spent
    state.funds_due_for_rewards += allocated * params.per_unit_reward
    _pay(state, allocated * params.per_unit_reward)
    state.last_update_time = update_time
    if allocated > 0:
        _adjust_price(state, params, allocated)


def _pay(state: PricerVars, reward: int) -> None:
    """Pay the rewards, then the poster, as far as the pool goes."""
    reward = min(reward, state.l1_fees_available)
    state.funds_due_for_rewards -= reward
    state.l1_fees_available -= reward
    state.rewards_paid += reward
    to_poster = min(state.poster_funds_due, state.l1_fees_available)
    if to_poster > 0:
        state.l1_fees_available -= to_poster
        state.poster_funds_due -= to_poster
        state.poster_paid += to_poster


def _adjust_price(state: PricerVars, params: PricerParams, allocated: int) -> None:
    now_surplus = surplus(state)
    inertia_units = params.equilibration_units // params.inertia
    desired = -now_surplus // params.equilibration_units
    actual = (now_surplus - state.last_surplus) // allocated
    change = (desired - actual) * allocated // (inertia_units + allocated)
    state.last_surplus = now_surplus
    state.price_per_unit = max(0, state.price_per_unit + change)
