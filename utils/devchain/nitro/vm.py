"""The Nitro layer over a py-evm VM: L1 data charged as gas, ArbSys and ArbGasInfo.

``nitro_vm_configuration(schedule, pricing)`` wraps every VM of a schedule (plain or
Stylus-enabled) so that

* each signed transaction executed in a block pays ``gasUsedForL1`` poster gas before
  its execution starts, as Nitro's ``GasChargingHook`` takes it from the gas left (the
  receipt's ``gasUsed`` includes it, and it is not refundable); its calldata units and poster
  fee go to the L1 pricer (:func:`utils.devchain.nitro.pricer.collect`);
* ArbSys (0x…64) and ArbGasInfo (0x…6c) answer (:mod:`utils.devchain.nitro.precompiles`);
* a mined block carries Nitro's header info in its mixHash (the parent-chain block of the
  emulated clock, :mod:`utils.devchain.nitro.parent_chain`) and goes to the batch poster;
* the tip is dropped: a transaction pays the base fee per gas (:class:`NitroStateMixin`);
* the base fee follows EIP-1559 but never falls under Nitro's minimum of 0.1 gwei (Nitro's
  L2 base fee has that floor; without it py-evm's empty blocks drive it to 7 wei, and the
  L1 charge, cost / base fee, would explode).

Calls (``eth_call`` / ``eth_estimateGas``) run with a zero base fee and pay no poster gas,
as on Nitro; ``utils.devchain.exec`` adds the estimation's L1 component itself.
"""

from __future__ import annotations

import logging
from typing import Any

from eth.abc import ComputationAPI, MessageAPI, SignedTransactionAPI
from eth.validation import validate_gas_limit
from eth.vm.forks.london import LondonVM
from eth.vm.forks.london.headers import calculate_expected_base_fee_per_gas
from eth_utils import ValidationError

from utils.devchain.nitro.l1pricing import MIN_BASE_FEE_WEI, L1Pricing
from utils.devchain.nitro.parent_chain import header_mix_hash
from utils.devchain.nitro.precompiles import (
    ARB_GAS_INFO_ADDRESS,
    ARB_SYS_ADDRESS,
    ARBOS_VERSION,
    arb_gas_info_precompile_for,
    arb_sys_precompile,
)
from utils.devchain.nitro.pricer import collect
from utils.errors import ConfigError

__all__ = ["floored_base_fee", "nitro_vm_class", "nitro_vm_configuration", "signed_bytes"]

VMConfiguration = tuple[tuple[int, type[Any]], ...]

logger = logging.getLogger(__name__)


def signed_bytes(transaction: SignedTransactionAPI) -> bytes | None:
    """The EIP-2718 bytes of a signed transaction; None for a call's spoofed one."""
    encode = getattr(transaction, "encode", None)
    if encode is None or not hasattr(transaction, "r"):
        return None
    try:
        return bytes(encode())
    except Exception:  # a SpoofTransaction or an unsigned one: no bytes to post
        return None


class NitroExecutorMixin:
    """Mixed in front of a fork's transaction executor."""

    pricing: L1Pricing
    vm_state: Any
    _poster_gas: int = 0

    def build_evm_message(self, transaction: SignedTransactionAPI) -> MessageAPI:
        message: MessageAPI = super().build_evm_message(transaction)  # type: ignore[misc]
        self._poster_gas = 0
        base_fee = int(self.vm_state.base_fee or 0)
        raw = signed_bytes(transaction) if base_fee > 0 else None
        if raw is not None:
            self.pricing._executing_block = self.vm_state.block_number
            poster = self.pricing.charge(raw, self.vm_state.block_number, base_fee)
            # DevNode refuses a tx whose gas cannot cover this before it runs (Nitro:
            # "intrinsic gas too low"); the clamp only guards the invariant.
            self._poster_gas = min(poster, message.gas)
            message.gas -= self._poster_gas
            if self.pricing.moves:  # Nitro: AddToUnitsSinceUpdate, AddToL1FeesAvailable
                collect(self.pricing, self.pricing.units(raw), self._poster_gas * base_fee)
        return message

    def calculate_gas_refund(self, computation: ComputationAPI, gas_used: int) -> int:
        # Nitro: NonrefundableGas() is the poster gas, kept out of the refund quotient.
        refund: int = super().calculate_gas_refund(  # type: ignore[misc]
            computation, gas_used - self._poster_gas
        )
        return refund


class NitroStateMixin:
    """Mixed in front of a fork's state: the tip is dropped, a transaction pays the base fee
    per gas whatever its priority fee (Nitro ``arbos/tx_processor.go``: ``DropTip()`` true
    but on ArbOS 9, ``GetPaidGasPrice()`` the base fee; Nitro's geth then prices the message
    at the base fee, so GASPRICE reads it too). Calls run at a zero base fee: price 0."""

    execution_context: Any

    def get_tip(self, transaction: SignedTransactionAPI) -> int:
        return 0

    def get_gas_price(self, transaction: SignedTransactionAPI) -> int:
        return int(min(transaction.max_fee_per_gas, self.execution_context.base_fee_per_gas))

    def get_transaction_context(self, transaction: SignedTransactionAPI) -> Any:
        context = super().get_transaction_context(transaction)  # type: ignore[misc]
        context._gas_price = self.get_gas_price(transaction)
        return context


def nitro_vm_class(vm_class: type[Any], pricing: L1Pricing) -> type[Any]:
    """A subclass of ``vm_class`` (London or later) priced and answering like Nitro."""
    if not issubclass(vm_class, LondonVM):
        raise ConfigError("vm_configuration", f"{vm_class.__name__} predates London")
    base_state = vm_class._state_class
    base_computation = base_state.computation_class
    precompiles: dict[Any, Any] = dict(base_computation.get_precompiles())
    precompiles[ARB_SYS_ADDRESS] = arb_sys_precompile
    precompiles[ARB_GAS_INFO_ADDRESS] = arb_gas_info_precompile_for(pricing)
    computation = type(
        f"Nitro{base_computation.__name__}", (base_computation,), {"_precompiles": precompiles}
    )
    base_executor = base_state.transaction_executor_class
    executor = type(
        f"Nitro{base_executor.__name__}", (NitroExecutorMixin, base_executor), {"pricing": pricing}
    )
    state = type(
        f"Nitro{base_state.__name__}",
        (NitroStateMixin, base_state),
        {"computation_class": computation, "transaction_executor_class": executor},
    )
    base_create = vm_class.create_header_from_parent

    def create_header_from_parent(parent: Any, **params: Any) -> Any:
        header = base_create(parent, **params)
        floor = floored_base_fee(header.base_fee_per_gas)
        return header if floor == header.base_fee_per_gas else header.copy(base_fee_per_gas=floor)

    def validate_gas(cls: type[Any], header: Any, parent: Any) -> None:
        validate_gas_limit(header.gas_limit, parent.gas_limit)
        expected = floored_base_fee(calculate_expected_base_fee_per_gas(parent))
        if header.base_fee_per_gas != expected:
            raise ValidationError(
                f"Header has invalid base fee per gas (has {header.base_fee_per_gas}, "
                f"expected {expected})"
            )

    base_mine = vm_class.mine_block

    def mine_block(self: Any, block: Any, *args: Any, **kwargs: Any) -> Any:
        """Nitro's header info in the mixHash (the parent-chain block now), then the block
        goes to the batch poster."""
        kwargs["mix_hash"] = header_mix_hash(pricing.clock.block_number(), ARBOS_VERSION)
        mined = base_mine(self, block, *args, **kwargs)
        if pricing.poster is not None:
            try:
                pricing.poster.on_mined(mined.block)
            except Exception:  # the poster's failure must not stop block production
                logger.exception("the batch poster failed on block %s", mined.block.number)
        return mined

    return type(
        f"Nitro{vm_class.__name__}",
        (vm_class,),
        {
            "_state_class": state,
            "create_header_from_parent": staticmethod(create_header_from_parent),
            "validate_gas": classmethod(validate_gas),
            "mine_block": mine_block,
        },
    )


def floored_base_fee(base_fee: int) -> int:
    """EIP-1559's base fee, never under Nitro's minimum (``MinBaseFeeWei``, 0.1 gwei)."""
    return max(base_fee, MIN_BASE_FEE_WEI)


def nitro_vm_configuration(schedule: VMConfiguration, pricing: L1Pricing) -> VMConfiguration:
    """``schedule`` with every VM wrapped by :func:`nitro_vm_class` (one shared pricing)."""
    return tuple((block, nitro_vm_class(vm, pricing)) for block, vm in schedule)
