"""SQLite schema and connection set-up of the lcore node.

``devices`` and ``data_submissions`` keep the column names of the original
lcore node (id, device_id, data, submission_date, transaction_hash, ...) and
add what the outbox needs. Dates are unix seconds (REAL). ``data`` is the
encrypted envelope, never plaintext.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

STATUSES = ("pending", "submitted", "committed", "failed")

DDL = """
CREATE TABLE IF NOT EXISTS node_meta (
    key TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS devices (
    id TEXT PRIMARY KEY,
    public_key TEXT NOT NULL,
    registration_date REAL NOT NULL,
    device_type TEXT
);
CREATE TABLE IF NOT EXISTS data_submissions (
    id INTEGER PRIMARY KEY,
    device_id TEXT NOT NULL REFERENCES devices(id),
    data BLOB NOT NULL,
    submission_date REAL NOT NULL,
    transaction_hash TEXT,
    task_id BLOB NOT NULL UNIQUE,
    proof_hash BLOB NOT NULL,
    key_id INTEGER NOT NULL,
    commit_status TEXT NOT NULL DEFAULT 'pending'
        CHECK (commit_status IN ('pending', 'submitted', 'committed', 'failed')),
    block_number INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    next_attempt_at REAL NOT NULL DEFAULT 0,
    signature TEXT UNIQUE,
    data_size INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS commit_batches (
    id INTEGER PRIMARY KEY,
    root BLOB NOT NULL UNIQUE,
    size INTEGER NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'submitted', 'committed', 'failed')),
    created_at REAL NOT NULL,
    transaction_hash TEXT,
    block_number INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    next_attempt_at REAL NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS inputbox_inputs (
    id INTEGER PRIMARY KEY,
    payload BLOB NOT NULL,
    payload_hash BLOB NOT NULL UNIQUE,
    size INTEGER NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'submitted', 'committed', 'failed')),
    created_at REAL NOT NULL,
    transaction_hash TEXT,
    block_number INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    next_attempt_at REAL NOT NULL DEFAULT 0,
    input_index INTEGER,
    input_hash BLOB
);
"""

#: columns added after the first schema (batch commitments): added to an older database
ADDED_COLUMNS = {
    "data_submissions": (
        ("batch_id", "INTEGER REFERENCES commit_batches(id)"),  # NULL: committed alone
        ("leaf_index", "INTEGER"),  # position of the record's leaf in its batch
        ("merkle_proof", "BLOB"),  # sibling hashes, 32 bytes each, leaf level first
        ("input_id", "INTEGER REFERENCES inputbox_inputs(id)"),  # its InputBox input
    ),
    "inputbox_inputs": (
        ("committed_at", "REAL"),  # when the node saw it on chain (its addInput's receipt)
    ),
}

INDEXES = """
CREATE INDEX IF NOT EXISTS data_submissions_due
    ON data_submissions (commit_status, next_attempt_at);
CREATE INDEX IF NOT EXISTS data_submissions_batch ON data_submissions (batch_id);
CREATE INDEX IF NOT EXISTS commit_batches_due ON commit_batches (status, next_attempt_at);
CREATE INDEX IF NOT EXISTS data_submissions_input ON data_submissions (input_id);
CREATE INDEX IF NOT EXISTS inputbox_inputs_due ON inputbox_inputs (status, next_attempt_at);
"""

INSERT_SUBMISSION = (
    "INSERT INTO data_submissions (id, device_id, data, submission_date, task_id, proof_hash,"
    " key_id, commit_status, next_attempt_at, signature, data_size)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?)"
)

SUBMISSION_COLUMNS = (
    "id, device_id, data, submission_date, task_id, proof_hash, key_id, commit_status,"
    " transaction_hash, block_number, attempts, last_error"
)


def connect(path: Path, *, check_same_thread: bool = True) -> sqlite3.Connection:
    """A connection in autocommit mode (explicit BEGIN/COMMIT) with the node's pragmas."""
    conn = sqlite3.connect(
        str(path), isolation_level=None, check_same_thread=check_same_thread, timeout=10.0
    )
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


REQUIRED_COLUMNS = {
    "devices": {"id", "public_key", "registration_date", "device_type"},
    "data_submissions": {
        "id", "device_id", "data", "submission_date", "transaction_hash", "task_id",
        "proof_hash", "key_id", "commit_status", "block_number", "attempts", "last_error",
        "next_attempt_at", "signature", "data_size",
    },
}  # fmt: skip


def create_schema(conn: sqlite3.Connection) -> None:
    """Create the tables if absent; refuse a database whose tables lack columns we need."""
    conn.executescript(DDL)
    for table, needed in REQUIRED_COLUMNS.items():
        present = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        missing = needed - present
        if missing:
            raise sqlite3.DatabaseError(
                f"table {table} lacks columns {sorted(missing)} (a database of another version)"
            )
    for table, columns in ADDED_COLUMNS.items():
        present = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        for name, decl in columns:
            if name not in present:
                conn.execute(f"ALTER TABLE {table} ADD COLUMN {name} {decl}")
    conn.executescript(INDEXES)
