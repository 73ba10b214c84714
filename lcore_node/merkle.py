"""The Merkle tree of a batch commitment: leaves, root, proofs and their check.

Leaf of a record: ``keccak256(0x00 ‖ taskId ‖ proofHash)`` (``proofHash`` is the sha256 of
the stored ciphertext envelope); inner node: ``keccak256(0x01 ‖ left ‖ right)``. The prefix
bytes keep a leaf from ever passing as an inner node (second-preimage safe). A level with an
odd count carries its last node up unchanged, so a proof is the list of siblings met on the
way up, and which side each is on follows from the leaf index and the batch size.
"""

from __future__ import annotations

from collections.abc import Sequence

from eth_utils import keccak

__all__ = ["HASH_SIZE", "leaf_hash", "merkle_proof", "merkle_root", "proof_root", "tree_levels"]

HASH_SIZE = 32
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"


def leaf_hash(task_id: bytes, proof_hash: bytes) -> bytes:
    return keccak(LEAF_PREFIX + task_id + proof_hash)


def _parent(left: bytes, right: bytes) -> bytes:
    return keccak(NODE_PREFIX + left + right)


def tree_levels(leaves: Sequence[bytes]) -> list[list[bytes]]:
    """Every level of the tree, leaves first, the root's one-node level last."""
    if not leaves:
        raise ValueError("a Merkle tree needs at least one leaf")
    levels = [list(leaves)]
    while len(levels[-1]) > 1:
        below = levels[-1]
        above = [_parent(below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)]
        if len(below) % 2:
            above.append(below[-1])
        levels.append(above)
    return levels


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    return tree_levels(leaves)[-1][0]


def merkle_proof(levels: list[list[bytes]], index: int) -> bytes:
    """The siblings of leaf ``index``, bottom up, concatenated (32 bytes each)."""
    siblings = []
    for level in levels[:-1]:
        sibling = index ^ 1
        if sibling < len(level):
            siblings.append(level[sibling])
        index //= 2
    return b"".join(siblings)


def proof_root(leaf: bytes, index: int, size: int, proof: bytes) -> bytes | None:
    """The root that ``proof`` leads ``leaf`` (at ``index`` of ``size`` leaves) to; None when
    the proof has the wrong length for that position."""
    if not 0 <= index < size or len(proof) % HASH_SIZE:
        return None
    node, used, width = leaf, 0, size
    while width > 1:
        sibling = index ^ 1
        if sibling < width:
            if used + HASH_SIZE > len(proof):
                return None
            other = proof[used : used + HASH_SIZE]
            used += HASH_SIZE
            node = _parent(node, other) if index % 2 == 0 else _parent(other, node)
        index //= 2
        width = (width + 1) // 2
    return node if used == len(proof) else None
