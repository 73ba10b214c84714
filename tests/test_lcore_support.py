"""Helpers shared by the lcore node tests (no tests here).

``FlakyChain`` is a small test double of the *chain* (not of the outbox under
test): it keeps results by task id like MVPIoTProcessor, reverts a second
submit of a task id, and can be down (every call fails) or lose receipts
(the result is stored but the caller hears of a timeout).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from lcore_node.config import NodeConfig
from lcore_node.signing import signing_message
from lcore_node.types import CommitOutcome, OnChainResult


@dataclass
class DeviceKey:
    device_id: str
    private: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)

    @property
    def public_hex(self) -> str:
        return self.private.public_key().public_bytes_raw().hex()

    def sign(self, timestamp: int, data: str, device_id: str | None = None) -> str:
        message = signing_message(device_id or self.device_id, timestamp, data)
        return self.private.sign(message).hex()


def reading(n: int = 0, **extra: Any) -> str:
    return json.dumps({"seq": n, "temperature": 21.5 + n / 10, "humidity": 40, **extra})


def make_config(tmp_path: Path, **overrides: Any) -> NodeConfig:
    return NodeConfig(db_path=tmp_path / "lcore.db", key_dir=tmp_path / "keys", **overrides)


def count(db_path: Path, table: str = "data_submissions", where: str = "1") -> int:
    """Row count through a second, independent sqlite3 connection."""
    conn = sqlite3.connect(db_path)
    try:
        (n,) = conn.execute(f"SELECT COUNT(*) FROM {table} WHERE {where}").fetchone()
        return int(n)
    finally:
        conn.close()


def query(db_path: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(db_path)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def execute(db_path: Path, sql: str, params: tuple[Any, ...] = ()) -> None:
    conn = sqlite3.connect(db_path)
    try:
        with conn:
            conn.execute(sql, params)
    finally:
        conn.close()


async def wait_until(predicate: Callable[[], bool], within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


class ChainDown(ConnectionError):
    pass


class FlakyChain:
    """In-memory stand-in for the chain: results by task id, one block per inclusion."""

    def __init__(
        self, *, up: bool = True, lose_receipts: int = 0, failed_reads: int = 0, reject: str = ""
    ) -> None:
        self.up = up
        self.lose_receipts = lose_receipts
        self.failed_reads = failed_reads  # the next N get_result calls fail
        self.reject = reject  # non-empty: every commit is refused, not retryable
        self.results: dict[bytes, OnChainResult] = {}
        self.included: list[bytes] = []  # task ids, in inclusion order
        self.commit_calls = 0
        self.block = 100
        self.in_flight = 0
        self.max_in_flight = 0

    async def commit(
        self,
        task_id: bytes,
        envelope: bytes,
        proof_hash: bytes,
        on_sent: Callable[[str], None],
    ) -> CommitOutcome:
        self.commit_calls += 1
        if not self.up:
            raise ChainDown("connection refused")
        if self.reject:
            return CommitOutcome(False, "", None, self.reject, retryable=False)
        tx_hash = "0x" + hashlib.sha256(task_id + self.commit_calls.to_bytes(8, "big")).hexdigest()
        on_sent(tx_hash)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(0.005)  # waiting for the block
        finally:
            self.in_flight -= 1
        self.block += 1
        if task_id in self.results:
            return CommitOutcome(False, tx_hash, self.block, "reverted: task exists", False)
        self.results[task_id] = OnChainResult(envelope, proof_hash, int(time.time()), "0xnode")
        self.included.append(task_id)
        if self.lose_receipts > 0:
            self.lose_receipts -= 1
            raise TimeoutError("receipt not seen")
        return CommitOutcome(True, tx_hash, self.block)

    async def get_result(self, task_id: bytes) -> OnChainResult | None:
        if not self.up:
            raise ChainDown("connection refused")
        if self.failed_reads > 0:
            self.failed_reads -= 1
            raise ChainDown("eth_call failed")
        return self.results.get(task_id)


BIG_LIMIT = 1024  # max_data_bytes of the configs the refusal cases run against
_OTHER = DeviceKey("other-device")
_GHOST = DeviceKey("ghost-1")
_BIG = reading(pad="x" * 2 * BIG_LIMIT)

Case = tuple[Any, Any, Any, Any]  # device_id, data, timestamp, signature


@dataclass(frozen=True)
class Refusal:
    name: str
    error: str  # class name in lcore_node.errors
    status: int
    build: Callable[[DeviceKey, int], Case]


REFUSALS = [
    Refusal(
        "unknown_device",
        "NotFoundError",
        404,
        lambda k, now: ("ghost-1", reading(), now, _GHOST.sign(now, reading())),
    ),
    Refusal(
        "signed_by_other_key",
        "UnauthorizedError",
        401,
        lambda k, now: (k.device_id, reading(), now, _OTHER.sign(now, reading(), k.device_id)),
    ),
    Refusal(
        "signature_of_other_data",
        "UnauthorizedError",
        401,
        lambda k, now: (k.device_id, reading(1), now, k.sign(now, reading(2))),
    ),
    Refusal(
        "missing_signature",
        "UnauthorizedError",
        401,
        lambda k, now: (k.device_id, reading(), now, None),
    ),
    Refusal(
        "stale_past",
        "StaleError",
        401,
        lambda k, now: (k.device_id, reading(), now - 301, k.sign(now - 301, reading())),
    ),
    Refusal(
        "stale_future",
        "StaleError",
        401,
        lambda k, now: (k.device_id, reading(), now + 301, k.sign(now + 301, reading())),
    ),
    Refusal(
        "too_large",
        "TooLargeError",
        413,
        lambda k, now: (k.device_id, _BIG, now, k.sign(now, _BIG)),
    ),
    Refusal(
        "not_json",
        "InvalidError",
        422,
        lambda k, now: (k.device_id, "temp=21", now, k.sign(now, "temp=21")),
    ),
    Refusal(
        "json_not_object",
        "InvalidError",
        422,
        lambda k, now: (k.device_id, "[1, 2]", now, k.sign(now, "[1, 2]")),
    ),
    Refusal(
        "json_nan",
        "InvalidError",
        422,
        lambda k, now: (k.device_id, '{"t": NaN}', now, k.sign(now, '{"t": NaN}')),
    ),
    Refusal(
        "bad_device_id",
        "InvalidError",
        422,
        lambda k, now: ("bad id!", reading(), now, k.sign(now, reading(), "bad id!")),
    ),
    Refusal(
        "timestamp_not_int",
        "InvalidError",
        422,
        lambda k, now: (k.device_id, reading(), str(now), k.sign(now, reading())),
    ),
    Refusal(
        "signature_not_hex",
        "InvalidError",
        422,
        lambda k, now: (k.device_id, reading(), now, "zz" * 64),
    ),
    Refusal(
        "data_not_string",
        "InvalidError",
        422,
        lambda k, now: (k.device_id, {"t": 1}, now, k.sign(now, '{"t": 1}')),
    ),
]
