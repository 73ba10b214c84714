"""The Milestone 2 application, in process: what the Cartesi machine does with each input.

For each ``EvmAdvance`` (in input-index order) it checks every record its payload carries:
the device is registered, ``sha256(envelope)`` is the record's proof hash, the envelope
opens with the node's keys bound to (device id, record id) (AES-256-GCM + ChaCha20-Poly1305
associated data: an envelope moved to another device or record does not open), the
plaintext is sensor JSON, and a JWS token, when the device signed one, verifies with the
device's P-256 key and names this data. An accepted record is kept in the application's own
SQLite with its input index; each emits a notice, ``abi.encode(taskId, proofHash)`` (the
record's hash). A record refused, or a task id the application already holds (a duplicate
input), is kept as a rejection with its reason. :meth:`rollback` forgets every input from
an index on (a reorg replaced the blocks that held them).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from eth_abi import encode

from lcore_node.encryption import DualCipher
from lcore_node.errors import LcoreError
from lcore_node.inputbox_payload import EvmAdvance, PayloadRecord, decode_payload

__all__ = ["AppResult", "InputApp"]

DDL = """
CREATE TABLE IF NOT EXISTS app_inputs (
    input_index INTEGER PRIMARY KEY,
    block_number INTEGER NOT NULL,
    block_hash TEXT NOT NULL,
    msg_sender TEXT NOT NULL,
    records INTEGER NOT NULL,
    processed_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS app_records (
    task_id BLOB PRIMARY KEY,
    input_index INTEGER NOT NULL,
    record_id INTEGER NOT NULL,
    device_id TEXT NOT NULL,
    proof_hash BLOB NOT NULL,
    data_size INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS app_notices (
    input_index INTEGER NOT NULL,
    position INTEGER NOT NULL,
    payload BLOB NOT NULL,
    PRIMARY KEY (input_index, position)
);
CREATE TABLE IF NOT EXISTS app_rejections (
    input_index INTEGER NOT NULL,
    record_id INTEGER,
    reason TEXT NOT NULL
);
"""

#: a JWS device token's check: (token, device id, data) -> None, or raises with the reason
TokenCheck = Callable[[str, str, bytes], None]


@dataclass(frozen=True, slots=True)
class AppResult:
    input_index: int
    accepted: tuple[int, ...]  # record ids kept
    rejected: tuple[tuple[int | None, str], ...]  # (record id, reason)
    notices: int


class InputApp:
    """The application's state in its own SQLite file; one input at a time."""

    def __init__(
        self, db_path: Path, cipher: DualCipher, device_known: Callable[[str], bool],
        token_check: TokenCheck | None = None,
    ) -> None:
        self.db_path = db_path
        self._cipher = cipher
        self._known = device_known
        self._token_check = token_check
        self._conn: sqlite3.Connection | None = None

    def open(self) -> None:
        self._conn = sqlite3.connect(str(self.db_path), isolation_level=None,
                                     check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.executescript(DDL)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("the application is not open")
        return self._conn

    def next_index(self) -> int:
        (top,) = self.conn.execute("SELECT MAX(input_index) FROM app_inputs").fetchone()
        return 0 if top is None else int(top) + 1

    def block_hashes(self, from_index: int) -> dict[int, str]:
        """Input index -> hash of the block the application read it from."""
        return dict(self.conn.execute(
            "SELECT input_index, block_hash FROM app_inputs WHERE input_index >= ?",
            (from_index,)).fetchall())

    def inputs_from_block(self, block: int) -> dict[int, str]:
        """Input index -> block hash of the inputs read from block ``block`` on."""
        return dict(self.conn.execute(
            "SELECT input_index, block_hash FROM app_inputs WHERE block_number >= ?",
            (block,)).fetchall())

    def advance(self, advance: EvmAdvance, block_hash: str, now: float) -> AppResult:
        """Process one input (in one SQLite transaction)."""
        try:
            records = decode_payload(advance.payload)
        except Exception as exc:
            records, problem = [], f"not a records payload: {exc}"
        else:
            problem = ""
        accepted: list[int] = []
        rejected: list[tuple[int | None, str]] = [(None, problem)] if problem else []
        conn = self.conn
        conn.execute("BEGIN")
        try:
            conn.execute("INSERT INTO app_inputs VALUES (?, ?, ?, ?, ?, ?)",
                         (advance.index, advance.block_number, block_hash, advance.msg_sender,
                          len(records), now))
            for record in records:
                reason = self._refusal(record)
                if reason is None:
                    reason = self._keep(advance.index, record, len(accepted))
                if reason is None:
                    accepted.append(record.record_id)
                else:
                    rejected.append((record.record_id, reason))
            conn.executemany("INSERT INTO app_rejections VALUES (?, ?, ?)",
                             [(advance.index, rid, why) for rid, why in rejected])
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return AppResult(advance.index, tuple(accepted), tuple(rejected), len(accepted))

    def _refusal(self, record: PayloadRecord) -> str | None:
        """Why a record is refused (device, hash, envelope, data, token), or None."""
        if not self._known(record.device_id):
            return f"device {record.device_id!r} is not registered"
        if hashlib.sha256(record.envelope).digest() != record.proof_hash:
            return "sha256(envelope) is not the record's proof hash"
        try:
            plaintext = self._cipher.open(record.envelope, record.device_id, record.record_id)
        except LcoreError:
            return "the envelope does not open for this device and record"
        try:
            json.loads(plaintext)
        except ValueError:
            return "the data is not JSON"
        if record.auth and self._token_check is not None:
            try:
                self._token_check(record.auth, record.device_id, plaintext)
            except Exception as exc:
                return f"device token refused: {exc}"
        return None

    def _keep(self, index: int, record: PayloadRecord, position: int) -> str | None:
        try:
            self.conn.execute("INSERT INTO app_records VALUES (?, ?, ?, ?, ?, ?)",
                              (record.task_id, index, record.record_id, record.device_id,
                               record.proof_hash, len(record.envelope)))
        except sqlite3.IntegrityError:
            return "duplicate: the application holds this task id from an earlier input"
        notice = encode(["bytes32", "bytes32"], [record.task_id, record.proof_hash])
        self.conn.execute("INSERT INTO app_notices VALUES (?, ?, ?)", (index, position, notice))
        return None

    def rollback(self, from_index: int) -> int:
        """Forget inputs ``from_index`` on (their blocks were replaced); how many."""
        conn = self.conn
        conn.execute("BEGIN")
        count = conn.execute("DELETE FROM app_inputs WHERE input_index >= ?",
                             (from_index,)).rowcount
        for table in ("app_records", "app_notices", "app_rejections"):
            conn.execute(f"DELETE FROM {table} WHERE input_index >= ?", (from_index,))
        conn.execute("COMMIT")
        return int(count)
