"""Verifying a record committed through the InputBox, and the application's database.

A record's input (its index kept by the outbox, else found by its payload bytes) must be on
chain: ``getInputHash(app, index)`` equals ``keccak256`` of the ``InputAdded`` log's input
at that index, which is the hash the node kept; that input's payload is the node's stored
payload bytes; and the payload carries this record's task id, envelope and proof hash. The
application's database (``cartesi_app.db`` beside the node's) must hold every committed
record of the node, from the same input, with the same proof hash.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from eth_utils import keccak

from lcore_node.inputbox_chain import InputBoxReader
from lcore_node.inputbox_payload import decode_payload
from lcore_node.inputbox_store import InputPosition
from lcore_node.storage import SubmissionRow

__all__ = ["APP_DB_NAME", "check_app_db", "check_in_input"]

APP_DB_NAME = "cartesi_app.db"


async def check_in_input(
    reader: InputBoxReader, position: InputPosition, row: SubmissionRow
) -> tuple[bool, bool, str]:
    """(on chain ok, missing on chain, error) for one record committed in an input."""
    carried = [r for r in decode_payload(position.payload) if r.record_id == row.record_id]
    if not carried or carried[0].task_id != row.task_id or carried[0].envelope != row.envelope \
            or carried[0].proof_hash != row.proof_hash:
        return False, False, "the stored input payload does not carry this record as stored"
    index = position.index
    if index is None:
        found = await reader.find_payload(position.payload)
        if found is None:
            return False, True, "no input of the application carries the record's payload"
        index = found.index
    on_chain = await reader.input_hash(index)
    if on_chain is None:
        return False, True, f"the application has no input {index}"
    added = await reader.input_log(index, position.block_number)
    if added is None or keccak(added.input) != on_chain:
        return False, False, f"getInputHash({index}) is not keccak of input {index}'s log"
    if position.input_hash is not None and position.input_hash != on_chain:
        return False, False, f"getInputHash({index}) is not the hash the node kept"
    if added.advance.payload != position.payload:
        return False, False, f"input {index} carries another payload"
    return True, False, ""


def check_app_db(node_db: Path, app_db: Path) -> tuple[int, list[str]]:
    """(records compared, problems): every committed record of the node is in the
    application's database from the same input index with the same proof hash."""
    problems: list[str] = []
    with sqlite3.connect(f"file:{node_db}?mode=ro", uri=True) as node, \
            sqlite3.connect(f"file:{app_db}?mode=ro", uri=True) as app:
        kept = {bytes(t): (int(i), bytes(p)) for t, i, p in app.execute(
            "SELECT task_id, input_index, proof_hash FROM app_records")}
        rows = node.execute(
            "SELECT s.id, s.task_id, s.proof_hash, i.input_index FROM data_submissions s"
            " JOIN inputbox_inputs i ON i.id = s.input_id WHERE s.commit_status = 'committed'"
        ).fetchall()
    for record_id, task_id, proof_hash, index in rows:
        found = kept.get(bytes(task_id))
        if found is None:
            problems.append(f"record {record_id}: not in the application's database")
        elif found[1] != bytes(proof_hash):
            problems.append(f"record {record_id}: the application holds another proof hash")
        elif index is not None and found[0] != index:
            problems.append(f"record {record_id}: the application read it from input "
                            f"{found[0]}, the node committed it in input {index}")
    return len(rows), problems
