"""Values the lcore node hands out, and the chain interface its outbox commits through."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Registered:
    device_id: str
    created: bool  # False: the device was already registered with this same key


@dataclass(frozen=True, slots=True)
class Accepted:
    """A submission stored (encrypted, committed to SQLite) and queued for the chain."""

    record_id: int
    device_id: str
    task_id: str  # 0x-hex, 32 bytes
    proof_hash: str  # 0x-hex sha256 of the envelope
    key_id: int
    data_size: int
    tx_hash: str | None = None  # known only once the outbox has sent the commitment


@dataclass(frozen=True, slots=True)
class StoredRecord:
    """A decrypted record with its commit state."""

    record_id: int
    device_id: str
    data: str
    submission_date: float
    task_id: str
    proof_hash: str
    key_id: int
    commit_status: str
    transaction_hash: str | None
    block_number: int | None
    attempts: int
    last_error: str | None


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """What ``verify`` found for one record. ``on_chain`` is None when not checked."""

    record_id: int
    decrypts: bool
    proof_matches: bool
    commit_status: str
    on_chain: bool | None = None
    error: str = ""
    missing_on_chain: bool = False  # committed here, but the chain has nothing under the task id

    @property
    def ok(self) -> bool:
        return self.decrypts and self.proof_matches and self.on_chain is not False


@dataclass(frozen=True, slots=True)
class CommitOutcome:
    """What became of one ``submitResult`` transaction."""

    ok: bool
    tx_hash: str
    block_number: int | None
    error: str = ""
    retryable: bool = False


@dataclass(frozen=True, slots=True)
class OnChainResult:
    """``getResult(taskId)`` of MVPIoTProcessor."""

    envelope: bytes
    proof_hash: bytes
    timestamp: int
    submitter: str


class ResultReader(Protocol):
    """Reads committed results back from the chain (``verify``)."""

    async def get_result(self, task_id: bytes) -> OnChainResult | None:
        """The result stored on chain under ``task_id``, or None if there is none."""
        ...


class ResultCommitter(ResultReader, Protocol):
    """The chain side of the outbox (implemented in ``lcore_node/chain.py``)."""

    async def commit(
        self,
        task_id: bytes,
        envelope: bytes,
        proof_hash: bytes,
        on_sent: Callable[[str], None],
    ) -> CommitOutcome:
        """Send ``submitResult``; call ``on_sent(tx_hash)`` once sent; wait for the outcome."""
        ...


class NodeApi(Protocol):
    """What device clients call: the in-process node and the HTTP client alike."""

    async def register_device(
        self, device_id: str, public_key_hex: str, device_type: str | None = None
    ) -> Registered: ...

    async def submit_data(
        self, device_id: str, data: str, timestamp: int, signature: str | None = None
    ) -> Accepted: ...

    async def status(self) -> dict[str, object]: ...
