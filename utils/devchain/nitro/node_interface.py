"""NodeInterface (0x…c8): Nitro's virtual contract for gas estimates, answered in eth_call.

Nitro intercepts calls to 0xc8 in its RPC layer (there is no code there); so does the
embedded chain (``utils.devchain.exec.execute_call``). ABI from ``@arbitrum/nitro-contracts``
(``utils/devchain/nitro/abi/NodeInterface.json``):

* ``gasEstimateComponents(address to, bool contractCreation, bytes data) payable returns
  (uint64 gasEstimate, uint64 gasEstimateForL1, uint256 baseFee, uint256 l1BaseFeeEstimate)``:
  ``gasEstimate`` is what ``eth_estimateGas`` answers for the same call (from the eth_call's
  ``from`` and ``value``), L1 component included; ``gasEstimateForL1`` is that component
  (``execution/nodeinterface/node_interface.go``: ``PosterDataCost`` of the stand-in tx, then
  ``GetPosterGas`` in estimation mode).
* ``gasEstimateL1Component(...)``: ``(gasEstimateForL1, baseFee, l1BaseFeeEstimate)``
  without the L2 estimate (Nitro pads this one's cost by 10 % but divides by the full base
  fee).

Batches and the parent chain (:mod:`utils.devchain.nitro.batch_poster`), as Nitro answers
(``node_interface.go`` and ``arbnode/node.go``):

* ``findBatchContainingBlock(uint64 blockNum) returns (uint64 batch)``: the posted batch
  holding the block; a block no posted batch holds yet (or not made yet) reverts (Nitro:
  "block not yet found on any batch", a non-Solidity precompile error: ``execution
  reverted`` without data since ArbOS 11). Block 0 is in batch 0.
* ``getL1Confirmations(bytes32 blockHash) returns (uint64 confirmations)``: the parent
  chain's latest block minus the block its batch landed in; 0 while no batch holds it; an
  unknown hash reverts.
* ``blockL1Num(uint64 l2BlockNum) returns (uint64 l1BlockNum)``: the parent-chain block in
  the L2 block's header (mixHash); a block not made yet reverts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from eth_abi import decode, encode
from eth_typing import Address
from eth_utils import keccak

from utils.devchain.nitro.l1pricing import (
    L1_PRICE_PADDING_BIPS,
    ONE_IN_BIPS,
    L1Pricing,
    estimation_poster_gas,
    estimation_units,
    stand_in_tx,
)
from utils.devchain.nitro.parent_chain import l1_block_of_mix_hash

if TYPE_CHECKING:
    from utils.devchain.nitro.batch_poster import BatchPoster

__all__ = [
    "BATCH_SELECTORS",
    "NODE_INTERFACE_ADDRESS",
    "SEL_GAS_ESTIMATE_COMPONENTS",
    "SEL_GAS_ESTIMATE_L1_COMPONENT",
    "Unanswered",
    "batch_answer",
    "components_answer",
    "decode_estimate_args",
    "estimate_l1_gas",
    "l1_component_only",
]

NODE_INTERFACE_ADDRESS = Address((0xC8).to_bytes(20, "big"))
SEL_GAS_ESTIMATE_COMPONENTS = keccak(text="gasEstimateComponents(address,bool,bytes)")[:4]
SEL_GAS_ESTIMATE_L1_COMPONENT = keccak(text="gasEstimateL1Component(address,bool,bytes)")[:4]
SEL_FIND_BATCH = keccak(text="findBatchContainingBlock(uint64)")[:4]
SEL_L1_CONFIRMATIONS = keccak(text="getL1Confirmations(bytes32)")[:4]
SEL_BLOCK_L1_NUM = keccak(text="blockL1Num(uint64)")[:4]
BATCH_SELECTORS = (SEL_FIND_BATCH, SEL_L1_CONFIRMATIONS, SEL_BLOCK_L1_NUM)


class Unanswered(Exception):
    """NodeInterface cannot answer (Nitro reverts): the reason, for the log only."""


def batch_answer(
    calldata: bytes,
    poster: BatchPoster,
    mix_hash_of: Callable[[int], bytes | None],
    number_of_hash: Callable[[bytes], int | None],
) -> bytes:
    """The ABI-encoded answer of a batch query (:data:`BATCH_SELECTORS`), or
    :class:`Unanswered`. ``mix_hash_of(n)`` / ``number_of_hash(h)`` read the chain's canonical
    headers (None: no such block)."""
    selector = calldata[:4]
    try:
        (arg,) = decode(["bytes32" if selector == SEL_L1_CONFIRMATIONS else "uint64"],
                        calldata[4:])  # fmt: skip
    except Exception as exc:  # malformed input: the precompile's decoder reverts
        raise Unanswered(f"bad arguments: {exc}") from exc
    if selector == SEL_FIND_BATCH:
        batch = poster.batch_of(arg)
        if batch is None:
            raise Unanswered("block not yet found on any batch")
        return encode(["uint64"], [batch])
    if selector == SEL_L1_CONFIRMATIONS:
        number = number_of_hash(bytes(arg))
        if number is None:
            raise Unanswered("unknown block hash")
        return encode(["uint64"], [poster.confirmations(number)])
    mix_hash = mix_hash_of(arg)
    if mix_hash is None:
        raise Unanswered(f"nil header for l2 block: {arg}")
    return encode(["uint64"], [l1_block_of_mix_hash(mix_hash)])


def decode_estimate_args(calldata: bytes) -> tuple[bytes, bool, bytes]:
    """(to, contractCreation, data) of either method; ``to`` is b"" for a creation."""
    to, creation, data = decode(["address", "bool", "bytes"], calldata[4:])
    return (b"" if creation else bytes.fromhex(to[2:])), bool(creation), bytes(data)


def estimate_l1_gas(
    pricing: L1Pricing, to: bytes, value: int, data: bytes, nonce: int, base_fee: int, block: int
) -> int:
    """The L1 part of an estimate: Nitro's padded stand-in units, estimation-mode gas."""
    units = estimation_units(stand_in_tx(to, value, data, nonce), pricing.brotli_level)
    return estimation_poster_gas(units, pricing.price_at(block), base_fee)


def l1_component_only(
    pricing: L1Pricing, to: bytes, value: int, data: bytes, nonce: int, base_fee: int, block: int
) -> bytes:
    """The ABI-encoded answer of ``gasEstimateL1Component``."""
    price = pricing.price_at(block)
    units = estimation_units(stand_in_tx(to, value, data, nonce), pricing.brotli_level)
    fee = units * price * L1_PRICE_PADDING_BIPS // ONE_IN_BIPS
    gas = fee // base_fee if base_fee > 0 else 0
    return encode(["uint64", "uint256", "uint256"], [gas, base_fee, price])


def components_answer(total: int, l1_gas: int, base_fee: int, l1_price: int) -> bytes:
    """The ABI-encoded answer of ``gasEstimateComponents``."""
    return encode(["uint64", "uint64", "uint256", "uint256"], [total, l1_gas, base_fee, l1_price])
