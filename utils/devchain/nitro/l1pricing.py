"""Nitro's L1 data pricing, as the embedded chain applies it to every transaction.

Formulas follow OffchainLabs/nitro (see docs/nitro.md for the line-by-line map):

* ``arbos/l1pricing/l1pricing.go`` ``getPosterUnitsWithoutCache``: a transaction's
  calldata units are ``16 * len(brotli(tx.MarshalBinary(), level))`` (16 =
  ``params.TxDataNonZeroGasEIP2028``); the level is ArbOS's ``BrotliCompressionLevel``, 1
  since ArbOS 20; brotli runs with window 22 (``arbcompress``).
* ``GetPosterInfo``: the poster cost in wei is ``pricePerUnit * units``; ``pricePerUnit``
  is the L1 base fee estimate (``ArbGasInfo.getL1BaseFeeEstimate``).
* ``arbos/tx_processor.go`` ``GetPosterGas``: the cost becomes L2 gas as
  ``posterCost / gasPrice`` (the block base fee: Arbitrum collects no tips); during gas
  estimation the price is 7/8 of it (floored at the minimum base fee) and the cost is
  padded by 10 % (``GasEstimationL1PricePadding``).
* ``PosterDataCost`` without a signed tx (estimation) prices a stand-in EIP-1559 tx with
  Nitro's random nonce/fees/gas/signature and pads the units: ``(units + 16 * 16) *
  10100 / 10000``.

The estimate starts at ``--l1-base-fee-wei`` (Nitro's 50 gwei by default) and moves as
Nitro moves it each time the emulated batch poster posts (:mod:`utils.devchain.nitro.pricer`,
:mod:`utils.devchain.nitro.batch_poster`); ``kcdev_setL1BaseFee`` sets it by hand. A start
price of 0 means "L1 data cost not modelled": no charge, and the pricer never moves it. A
change takes effect from the next block that has no transaction yet; every block keeps its
price, so a receipt's ``gasUsedForL1`` is recomputed exactly from the transaction bytes at
any time.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import brotli
import rlp
from eth.abc import StateAPI
from eth_utils import keccak

from utils.devchain.nitro.options import DEFAULT_L1_BASE_FEE_WEI
from utils.devchain.nitro.parent_chain import ParentClock

if TYPE_CHECKING:
    from utils.devchain.nitro.batch_poster import BatchPoster

__all__ = [
    "DEFAULT_L1_BASE_FEE_WEI",
    "L1Pricing",
    "estimation_poster_gas",
    "estimation_units",
    "poster_gas",
    "poster_units",
    "stand_in_tx",
]

TX_DATA_NON_ZERO_GAS = 16  # params.TxDataNonZeroGasEIP2028
BROTLI_LEVEL = 1  # ArbOS >= 20
BROTLI_WINDOW = 22  # arbcompress.WINDOW_SIZE
MIN_BASE_FEE_WEI = 10**8  # l2pricing.InitialMinimumBaseFeeWei (0.1 gwei)
ESTIMATION_PADDING_UNITS = 16 * TX_DATA_NON_ZERO_GAS
ESTIMATION_PADDING_BIPS = 100
L1_PRICE_PADDING_BIPS = 11_000  # GasEstimationL1PricePadding
ONE_IN_BIPS = 10_000
_INT_MAX = 1 << 256

# Nitro's stand-in values for a message without a signed transaction (l1pricing.go)
RANDOM_NONCE = int.from_bytes(keccak(b"Nonce")[:8], "big")
RANDOM_TIP_CAP = int.from_bytes(keccak(b"GasTipCap")[:4], "big")
RANDOM_FEE_CAP = int.from_bytes(keccak(b"GasFeeCap")[:4], "big")
RANDOM_GAS = int.from_bytes(keccak(b"Gas")[:4], "big")
ARBITRUM_ONE_CHAIN_ID = 42161
RANDOM_V = ARBITRUM_ONE_CHAIN_ID * 3
RANDOM_R = int.from_bytes(keccak(b"R"), "big")
RANDOM_S = int.from_bytes(keccak(b"S"), "big")


def compressed_size(data: bytes, level: int = BROTLI_LEVEL) -> int:
    return len(brotli.compress(data, quality=level, lgwin=BROTLI_WINDOW))


def poster_units(signed_tx: bytes, level: int = BROTLI_LEVEL) -> int:
    """Calldata units of a signed transaction (its EIP-2718 bytes)."""
    return TX_DATA_NON_ZERO_GAS * compressed_size(signed_tx, level)


def estimation_units(stand_in_tx: bytes, level: int = BROTLI_LEVEL) -> int:
    """Units of an estimation's stand-in transaction, padded as Nitro pads them."""
    units = poster_units(stand_in_tx, level) + ESTIMATION_PADDING_UNITS
    return units * (ONE_IN_BIPS + ESTIMATION_PADDING_BIPS) // ONE_IN_BIPS


def poster_gas(units: int, price_per_unit: int, gas_price: int) -> int:
    """L2 gas that pays for ``units`` at ``price_per_unit`` (0 when the gas price is 0)."""
    if gas_price <= 0:
        return 0
    return units * price_per_unit // gas_price


def estimation_poster_gas(units: int, price_per_unit: int, base_fee: int) -> int:
    """``GetPosterGas`` in gas-estimation mode: 7/8 of the price, cost padded by 10 %."""
    if base_fee <= 0:
        return 0
    price = max(base_fee * 7 // 8, MIN_BASE_FEE_WEI)
    cost = units * price_per_unit * L1_PRICE_PADDING_BIPS // ONE_IN_BIPS
    return cost // price


@dataclass
class L1Pricing:
    """The chain's L1 pricing state: the estimate, its history by block, the pricer's variables.

    ``changes`` lists ``(first block, price per unit)`` in block order (one entry per price
    move), so any block's price is known for good. The pricer's variables are those of
    Nitro's ``L1PricingState`` (:class:`utils.devchain.nitro.pricer.PricerVars`), plus what
    the pool paid out: ``rewards_paid`` and ``poster_paid``.
    """

    price_per_unit: int = DEFAULT_L1_BASE_FEE_WEI
    brotli_level: int = BROTLI_LEVEL
    genesis_timestamp: int = 0
    changes: list[tuple[int, int]] = field(default_factory=list)
    call_base_fee: int = 0  # base fee of the block an eth_call runs on (its state has 0)
    moves: int = 1  # 1: the pricer moves the price; 0: a start price of 0, "not modelled"
    units_since_update: int = 0
    l1_fees_available: int = 0
    funds_due_for_rewards: int = 0
    poster_funds_due: int = 0
    last_update_time: int = 0
    last_surplus: int = 0
    rewards_paid: int = 0
    poster_paid: int = 0
    clock: ParentClock = field(default_factory=ParentClock, repr=False, compare=False)
    poster: BatchPoster | None = field(default=None, repr=False, compare=False)
    _executing_block: int = 0  # the block the last transaction executed in
    _last: tuple[bytes, int] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.price_per_unit < 0:
            raise ValueError(f"the L1 base fee estimate cannot be negative: {self.price_per_unit}")
        if not self.changes:
            self.changes.append((0, self.price_per_unit))
            self.moves = int(self.price_per_unit > 0)

    def set_price(self, wei_per_unit: int, from_block: int) -> None:
        """Price blocks from ``from_block`` on at ``wei_per_unit`` (earlier ones keep theirs)."""
        if wei_per_unit < 0:
            raise ValueError(f"the L1 base fee estimate cannot be negative: {wei_per_unit}")
        while self.changes and self.changes[-1][0] >= from_block:
            self.changes.pop()
        self.changes.append((from_block, wei_per_unit))
        self.price_per_unit = wei_per_unit

    def forget_before(self, block_number: int) -> None:
        """Drop the prices of blocks before ``block_number`` (out of the history window: no
        receipt of theirs is served any more); the one in effect there stays."""
        index = bisect.bisect_right(self.changes, (block_number, _INT_MAX)) - 1
        if index > 0:
            del self.changes[:index]

    def price_at(self, block_number: int) -> int:
        index = bisect.bisect_right(self.changes, (block_number, _INT_MAX)) - 1
        return self.changes[index][1] if index >= 0 else 0

    def base_fee_in_block(self, state: StateAPI) -> int:
        """Nitro's ``BaseFeeInBlock``: the block's base fee, also inside an eth_call."""
        return int(state.base_fee or 0) or self.call_base_fee

    def units(self, signed_tx: bytes) -> int:
        """Calldata units of ``signed_tx`` (the last answer is kept: admission and execution
        of one transaction ask twice)."""
        if self._last is not None and self._last[0] == signed_tx:
            return self._last[1]
        units = poster_units(signed_tx, self.brotli_level)
        self._last = (signed_tx, units)
        return units

    def charge(self, signed_tx: bytes, block_number: int, base_fee: int) -> int:
        """Poster gas (``gasUsedForL1``) of a transaction in ``block_number`` at ``base_fee``."""
        price = self.price_at(block_number)
        if price == 0 or base_fee <= 0:
            return 0
        return poster_gas(self.units(signed_tx), price, base_fee)


def stand_in_tx(
    to: bytes, value: int, data: bytes, nonce: int = 0, tip_cap: int = 0, fee_cap: int = 0
) -> bytes:
    """``makeFakeTxForMessage`` in estimation mode: an EIP-1559 tx with Nitro's stand-in
    nonce, fees, gas limit and signature where the message has none (chain id unset: 0)."""
    fields = [
        0,
        nonce or RANDOM_NONCE,
        tip_cap or RANDOM_TIP_CAP,
        fee_cap or RANDOM_FEE_CAP,
        RANDOM_GAS,
        to,
        value,
        data,
        [],
        RANDOM_V,
        RANDOM_R,
        RANDOM_S,
    ]
    return b"\x02" + rlp.encode(fields)
