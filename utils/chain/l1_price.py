"""The L1 price an Arbitrum chain charges calldata at, read from ArbGasInfo (0x6c).

``getL1BaseFeeEstimate()`` answers the L1 pricer's current price per calldata unit in wei
(Nitro ``precompiles/ArbGasInfo.go``: ``L1PricingState.PricePerUnit``), which Nitro's pricer
moves at each batch posting report (``arbos/l1pricing``). A run reads it at the start and
the end of its load: the start price its settings give is not the price its transactions
paid once batches moved it. A chain without ArbGasInfo (anvil, Hardhat) answers nothing.
"""

from __future__ import annotations

import logging

from eth_utils import keccak

from utils.chain.rpc import Rpc
from utils.errors import RpcError

__all__ = ["ARB_GAS_INFO", "l1_price_wei"]

log = logging.getLogger(__name__)

ARB_GAS_INFO = "0x000000000000000000000000000000000000006c"
SEL_L1_BASE_FEE_ESTIMATE = "0x" + keccak(text="getL1BaseFeeEstimate()")[:4].hex()


async def l1_price_wei(rpc: Rpc) -> int | None:
    """The chain's L1 price per calldata unit (wei); None where ArbGasInfo does not answer."""
    try:
        answer = await rpc.call("eth_call", {"to": ARB_GAS_INFO,
                                             "data": SEL_L1_BASE_FEE_ESTIMATE}, "latest")
    except RpcError as exc:  # transient errors were retried by the transport
        log.debug("ArbGasInfo.getL1BaseFeeEstimate: %s", exc)
        return None
    if not isinstance(answer, str) or len(answer) != 66:  # no code there: "0x"
        return None
    return int(answer, 16)
