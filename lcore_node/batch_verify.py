"""Verifying a record committed in a batch: ciphertext hash -> leaf -> proof -> root on chain.

Everything is recomputed from the stored envelope: ``sha256(envelope)`` (not the stored proof
hash) makes the leaf, the stored proof leads it to a root, and the chain must hold that root
(``getBatch``) with the batch's size. A flipped byte anywhere (envelope, proof, index)
leads to another root, which the chain does not hold.
"""

from __future__ import annotations

import hashlib
import sqlite3
from dataclasses import dataclass
from typing import Any

from lcore_node.batch_chain import BatchReader
from lcore_node.merkle import leaf_hash, proof_root
from lcore_node.storage import Storage

__all__ = ["BatchPosition", "batch_position", "check_in_batch"]


@dataclass(frozen=True, slots=True)
class BatchPosition:
    batch_id: int
    leaf_index: int
    proof: bytes
    size: int
    root: bytes


async def batch_position(storage: Storage, record_id: int) -> BatchPosition | None:
    """Where a record sits in its batch; None for a record committed alone (or waiting)."""

    def query(conn: sqlite3.Connection) -> BatchPosition | None:
        row = conn.execute(
            "SELECT s.batch_id, s.leaf_index, s.merkle_proof, b.size, b.root"
            " FROM data_submissions s JOIN commit_batches b ON b.id = s.batch_id"
            " WHERE s.id = ?",
            (record_id,),
        ).fetchone()
        return None if row is None else BatchPosition(int(row[0]), int(row[1]), bytes(row[2]),
                                                      int(row[3]), bytes(row[4]))

    return await storage.read(query)


def batch_reader_for(reader: Any) -> BatchReader | None:
    """A :class:`BatchReader` on the same chain and contract as a result reader."""
    rpc, address = getattr(reader, "rpc", None), getattr(reader, "address", None)
    return None if rpc is None or address is None else BatchReader(rpc, address)


async def check_in_batch(
    reader: BatchReader, position: BatchPosition, task_id: bytes, envelope: bytes
) -> tuple[bool, bool, str]:
    """(on chain ok, missing on chain, error) for one batched record."""
    leaf = leaf_hash(task_id, hashlib.sha256(envelope).digest())
    root = proof_root(leaf, position.leaf_index, position.size, position.proof)
    if root is None:
        return False, False, "Merkle proof has the wrong length for its position"
    found = await reader.get_batch(root)
    if found is not None and found.size == position.size:
        return True, False, ""
    if root != position.root:
        return False, False, "ciphertext, leaf or proof does not lead to the batch's root"
    return False, True, "the batch root is not on chain"
