"""InputBox inputs in SQLite: the inputbox mode's units, and how waiting records form one.

An input is formed in one writer job (one SQLite transaction): the oldest pending records
that belong to no input (up to ``max_records``, and no more than fit in Cartesi's 64 KiB
encoded input) get an input id, and an ``inputbox_inputs`` row holds the exact payload
bytes ``addInput`` will carry (so a re-send after a crash sends the same bytes, and the
chain can be searched for them). From then on the input is the unit: its status moves
through :class:`lcore_node.outbox_store.UnitStore`'s transitions, which move its records.
Once on chain, :func:`set_position` keeps its index in the application's input box and
``keccak256`` of the input (what ``InputBox.getInputHash`` returns).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eth_utils import keccak

from lcore_node.inputbox_payload import (
    INPUT_MAX_SIZE,
    PayloadRecord,
    encode_payload,
    input_size,
    record_size,
)
from lcore_node.outbox_store import Unit, UnitTable, load_units
from lcore_node.storage import Storage

__all__ = ["INPUTS", "InputPayload", "InputPosition", "form_input", "input_position",
           "payload_record", "set_position"]

JWS_DOTS = 2  # a compact JWS is header.payload.signature


@dataclass(frozen=True, slots=True)
class InputPayload:
    payload: bytes
    size: int  # records


@dataclass(frozen=True, slots=True)
class InputPosition:
    input_id: int
    index: int | None
    input_hash: bytes | None
    payload: bytes
    block_number: int | None


def _payload(row: Sequence[Any]) -> InputPayload:
    return InputPayload(bytes(row[0]), int(row[1]))


INPUTS = UnitTable("inputbox_inputs", "status", "input_id", "payload, size", _payload)

_WAITING = "commit_status = 'pending' AND input_id IS NULL AND batch_id IS NULL"


def payload_record(row: Sequence[Any]) -> PayloadRecord:
    """A record of a payload from (id, device_id, task_id, data, proof_hash, signature)."""
    record_id, device_id, task_id, data, proof_hash, signature = row
    auth = signature if isinstance(signature, str) and signature.count(".") == JWS_DOTS else ""
    return PayloadRecord(device_id, int(record_id), bytes(task_id), bytes(data),
                         bytes(proof_hash), auth)


def _fitting(records: list[PayloadRecord]) -> list[PayloadRecord]:
    """The longest prefix whose input stays within INPUT_MAX_SIZE (at least one record:
    intake refuses a record that alone would not fit)."""
    size = 2 * 32
    for count, record in enumerate(records):
        size += record_size(record)
        if count and input_size(size) > INPUT_MAX_SIZE:
            return records[:count]
    return records


async def form_input(
    storage: Storage, max_records: int, max_wait: float, now: float
) -> tuple[Unit[InputPayload] | None, float | None]:
    """Put up to ``max_records`` waiting records in a new input when there are that many (or
    as many as fit in one) or the oldest has waited ``max_wait`` seconds; else (None, when
    the oldest will have waited that long, or None if no record waits)."""

    def job(conn: sqlite3.Connection) -> tuple[Unit[InputPayload] | None, float | None]:
        rows = conn.execute(
            "SELECT id, device_id, task_id, data, proof_hash, signature, submission_date"
            f" FROM data_submissions WHERE {_WAITING} ORDER BY id LIMIT ?", (max_records,),
        ).fetchall()
        if not rows:
            return None, None
        records = _fitting([payload_record(row[:6]) for row in rows])
        full = len(records) < len(rows) or len(records) >= max_records
        if not full and rows[0][6] > now - max_wait:
            return None, rows[0][6] + max_wait
        payload = encode_payload(records)
        cursor = conn.execute(
            "INSERT INTO inputbox_inputs (payload, payload_hash, size, status, created_at)"
            " VALUES (?, ?, ?, 'pending', ?)", (payload, keccak(payload), len(records), now),
        )
        input_id = int(cursor.lastrowid or 0)
        conn.executemany("UPDATE data_submissions SET input_id = ? WHERE id = ?",
                         [(input_id, r.record_id) for r in records])
        return load_units(conn, INPUTS, [(input_id, 0, None, payload, len(records))])[0], None

    return await storage.writer.call(job)


async def set_position(
    storage: Storage, input_id: int, index: int, input_hash: bytes, now: float
) -> None:
    """The input's index in the application's input box and its hash, once on chain (seen
    by the node at ``now``, the first time)."""
    await storage.writer.write(
        "UPDATE inputbox_inputs SET input_index = ?, input_hash = ?,"
        " committed_at = COALESCE(committed_at, ?) WHERE id = ?",
        (index, input_hash, now, input_id))


async def input_position(storage: Storage, record_id: int) -> InputPosition | None:
    """The input that carries a record (None: committed another way, or not formed yet)."""

    def query(conn: sqlite3.Connection) -> InputPosition | None:
        row = conn.execute(
            "SELECT i.id, i.input_index, i.input_hash, i.payload, i.block_number"
            " FROM data_submissions s JOIN inputbox_inputs i ON i.id = s.input_id"
            " WHERE s.id = ?", (record_id,),
        ).fetchone()
        if row is None:
            return None
        return InputPosition(int(row[0]), None if row[1] is None else int(row[1]),
                             None if row[2] is None else bytes(row[2]), bytes(row[3]),
                             None if row[4] is None else int(row[4]))

    return await storage.read(query)
