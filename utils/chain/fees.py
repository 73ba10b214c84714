"""Fee fields for new transactions: EIP-1559 where the chain has a base fee, legacy otherwise."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from utils.chain.rpc import Rpc, hex_int
from utils.errors import RpcError

log = logging.getLogger(__name__)


@dataclass(slots=True)
class FeePolicy:
    """Current fee fields; the block follower keeps ``base_fee`` fresh."""

    eip1559: bool
    base_fee: int = 0
    priority_fee: int = 0
    gas_price: int = 0  # legacy

    @classmethod
    async def detect(cls, rpc: Rpc, fixed_gas_price: int | None = None) -> FeePolicy:
        if fixed_gas_price is not None:
            return cls(eip1559=False, gas_price=fixed_gas_price)
        block = await rpc.call("eth_getBlockByNumber", "latest", False)
        base = block.get("baseFeePerGas") if block else None
        if base is None:
            return cls(eip1559=False, gas_price=hex_int(await rpc.call("eth_gasPrice")))
        try:
            priority = hex_int(await rpc.call("eth_maxPriorityFeePerGas"))
        except RpcError:
            log.info("eth_maxPriorityFeePerGas unsupported; using a 0 tip")
            priority = 0
        return cls(eip1559=True, base_fee=hex_int(base), priority_fee=priority)

    @property
    def max_fee(self) -> int:
        """What a tx offers per gas at most: twice the base fee survives 6 full blocks."""
        if self.eip1559:
            return 2 * self.base_fee + self.priority_fee
        return self.gas_price

    def fields(self) -> dict[str, Any]:
        if self.eip1559:
            return {
                "type": 2,
                "maxFeePerGas": self.max_fee,
                "maxPriorityFeePerGas": self.priority_fee,
            }
        return {"gasPrice": self.gas_price}

    def observe_block(self, block: dict[str, Any]) -> None:
        base = block.get("baseFeePerGas")
        if self.eip1559 and base is not None:
            self.base_fee = hex_int(base)
