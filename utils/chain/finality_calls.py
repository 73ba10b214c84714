"""NodeInterface's batch queries, read over JSON-RPC with ``eth_call`` to 0x…c8.

Nitro answers calls to NodeInterface in its RPC layer (there is no code at 0xc8). ABI from
OffchainLabs/nitro-contracts ``src/node-interface/NodeInterface.sol``:

* ``findBatchContainingBlock(uint64 blockNum) returns (uint64 batch)``: "reverting if none
  does" (the block is not in a posted batch yet);
* ``getL1Confirmations(bytes32 blockHash) returns (uint64 confirmations)``: the parent-chain
  confirmations of the batch holding the block, "0 if block not yet included in an L1 batch";
* ``blockL1Num(uint64 l2BlockNum) returns (uint64 l1BlockNum)``: the parent-chain block
  number the L2 block was made at.

A chain without NodeInterface (anvil, Hardhat, geth) runs the call against an address
without code: the answer is empty (``0x``); some nodes refuse it with an error. A transient
error (the transport retried it and gave up) says nothing either way.
"""

from __future__ import annotations

from enum import Enum

from eth_utils import keccak

from utils.chain.rpc import Rpc
from utils.errors import RpcError, RpcTransientError

__all__ = ["NODE_INTERFACE", "NodeInterfaceCalls", "Presence"]

NODE_INTERFACE = "0x00000000000000000000000000000000000000c8"
SEL_FIND_BATCH = keccak(text="findBatchContainingBlock(uint64)")[:4].hex()
SEL_L1_CONFIRMATIONS = keccak(text="getL1Confirmations(bytes32)")[:4].hex()
SEL_BLOCK_L1_NUM = keccak(text="blockL1Num(uint64)")[:4].hex()


class Presence(Enum):
    PRESENT = "present"
    ABSENT = "absent"
    UNKNOWN = "unknown"  # a transient error: ask again later


def _word(value: int | str) -> str:
    """One ABI word: a uint as 32 bytes, or a 0x-hash as it is."""
    if isinstance(value, str):
        return value.removeprefix("0x").rjust(64, "0")
    return f"{value:064x}"


def _uint(result: object) -> int | None:
    """The first word of an answer, None when the answer is not one (empty ``0x``)."""
    if not isinstance(result, str) or len(result) < 66:
        return None
    return int(result[2:66], 16)


class NodeInterfaceCalls:
    """The three reads, through the run's transport (its retries)."""

    def __init__(self, rpc: Rpc) -> None:
        self.rpc = rpc

    async def _call(self, selector: str, arg: int | str) -> object:
        return await self.rpc.call("eth_call", {"to": NODE_INTERFACE,
                                                "data": "0x" + selector + _word(arg)}, "latest")

    async def probe(self, block_hash: str) -> tuple[Presence, str]:
        """Does the chain answer ``getL1Confirmations`` for an existing block? (presence,
        what showed it)."""
        try:
            result = await self._call(SEL_L1_CONFIRMATIONS, block_hash)
        except RpcTransientError as exc:
            return Presence.UNKNOWN, str(exc)
        except RpcError as exc:  # a revert, "no such method", an answer we cannot read
            return Presence.ABSENT, f"getL1Confirmations: {exc}"
        if _uint(result) is None:
            return Presence.ABSENT, f"getL1Confirmations answered {str(result)[:20]!r}"
        return Presence.PRESENT, "getL1Confirmations answered"

    async def batch_of(self, block: int) -> int | None:
        """The batch holding ``block``; None while none does (the call reverts). A transient
        error is raised: the caller asks again at its next poll."""
        try:
            return _uint(await self._call(SEL_FIND_BATCH, block))
        except RpcTransientError:
            raise
        except RpcError as exc:
            if exc.kind in ("final", "reply"):
                return None
            raise

    async def confirmations(self, block_hash: str) -> int:
        """Parent-chain confirmations of the batch holding the block (0: not posted)."""
        return _uint(await self._call(SEL_L1_CONFIRMATIONS, block_hash)) or 0

    async def l1_block(self, block: int) -> int | None:
        """The parent-chain block number ``block`` was made at (None: no answer)."""
        try:
            return _uint(await self._call(SEL_BLOCK_L1_NUM, block))
        except RpcTransientError:
            raise
        except RpcError:
            return None
