"""Cartesi Rollups' InputBox (v2) through JSON-RPC and the run's tx engine.

``addInput(address appContract, bytes payload) returns (bytes32)``, ``getInputHash(app,
index)``, ``getNumberOfInputs(app)`` and the ``InputAdded(address indexed appContract,
uint256 indexed index, bytes input)`` logs, read with ``eth_getLogs`` in ranges from the
InputBox's deployment block as Cartesi's node reads them. :class:`InputBoxReader` answers
the inputbox mode's questions (which input carries these payload bytes, at which index) and
``verify``'s; :class:`EngineInputBoxCommitter` sends through the engine.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from eth_abi import decode, encode
from eth_utils import keccak, to_checksum_address

from lcore_node.gas_model import GasModel
from lcore_node.inputbox_payload import EvmAdvance, decode_evm_advance
from lcore_node.types import CommitOutcome
from utils.chain.rpc import Rpc, hex_int
from utils.chain.tx_engine import TxEngine, TxRequest
from utils.chain.wallets import Wallet
from utils.observe.events import Outcome
from utils.redact import redact_text

__all__ = ["EngineInputBoxCommitter", "InputBoxReader", "InputLog", "add_input_calldata"]

WORKLOAD = "data_pipeline"
SEL_ADD_INPUT = keccak(text="addInput(address,bytes)")[:4]
SEL_GET_INPUT_HASH = keccak(text="getInputHash(address,uint256)")[:4]
SEL_NUMBER_OF_INPUTS = keccak(text="getNumberOfInputs(address)")[:4]
SEL_DEPLOYMENT_BLOCK = keccak(text="getDeploymentBlockNumber()")[:4]
INPUT_ADDED = "0x" + keccak(text="InputAdded(address,uint256,bytes)").hex()
LOG_RANGE = 5_000  # blocks per eth_getLogs (providers cap the range)


def add_input_calldata(app: str, payload: bytes) -> bytes:
    return SEL_ADD_INPUT + encode(["address", "bytes"], [app, payload])


def _topic(address: str) -> str:
    return "0x" + "00" * 12 + address.lower().removeprefix("0x")


@dataclass(frozen=True, slots=True)
class InputLog:
    """One ``InputAdded`` log of the application, decoded."""

    index: int
    block_number: int
    block_hash: str
    tx_hash: str
    log_index: int
    input: bytes

    @property
    def advance(self) -> EvmAdvance:
        return decode_evm_advance(self.input)

    @property
    def input_hash(self) -> bytes:
        return bytes(keccak(self.input))


def parse_log(log: dict[str, Any]) -> InputLog:
    (data,) = decode(["bytes"], bytes.fromhex(str(log["data"])[2:]))
    return InputLog(int(log["topics"][2], 16), hex_int(log["blockNumber"]),
                    str(log["blockHash"]), str(log["transactionHash"]),
                    hex_int(log["logIndex"]), bytes(data))


class InputBoxReader:
    """Reads one application's inputs from an InputBox (eth_call, eth_getLogs)."""

    def __init__(self, rpc: Rpc, inputbox: str, app: str, deployment_block: int = 0) -> None:
        self.rpc = rpc
        self.inputbox = to_checksum_address(inputbox)
        self.app = to_checksum_address(app)
        self.deployment_block = deployment_block

    async def _call(self, data: bytes) -> bytes:
        raw = await self.rpc.call("eth_call", {"to": self.inputbox, "data": "0x" + data.hex()},
                                  "latest")
        return bytes.fromhex(str(raw)[2:])

    async def load_deployment_block(self) -> int:
        """``getDeploymentBlockNumber()``: where the logs start."""
        self.deployment_block = int.from_bytes(await self._call(SEL_DEPLOYMENT_BLOCK), "big")
        return self.deployment_block

    async def number_of_inputs(self) -> int:
        out = await self._call(SEL_NUMBER_OF_INPUTS + encode(["address"], [self.app]))
        return int.from_bytes(out, "big")

    async def input_hash(self, index: int) -> bytes | None:
        """``getInputHash(app, index)``; None when the application has no such input."""
        if index >= await self.number_of_inputs():
            return None  # the contract reverts (array index out of bounds)
        return await self._call(SEL_GET_INPUT_HASH + encode(["address", "uint256"],
                                                             [self.app, index]))

    async def logs(self, from_block: int, to_block: int) -> list[InputLog]:
        """The application's InputAdded logs in [from_block, to_block], in chain order,
        read in ranges of :data:`LOG_RANGE` blocks."""
        found: list[InputLog] = []
        for start in range(from_block, to_block + 1, LOG_RANGE):
            raw = await self.rpc.call("eth_getLogs", {
                "address": self.inputbox, "topics": [INPUT_ADDED, _topic(self.app)],
                "fromBlock": hex(start), "toBlock": hex(min(to_block, start + LOG_RANGE - 1)),
            })
            found += [parse_log(entry) for entry in raw or [] if not entry.get("removed")]
        return sorted(found, key=lambda item: (item.block_number, item.log_index))

    async def input_log(self, index: int, near_block: int | None = None) -> InputLog | None:
        """The application's input ``index`` (its log; searched around ``near_block`` when
        given, else from the deployment block)."""
        head = hex_int(await self.rpc.call("eth_blockNumber"))
        start = self.deployment_block if near_block is None else near_block
        raw: list[dict[str, Any]] = []
        for first in range(start, head + 1, LOG_RANGE):
            raw = await self.rpc.call("eth_getLogs", {
                "address": self.inputbox,
                "topics": [INPUT_ADDED, _topic(self.app), "0x" + index.to_bytes(32, "big").hex()],
                "fromBlock": hex(first), "toBlock": hex(min(head, first + LOG_RANGE - 1)),
            }) or []
            if raw:
                break
        found = [parse_log(entry) for entry in raw if not entry.get("removed")]
        return found[0] if found else None

    async def find_payload(self, payload: bytes) -> InputLog | None:
        """The application's input that carries ``payload``, or None: read in ranges from
        the head back to the deployment block (what is searched for is usually recent), the
        first in the most recent range that holds one."""
        head = hex_int(await self.rpc.call("eth_blockNumber"))
        end = head
        while end >= self.deployment_block:
            start = max(self.deployment_block, end - LOG_RANGE + 1)
            for item in await self.logs(start, end):
                if item.advance.payload == payload:
                    return item
            end = start - 1
        return None

    async def in_receipt(self, tx_hash: str) -> InputLog | None:
        """The application's input added by transaction ``tx_hash`` (from its receipt)."""
        receipt = await self.rpc.call("eth_getTransactionReceipt", tx_hash)
        for entry in (receipt or {}).get("logs", []):
            topics = entry.get("topics", [])
            if (str(entry.get("address", "")).lower() == self.inputbox.lower()
                    and len(topics) == 3 and topics[0] == INPUT_ADDED
                    and topics[1].lower() == _topic(self.app)):
                return parse_log(entry)
        return None


class EngineInputBoxCommitter(InputBoxReader):
    """Sends ``addInput`` through the run's TxEngine from a set of sender wallets."""

    def __init__(
        self, engine: TxEngine, rpc: Rpc, inputbox: str, app: str, senders: Sequence[Wallet],
        deployment_block: int = 0, gas_limit: int | None = None,
    ) -> None:
        if not senders:
            raise ValueError("EngineInputBoxCommitter needs at least one sender")
        super().__init__(rpc, inputbox, app, deployment_block)
        self.engine = engine
        self.senders = list(senders)
        self._senders = itertools.cycle(senders)
        self.gas = GasModel(gas_limit, headroom=20_000)

    async def calibrate(self) -> None:
        """Fit addInput's gas to its payload size from two estimates (L1 part included on
        Nitro)."""

        def call_for(size: int) -> dict[str, Any]:
            data = add_input_calldata(self.app, os.urandom(size))
            return {"from": self.senders[0].address, "to": self.inputbox,
                    "data": "0x" + data.hex()}

        await self.gas.calibrate(self.rpc, (64, 8192), call_for)

    def gas_for(self, size: int) -> int:
        return self.gas.gas_for(size)

    def funding_needs(self, commits: float, max_size: int = 8192) -> dict[str, int]:
        return self.gas.funding_needs(self.senders, commits, max_size, self.engine.fees.max_fee)

    async def pending(self, tx_hash: str) -> bool:
        """Is ``tx_hash`` in the node's pool (known, in no block yet)?"""
        found = await self.rpc.call("eth_getTransactionByHash", tx_hash)
        return found is not None and found.get("blockNumber") is None

    async def senders_settled(self) -> bool:
        """No sender has a transaction in the pool (its pending nonce is its mined one)."""
        for wallet in self.senders:
            mined, pending = [hex_int(await self.rpc.call("eth_getTransactionCount",
                                                          wallet.address, tag))
                              for tag in ("latest", "pending")]
            if pending > mined:
                return False
        return True

    async def add_input(self, payload: bytes, on_sent: Callable[[str], None]) -> CommitOutcome:
        event = await self.engine.submit(TxRequest(
            workload=WORKLOAD, operation="add_input", sender=next(self._senders),
            to=self.inputbox, data=add_input_calldata(self.app, payload),
            gas=self.gas_for(len(payload)), on_sent=on_sent,
        ))
        ok = event.outcome is Outcome.SUCCESS
        retryable = event.outcome in (Outcome.REJECTED, Outcome.DROPPED, Outcome.TIMEOUT)
        error = "" if ok else redact_text(f"{event.outcome}: {event.error}", [self.rpc.url])
        return CommitOutcome(ok, event.tx_hash, event.block_number, error, retryable)
