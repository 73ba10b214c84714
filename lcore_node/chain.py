"""MVPIoTProcessor through the shared transaction engine: the outbox's chain side.

``submitResult(bytes32 taskId, bytes encryptedResult, bytes32 proofHash)`` and
``getResult(bytes32)``. The argument types are read from the ABI in use, so a
legacy deployment whose ABI says ``uint8[]`` (Rust ``Vec<u8>``) works too.
"""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eth_abi import decode, encode
from eth_utils import keccak, to_checksum_address

from lcore_node.gas_model import GasModel
from lcore_node.types import CommitOutcome, OnChainResult
from utils.chain.rpc import Rpc, hex_int
from utils.chain.rpc_faults import is_revert
from utils.chain.tx_engine import TxEngine, TxRequest
from utils.chain.wallets import Wallet
from utils.clock import Clock
from utils.errors import ChainError, RpcError
from utils.observe.events import Outcome
from utils.observe.stats import StatsHub
from utils.redact import redact_text

if TYPE_CHECKING:
    from utils.settings import Settings

WORKLOAD = "data_pipeline"
LOG_LOOKBACK_BLOCKS = 10_000  # find_commit's eth_getLogs window (providers cap the range)


@dataclass(frozen=True, slots=True)
class AbiFunction:
    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]

    @property
    def selector(self) -> bytes:
        return bytes(keccak(text=f"{self.name}({','.join(self.inputs)})"))[:4]

    @classmethod
    def find(cls, abi: Sequence[dict[str, Any]], name: str) -> AbiFunction:
        for item in abi:
            if item.get("type") == "function" and item.get("name") == name:
                return cls(name, tuple(_canonical(i) for i in item.get("inputs", [])),
                           tuple(_canonical(o) for o in item.get("outputs", [])))
        raise ChainError(f"the contract ABI has no function {name!r}")

    def encode_call(self, *args: Any) -> bytes:
        return self.selector + encode(list(self.inputs), [_to_abi(t, a) for t, a in
                                                          zip(self.inputs, args, strict=True)])


def _canonical(param: dict[str, Any]) -> str:
    if param["type"].startswith("tuple"):
        inner = ",".join(_canonical(c) for c in param["components"])
        return f"({inner}){param['type'][5:]}"
    return str(param["type"])


def _to_abi(abi_type: str, value: Any) -> Any:
    return list(value) if abi_type == "uint8[]" and isinstance(value, bytes) else value


def _from_abi(value: Any) -> bytes:
    return bytes(value)  # bytes, or a uint8[] list from a legacy ABI


class ProcessorReader:
    """Read-only access to MVPIoTProcessor: ``getResult`` through ``eth_call``."""

    def __init__(self, rpc: Rpc, address: str, abi: Sequence[dict[str, Any]]) -> None:
        self.rpc = rpc
        self.address = to_checksum_address(address)
        self.get_fn = AbiFunction.find(abi, "getResult")
        self._commit_topic = _task_event_topic(abi, "ResultSubmitted")

    async def get_result(self, task_id: bytes) -> OnChainResult | None:
        """What the contract holds under ``task_id``; None only when a call that succeeded
        says nothing is there (an empty result, or a revert: a legacy contract reverts for
        unknown ids). Any other error (throttled, internal, missing state, transport) raises:
        the caller cannot tell, and must not read it as absent."""
        call = {"to": self.address, "data": "0x" + self.get_fn.encode_call(task_id).hex()}
        try:
            raw = await self.rpc.call("eth_call", call, "latest")
        except RpcError as exc:
            if is_revert(exc):
                return None
            raise
        values = decode(list(self.get_fn.outputs), bytes.fromhex(str(raw)[2:]))
        if len(values) == 1:  # legacy ABI: getResult returns the payload alone, no proof
            envelope = _from_abi(values[0])
            return OnChainResult(envelope, b"", 0, "") if envelope else None
        envelope, proof, timestamp, submitter = values[0], values[1], values[2], values[3]
        if int(submitter, 16) == 0 and timestamp == 0:
            return None
        return OnChainResult(_from_abi(envelope), bytes(proof), int(timestamp),
                             to_checksum_address(submitter))

    async def find_commit(
        self, task_id: bytes, candidates: Sequence[str] = ()
    ) -> tuple[str, int] | None:
        """The transaction that committed ``task_id`` and its block, or None if not found.

        ``candidates`` (hashes sent for this task id) are tried first: a successful
        ``submitResult`` of this task id is its commit. Then the ``ResultSubmitted`` logs of
        the last LOG_LOOKBACK_BLOCKS blocks (when the ABI has the event)."""
        for tx_hash in dict.fromkeys(h for h in candidates if h):
            receipt = await self.rpc.call("eth_getTransactionReceipt", tx_hash)
            if receipt is not None and hex_int(receipt.get("status", "0x1")) == 1:
                return tx_hash, hex_int(receipt["blockNumber"])
        if self._commit_topic is None:
            return None
        head = hex_int(await self.rpc.call("eth_blockNumber"))
        logs = await self.rpc.call("eth_getLogs", {
            "address": self.address, "fromBlock": hex(max(0, head - LOG_LOOKBACK_BLOCKS + 1)),
            "toBlock": hex(head), "topics": [self._commit_topic, "0x" + task_id.hex()]})
        for log in logs or []:
            if not log.get("removed"):
                return str(log["transactionHash"]), hex_int(log["blockNumber"])
        return None


def _task_event_topic(abi: Sequence[dict[str, Any]], name: str) -> str | None:
    """topic0 of event ``name`` if its first input is an indexed bytes32 task id."""
    for item in abi:
        if item.get("type") == "event" and item.get("name") == name:
            inputs = item.get("inputs", [])
            if inputs and inputs[0].get("indexed") and inputs[0].get("type") == "bytes32":
                signature = f"{name}({','.join(_canonical(i) for i in inputs)})"
                return "0x" + bytes(keccak(text=signature)).hex()
    return None


class EngineCommitter(ProcessorReader):
    """Implements lcore_node.types.ResultCommitter with the run's TxEngine."""

    def __init__(
        self, engine: TxEngine, rpc: Rpc, address: str, abi: Sequence[dict[str, Any]],
        senders: Sequence[Wallet], gas_limit: int | None = None,
    ) -> None:
        if not senders:
            raise ValueError("EngineCommitter needs at least one sender")
        super().__init__(rpc, address, abi)
        self.engine = engine
        self.submit_fn = AbiFunction.find(abi, "submitResult")
        self._senders = itertools.cycle(senders)
        self.senders = list(senders)
        self.gas = GasModel(gas_limit, headroom=10_000)

    async def calibrate(self) -> None:
        """Fit the commit's gas to its payload size from two estimates (once, at set-up)."""

        def call_for(size: int) -> dict[str, Any]:
            data = self.submit_fn.encode_call(bytes(keccak(text=f"kcstress-calibration-{size}")),
                                              os.urandom(size), b"\x00" * 32)
            return {"from": self.senders[0].address, "to": self.address, "data": "0x" + data.hex()}

        await self.gas.calibrate(self.rpc, (64, 2048), call_for)

    def gas_for(self, size: int) -> int:
        return self.gas.gas_for(size)

    def funding_needs(self, commits: float, max_size: int = 4096) -> dict[str, int]:
        return self.gas.funding_needs(self.senders, commits, max_size, self.engine.fees.max_fee)

    async def commit(
        self, task_id: bytes, envelope: bytes, proof_hash: bytes, on_sent: Callable[[str], None]
    ) -> CommitOutcome:
        event = await self.engine.submit(TxRequest(
            workload=WORKLOAD, operation="submit_result", sender=next(self._senders),
            to=self.address, data=self.submit_fn.encode_call(task_id, envelope, proof_hash),
            gas=self.gas_for(len(envelope)), on_sent=on_sent,
        ))
        ok = event.outcome is Outcome.SUCCESS
        retryable = event.outcome in (Outcome.REJECTED, Outcome.DROPPED, Outcome.TIMEOUT)
        # kept in the database and the IoT events: an RPC error quotes the endpoint
        error = "" if ok else redact_text(f"{event.outcome}: {event.error}", [self.rpc.url])
        return CommitOutcome(ok, event.tx_hash, event.block_number, error, retryable)


@contextlib.asynccontextmanager
async def open_committer(
    settings: Settings, *, hub: StatsHub | None = None, db: Path | None = None
) -> AsyncIterator[EngineCommitter]:
    """A committer for ``python -m lcore_node serve``, from the run settings ``main.py``
    reads too: the chain at ``settings.rpc_url`` (PRIVATE_KEY funds the committer wallets;
    CHAIN_ID checked) or, without it, the embedded chain started for the node. The
    contract: the one database ``db`` records (see :mod:`lcore_node.binding`), else
    MVP_IOT_PROCESSOR_ADDRESS, else a fresh deployment."""
    from lcore_node.binding import bind, bound_processor
    from utils.chain.funding import top_up
    from utils.chain.processor import ensure_processor
    from utils.chain.session import open_session
    from utils.chain.wallets import WalletPool
    from utils.devchain.launch import launch_embedded

    hub = hub or StatsHub()
    async with contextlib.AsyncExitStack() as stack:
        session = await open_session(settings, hub, Clock(), stack, launch_embedded)
        if db is not None:
            processor = await bound_processor(session, settings, db)
        else:
            processor = await ensure_processor(session, settings)
        seed = settings.seed or 0
        wallets = WalletPool.derive(session.info.funder_key, seed,
                                    {"committer": settings.committers})
        committer = EngineCommitter(session.engine, session.rpc, processor.address,
                                    processor.abi, wallets.role("committer"),
                                    settings.default_gas_limit)
        await committer.calibrate()
        if db is not None:
            await bind(db, session.info.chain_id, processor, settings)
        commits = settings.iot_data_submission_rate * settings.funding_horizon + 100
        await top_up(session.engine, session.rpc, wallets.funder,
                     committer.funding_needs(commits))
        yield committer
