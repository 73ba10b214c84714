"""ArbSys (0x…64) and ArbGasInfo (0x…6c) for py-evm, with Nitro's ABI and formulas.

Implemented (ABI: ``utils/devchain/nitro/abi/*.json``, from ``@arbitrum/nitro-contracts``):

* ``ArbSys.arbBlockNumber()`` the L2 block number, ``arbChainID()`` the chain id,
  ``arbOSVersion()`` ``55 + ArbOS version`` (Nitro's numbering; this chain claims ArbOS
  :data:`ARBOS_VERSION`, the Stylus v2 rules its WASM host follows).
* ``ArbGasInfo.getL1BaseFeeEstimate()`` (and the deprecated ``getL1GasPriceEstimate()``)
  the L1 price per calldata unit; the L1 pricer's state and parameters
  (:mod:`utils.devchain.nitro.pricer`): ``getL1PricingSurplus``, ``getLastL1PricingSurplus``,
  ``getL1FeesAvailable``, ``getL1PricingUnitsSinceUpdate``, ``getL1PricingFundsDueForRewards``,
  ``getLastL1PricingUpdateTime``, ``getL1PricingEquilibrationUnits``,
  ``getL1BaseFeeEstimateInertia``, ``getL1RewardRate``, ``getL1RewardRecipient``,
  ``getPerBatchGasCharge``, ``getAmortizedCostCapBips``;
  ``getPricesInWei()`` Nitro's six prices (``precompiles/ArbGasInfo.go``, ArbOS >= 4):
  per L2 tx (140 bytes of calldata), per L1 calldata byte, per storage allocation, per
  ArbGas base / congestion / total.

Any other selector reverts (empty data), as Nitro does for an unknown method. Gas: Nitro
charges 800 gas (``SloadGasEIP2200``) per ArbOS storage word a method reads plus argument
copying; the same read counts are charged here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from eth.abc import ComputationAPI
from eth.exceptions import Revert
from eth_abi import encode
from eth_typing import Address
from eth_utils import keccak

from utils.devchain.nitro.l1pricing import MIN_BASE_FEE_WEI, TX_DATA_NON_ZERO_GAS, L1Pricing
from utils.devchain.nitro.pricer import PricerParams, surplus

__all__ = [
    "ARBOS_VERSION",
    "ARB_GAS_INFO_ADDRESS",
    "ARB_SYS_ADDRESS",
    "arb_gas_info_precompile_for",
    "arb_sys_precompile",
    "prices_in_wei",
]

ARB_SYS_ADDRESS = Address((0x64).to_bytes(20, "big"))
ARB_GAS_INFO_ADDRESS = Address((0x6C).to_bytes(20, "big"))
ARBOS_VERSION = 32
ARBOS_STORAGE_READ_GAS = 800
ASSUMED_SIMPLE_TX_SIZE = 140
STORAGE_WRITE_COST = 20_000  # params.SstoreSetGasEIP2200

SEL_ARB_BLOCK_NUMBER = keccak(text="arbBlockNumber()")[:4]
SEL_ARB_CHAIN_ID = keccak(text="arbChainID()")[:4]
SEL_ARBOS_VERSION = keccak(text="arbOSVersion()")[:4]
SEL_PRICES_IN_WEI = keccak(text="getPricesInWei()")[:4]
SEL_L1_BASE_FEE_ESTIMATE = keccak(text="getL1BaseFeeEstimate()")[:4]

Precompile = Callable[[ComputationAPI], ComputationAPI]


def _params(pricing: L1Pricing) -> PricerParams:
    return pricing.poster.policy.pricer if pricing.poster is not None else PricerParams()


# ArbGasInfo's L1 pricer reads (``precompiles/ArbGasInfo.go``): selector -> (ArbOS storage
# words read, ABI type, value from the pricing state and the block's price)
PricerRead = Callable[[L1Pricing, int], Any]
PRICER_READS: dict[bytes, tuple[int, str, PricerRead]] = {
    keccak(text=f"{name}()")[:4]: (reads, abi_type, read)
    for name, reads, abi_type, read in (
        ("getL1GasPriceEstimate", 1, "uint256", lambda p, price: price),
        ("getL1BaseFeeEstimateInertia", 1, "uint64", lambda p, _: _params(p).inertia),
        ("getL1RewardRate", 1, "uint64", lambda p, _: _params(p).per_unit_reward),
        ("getL1RewardRecipient", 1, "address", lambda p, _: _params(p).reward_recipient),
        ("getPerBatchGasCharge", 1, "int64", lambda p, _: _params(p).per_batch_gas_cost),
        ("getAmortizedCostCapBips", 1, "uint64", lambda p, _: _params(p).amortized_cost_cap_bips),
        ("getL1PricingEquilibrationUnits", 1, "uint256",
         lambda p, _: _params(p).equilibration_units),
        ("getL1PricingSurplus", 3, "int256", lambda p, _: surplus(p)),
        ("getL1FeesAvailable", 1, "uint256", lambda p, _: p.l1_fees_available),
        ("getLastL1PricingUpdateTime", 1, "uint64", lambda p, _: p.last_update_time),
        ("getL1PricingFundsDueForRewards", 1, "uint256", lambda p, _: p.funds_due_for_rewards),
        ("getL1PricingUnitsSinceUpdate", 1, "uint64", lambda p, _: p.units_since_update),
        ("getLastL1PricingSurplus", 1, "int256", lambda p, _: p.last_surplus),
    )
}


def _fail(computation: ComputationAPI) -> None:
    computation.output = b""
    raise Revert(b"")


def _answer(computation: ComputationAPI, reads: int, types: list[str], values: list[int]) -> None:
    computation.consume_gas(reads * ARBOS_STORAGE_READ_GAS, reason="ArbOS storage read")
    computation.output = encode(types, values)


def arb_sys_precompile(computation: ComputationAPI) -> ComputationAPI:
    selector = bytes(computation.msg.data[:4])
    state = computation.state
    if selector == SEL_ARB_BLOCK_NUMBER:
        _answer(computation, 0, ["uint256"], [state.block_number])
    elif selector == SEL_ARB_CHAIN_ID:
        _answer(computation, 0, ["uint256"], [state.execution_context.chain_id])
    elif selector == SEL_ARBOS_VERSION:
        _answer(computation, 0, ["uint256"], [55 + ARBOS_VERSION])
    else:
        _fail(computation)
    return computation


def prices_in_wei(l1_price: int, l2_base_fee: int) -> tuple[int, int, int, int, int, int]:
    """``GetPricesInWeiWithAggregator`` (ArbOS >= 4)."""
    wei_for_l1_calldata = l1_price * TX_DATA_NON_ZERO_GAS
    per_l2_tx = wei_for_l1_calldata * ASSUMED_SIMPLE_TX_SIZE
    per_arb_gas_base = min(MIN_BASE_FEE_WEI, l2_base_fee)
    congestion = l2_base_fee - per_arb_gas_base
    wei_for_storage = l2_base_fee * STORAGE_WRITE_COST
    return (per_l2_tx, wei_for_l1_calldata, wei_for_storage, per_arb_gas_base, congestion,
            l2_base_fee)  # fmt: skip


def arb_gas_info_precompile_for(pricing: L1Pricing) -> Precompile:
    """ArbGasInfo bound to the chain's L1 pricing state."""

    def arb_gas_info(computation: ComputationAPI) -> ComputationAPI:
        selector = bytes(computation.msg.data[:4])
        state = computation.state
        l1_price = pricing.price_at(state.block_number)
        if selector == SEL_L1_BASE_FEE_ESTIMATE:
            _answer(computation, 1, ["uint256"], [l1_price])
        elif selector == SEL_PRICES_IN_WEI:
            base_fee = pricing.base_fee_in_block(state)
            _answer(computation, 2, ["uint256"] * 6, list(prices_in_wei(l1_price, base_fee)))
        elif selector in PRICER_READS:
            reads, abi_type, read = PRICER_READS[selector]
            computation.consume_gas(reads * ARBOS_STORAGE_READ_GAS, reason="ArbOS storage read")
            computation.output = encode([abi_type], [read(pricing, l1_price)])
        else:
            _fail(computation)
        return computation

    return arb_gas_info

