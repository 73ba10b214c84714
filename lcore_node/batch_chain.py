"""The chain side of batch commitments: ``commitBatch(bytes32 root, uint256 size)`` and
``getBatch(bytes32 root) returns (uint256 size, uint256 timestamp, address submitter)`` on
MVPIoTProcessor (Stylus program and Solidity twin alike), through the run's tx engine."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Sequence

from eth_abi import decode, encode
from eth_utils import keccak, to_checksum_address

from lcore_node.batch_mode import OnChainBatch
from lcore_node.chain import LOG_LOOKBACK_BLOCKS
from lcore_node.gas_model import GAS_MARGIN
from lcore_node.types import CommitOutcome
from utils.chain.fees import robust_gas_limit
from utils.chain.rpc import Rpc, hex_int
from utils.chain.rpc_faults import is_revert
from utils.chain.tx_engine import TxEngine, TxRequest
from utils.chain.wallets import Wallet
from utils.errors import RpcError
from utils.observe.events import Outcome

__all__ = ["BatchReader", "EngineBatchCommitter", "commit_batch_calldata"]

WORKLOAD = "data_pipeline"
SEL_COMMIT_BATCH = keccak(text="commitBatch(bytes32,uint256)")[:4]
SEL_GET_BATCH = keccak(text="getBatch(bytes32)")[:4]
BATCH_COMMITTED = "0x" + keccak(text="BatchCommitted(bytes32,address,uint256)").hex()


def commit_batch_calldata(root: bytes, size: int) -> bytes:
    return SEL_COMMIT_BATCH + encode(["bytes32", "uint256"], [root, size])


class BatchReader:
    """``getBatch`` through eth_call (used by the outbox and by ``verify``)."""

    def __init__(self, rpc: Rpc, address: str) -> None:
        self.rpc = rpc
        self.address = to_checksum_address(address)

    async def get_batch(self, root: bytes) -> OnChainBatch | None:
        call = {"to": self.address, "data": "0x" + (SEL_GET_BATCH + root).hex()}
        try:
            raw = await self.rpc.call("eth_call", call, "latest")
        except RpcError as exc:
            if not is_revert(exc):  # a coded error is "cannot tell", never "absent"
                raise
            return None  # a contract without getBatch reverts
        data = bytes.fromhex(str(raw)[2:])
        if len(data) < 96:
            return None
        size, timestamp, submitter = decode(["uint256", "uint256", "address"], data[:96])
        if int(submitter, 16) == 0:
            return None
        return OnChainBatch(int(size), int(timestamp), to_checksum_address(submitter))

    async def find_commit(
        self, root: bytes, candidates: Sequence[str] = ()
    ) -> tuple[str, int] | None:
        """The transaction that committed ``root`` and its block (None: not found).

        ``candidates`` (hashes sent for this batch) first: a successful one is its commit
        (after a reorg, the same bytes sent again are in a new block). Then the
        ``BatchCommitted`` logs of the last LOG_LOOKBACK_BLOCKS blocks."""
        for tx_hash in dict.fromkeys(h for h in candidates if h):
            receipt = await self.rpc.call("eth_getTransactionReceipt", tx_hash)
            if receipt is not None and hex_int(receipt.get("status", "0x1")) == 1:
                return tx_hash, hex_int(receipt["blockNumber"])
        head = hex_int(await self.rpc.call("eth_blockNumber"))
        logs = await self.rpc.call("eth_getLogs", {
            "address": self.address, "fromBlock": hex(max(0, head - LOG_LOOKBACK_BLOCKS + 1)),
            "toBlock": hex(head), "topics": [BATCH_COMMITTED, "0x" + root.hex()]})
        for log in logs or []:
            if not log.get("removed"):
                return str(log["transactionHash"]), hex_int(log["blockNumber"])
        return None


class EngineBatchCommitter(BatchReader):
    """Implements :class:`lcore_node.batch_mode.BatchCommitter` with the run's TxEngine."""

    def __init__(
        self, engine: TxEngine, rpc: Rpc, address: str, senders: Sequence[Wallet],
        gas_limit: int | None = None,
    ) -> None:
        if not senders:
            raise ValueError("EngineBatchCommitter needs at least one sender")
        super().__init__(rpc, address)
        self.engine = engine
        self.senders = list(senders)
        self._senders = itertools.cycle(senders)
        self._gas = gas_limit or 0

    async def calibrate(self) -> None:
        """The gas limit of one commitBatch, from an estimate (L1 part included on Nitro)."""
        if self._gas:
            return
        call = {"from": self.senders[0].address, "to": self.address,
                "data": "0x" + commit_batch_calldata(os.urandom(32), 256).hex()}
        self._gas = await robust_gas_limit(self.rpc, call, GAS_MARGIN) + 10_000

    @property
    def gas(self) -> int:
        return self._gas or 200_000

    def funding_needs(self, commits: float) -> dict[str, int]:
        per = -(-int(commits) // len(self.senders)) + 1
        return {w.address: per * self.gas * self.engine.fees.max_fee for w in self.senders}

    async def commit_batch(
        self, root: bytes, size: int, on_sent: Callable[[str], None]
    ) -> CommitOutcome:
        event = await self.engine.submit(TxRequest(
            workload=WORKLOAD, operation="commit_batch", sender=next(self._senders),
            to=self.address, data=commit_batch_calldata(root, size), gas=self.gas,
            on_sent=on_sent,
        ))
        ok = event.outcome is Outcome.SUCCESS
        retryable = event.outcome in (Outcome.REJECTED, Outcome.DROPPED, Outcome.TIMEOUT)
        return CommitOutcome(ok, event.tx_hash, event.block_number,
                             "" if ok else f"{event.outcome}: {event.error}", retryable)
