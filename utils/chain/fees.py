"""Fee fields for new transactions: EIP-1559 where the chain has a base fee, legacy otherwise."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from utils.chain.rpc import Rpc, hex_int
from utils.chain.rpc_faults import is_unsupported
from utils.errors import RpcError, RpcTransientError

log = logging.getLogger(__name__)

TRANSFER_GAS = 21_000
NITRO_MIN_BASE_FEE_WEI = 10**8
PROBE_ADDRESS = "0x000000000000000000000000000000000000dEaD"


NODE_INTERFACE = "0x00000000000000000000000000000000000000C8"
SEL_GAS_ESTIMATE_COMPONENTS = bytes.fromhex("c94e6eeb")  # gasEstimateComponents(address,bool,bytes)


async def robust_gas_limit(rpc: Rpc, call: dict[str, Any], margin: float = 1.25) -> int:
    """A gas limit for ``call`` that stays enough while the base fee moves.

    On Nitro the L1 data part of a transaction's gas is its L1 cost divided by the base fee, so
    it grows as the base fee falls: the L1 part (NodeInterface.gasEstimateComponents) is
    scaled to Nitro's minimum base fee of 0.1 gwei. Elsewhere (no NodeInterface) the plain
    estimate. Times ``margin``; unused gas is refunded. A transient failure (retried by the
    transport) is raised, never read as "no NodeInterface". A ``call`` without ``to`` is a
    contract creation (``contractCreation`` true)."""
    data = bytes.fromhex(str(call.get("data", "0x"))[2:])
    creation = not call.get("to")
    to = str(call.get("to") or "0x" + "00" * 20)
    args = (SEL_GAS_ESTIMATE_COMPONENTS + bytes(12) + bytes.fromhex(to[2:])
            + int(creation).to_bytes(32, "big") + (96).to_bytes(32, "big")
            + len(data).to_bytes(32, "big")
            + data + bytes(-len(data) % 32))
    probe = {k: v for k, v in call.items() if k in ("from", "value")}
    try:
        out = await rpc.call("eth_call", {**probe, "to": NODE_INTERFACE,
                                          "data": "0x" + args.hex()}, "latest")
        raw = bytes.fromhex(str(out)[2:])
    except RpcTransientError:
        raise
    except RpcError:  # no NodeInterface here: the call reverts or finds no code
        raw = b""
    if len(raw) >= 128:
        total, l1, base_fee = (int.from_bytes(raw[i:i + 32], "big") for i in (0, 32, 64))
        scale = max(1.0, base_fee / NITRO_MIN_BASE_FEE_WEI)
        return int(((total - l1) + l1 * scale) * margin) + 1
    return int(hex_int(await rpc.call("eth_estimateGas", call)) * margin) + 1


async def transfer_gas_limit(rpc: Rpc) -> int:
    """21,000 where a transfer costs that (anvil, geth); more where the chain charges L1 data
    (Nitro), from :func:`robust_gas_limit`; 21,000 when the estimate fails for good (a
    transient failure is raised: 21,000 would be short on Nitro)."""
    call = {"from": PROBE_ADDRESS, "to": PROBE_ADDRESS, "value": "0x0"}
    try:
        if hex_int(await rpc.call("eth_estimateGas", call)) <= TRANSFER_GAS:
            return TRANSFER_GAS
        return max(TRANSFER_GAS, await robust_gas_limit(rpc, call))
    except RpcTransientError:
        raise
    except RpcError as exc:
        log.info("transfer gas estimate failed (%s); using %s", exc, TRANSFER_GAS)
        return TRANSFER_GAS


@dataclass(slots=True)
class FeePolicy:
    """Current fee fields; the block follower keeps ``base_fee`` fresh."""

    eip1559: bool
    base_fee: int = 0
    priority_fee: int = 0
    gas_price: int = 0  # legacy
    #: gas limit of a plain value transfer: 21,000, or on a chain that charges L1 data
    #: (Nitro) the estimate with its L1 part scaled to Nitro's 0.1 gwei minimum base fee, so
    #: a falling base fee cannot make it short (unused gas is refunded)
    transfer_gas: int = TRANSFER_GAS

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
        except RpcTransientError:
            raise  # retried by the transport; never read as "not served"
        except RpcError as exc:
            log.info("eth_maxPriorityFeePerGas %s (%s); using a 0 tip",
                     "not served" if is_unsupported(exc) else "failed", exc)
            priority = 0
        policy = cls(eip1559=True, base_fee=hex_int(base), priority_fee=priority)
        policy.transfer_gas = await transfer_gas_limit(rpc)
        return policy

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
