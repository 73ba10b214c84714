"""Bounded history and state for the embedded chain, kept as a pruning node keeps them.

py-evm writes every block into one key-value store (an ``AtomicDB`` over a
``MemoryDB``, whose dict :mod:`utils.devchain.kvstore` replaces by SQLite) and never deletes:
each block adds its header, transaction and receipt tries, transaction look-ups and the trie
nodes its state changes rewrote, so the chain process grew without bound (measured: 150
entries, 25.7 kB of keys and values per block of 25 transfers).

:class:`ChainPruner` keeps

* the *history* of the last ``history_blocks`` blocks (header, score, canonical number, body
  and receipt tries, transaction look-ups; the genesis block is always kept), and
* the *state* of the last ``state_blocks`` blocks,

and deletes the rest after each sealed block. State and block tries share nodes (a node's key
is its hash), so trie nodes are reference-counted the way geth's in-memory trie database does:
a node is counted once per distinct parent node and once per retained root that is it; a new
block's nodes are found by walking its roots down to nodes already counted, and when a root
leaves the window its count drops and nodes reaching zero are deleted with their children.
Account leaves reference their storage trie and code. 0 for a window keeps everything.

A query outside the window raises :class:`PrunedError` (answered like geth: 4444 "pruned
history unavailable" for blocks and logs, "missing trie node" for state).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any

import rlp
from eth.db.schema import SchemaV1
from eth_hash.auto import keccak

from utils.devchain.kvstore import DiskKV, DiskStore
from utils.devchain.retention import Retention

logger = logging.getLogger(__name__)

BLANK_ROOT = keccak(rlp.encode(b""))
EMPTY_CODE_HASH = keccak(b"")
ACCOUNTS, STORAGE, PLAIN, CODE = "accounts", "storage", "plain", "code"


class PrunedError(LookupError):
    """The block's history or state is no longer kept (``kind`` is "history" or "state")."""

    def __init__(self, kind: str, number: int, oldest: int) -> None:
        what = "history" if kind == "history" else "state"
        super().__init__(f"{what} of block {number} is pruned (oldest kept: block {oldest})")
        self.kind = kind
        self.number = number
        self.oldest = oldest


@dataclass(frozen=True)
class _Kept:
    """What a retained block owns in the store."""

    number: int
    block_hash: bytes
    state_root: bytes
    block_roots: tuple[bytes, ...]
    tx_hashes: tuple[bytes, ...]


def _refs_of(item: Any, kind: str, out: list[tuple[bytes, str]]) -> None:
    if isinstance(item, list):
        _node_refs(item, kind, out)  # a node under 32 bytes is inlined in its parent
    elif len(item) == 32:
        out.append((bytes(item), kind))


def _node_refs(node: list[Any], kind: str, out: list[tuple[bytes, str]]) -> None:
    if len(node) == 17:
        for item in node[:16]:
            _refs_of(item, kind, out)
    elif len(node) == 2 and node[0]:
        if node[0][0] >> 4 >= 2:  # leaf: in the account trie its value is an account
            if kind == ACCOUNTS:
                _nonce, _balance, storage_root, code_hash = rlp.decode(node[1])
                if storage_root != BLANK_ROOT:
                    out.append((bytes(storage_root), STORAGE))
                if code_hash != EMPTY_CODE_HASH:
                    out.append((bytes(code_hash), CODE))
        else:
            _refs_of(node[1], kind, out)


def children(value: bytes, kind: str) -> list[tuple[bytes, str]]:
    """Keys (with their kind) that the stored node ``value`` references."""
    if kind == CODE:
        return []
    out: list[tuple[bytes, str]] = []
    _node_refs(rlp.decode(value), kind, out)
    return out


class TrieRefs:
    """Reference counts of the trie nodes (and code) in a key-value store (a dict, or the
    disk store's tables: ``utils.devchain.kvstore``)."""

    def __init__(
        self, store: MutableMapping[bytes, bytes], counts: MutableMapping[bytes, int] | None = None
    ) -> None:
        self.store = store
        self.counts: MutableMapping[bytes, int] = {} if counts is None else counts

    def retain(self, root: bytes, kind: str) -> None:
        if root == BLANK_ROOT:
            return
        counts = self.counts
        if root not in counts:
            counts[root] = 0
            todo = [(root, kind)]
            while todo:
                key, key_kind = todo.pop()
                for child, child_kind in children(self.store[key], key_kind):
                    if child not in counts:
                        counts[child] = 0
                        todo.append((child, child_kind))
                    counts[child] += 1
        counts[root] += 1

    def release(self, root: bytes, kind: str) -> int:
        """Drop one reference to ``root``; return how many entries were deleted."""
        if root == BLANK_ROOT:
            return 0
        deleted, todo = 0, [(root, kind)]
        while todo:
            key, key_kind = todo.pop()
            left = self.counts[key] - 1
            if left > 0:
                self.counts[key] = left
                continue
            del self.counts[key]
            value = self.store.pop(key, None)
            if value is not None:
                deleted += 1
                todo.extend(children(value, key_kind))
        return deleted


class ChainPruner:
    """Retains a window of blocks in a py-evm chain's store; see the module doc."""

    def __init__(self, chain: Any, retention: Retention, disk: DiskStore | None = None) -> None:
        self.chain = chain
        self.retention = retention
        self.disk = disk  # when the store is on disk, the counts are too (its ``refs`` table)
        self.store: MutableMapping[bytes, bytes] = chain.chaindb.db.wrapped_db.kv_store
        self.refs = TrieRefs(self.store, disk.refs if disk is not None else None)
        self._history: deque[_Kept] = deque()
        self._states: deque[_Kept] = deque()
        self.deleted = 0
        head = int(chain.get_canonical_head().block_number)
        for number in range(head + 1):
            self.on_sealed(chain.get_canonical_block_by_number(number))

    @property
    def head(self) -> int:
        return self._history[-1].number if self._history else 0

    @property
    def oldest_block(self) -> int:
        """Oldest block (besides genesis) whose history is kept."""
        return self._history[0].number if self._history else 0

    @property
    def oldest_state(self) -> int:
        return self._states[0].number if self._states else 0

    def check_block(self, number: int) -> None:
        if 0 < number < self.oldest_block:
            raise PrunedError("history", number, self.oldest_block)

    def check_state(self, number: int) -> None:
        if number < self.oldest_state:
            raise PrunedError("state", number, self.oldest_state)

    def on_sealed(self, block: Any) -> None:
        """Count a newly persisted block's roots, then drop what left the windows."""
        header = block.header
        roots = [header.transaction_root, header.receipt_root]
        withdrawals_root = getattr(header, "withdrawals_root", None)
        if withdrawals_root is not None:
            roots.append(withdrawals_root)
        kept = _Kept(
            int(header.block_number), bytes(header.hash), bytes(header.state_root),
            tuple(bytes(r) for r in roots), tuple(bytes(tx.hash) for tx in block.transactions),
        )  # fmt: skip
        self.refs.retain(kept.state_root, ACCOUNTS)
        for root in kept.block_roots:
            self.refs.retain(root, PLAIN)
        self._states.append(kept)
        if kept.number > 0:  # genesis history is never pruned
            self._history.append(kept)
        self._prune(kept.number)

    def _prune(self, head: int) -> None:
        keep_states, keep_history = self.retention.state_blocks, self.retention.history_blocks
        while keep_states and self._states and self._states[0].number <= head - keep_states:
            self.deleted += self.refs.release(self._states.popleft().state_root, ACCOUNTS)
        while keep_history and self._history and self._history[0].number <= head - keep_history:
            self._forget_block(self._history.popleft())

    def _forget_block(self, kept: _Kept) -> None:
        for root in kept.block_roots:
            self.deleted += self.refs.release(root, PLAIN)
        keys = [
            kept.block_hash,
            SchemaV1.make_block_hash_to_score_lookup_key(kept.block_hash),  # type: ignore[arg-type]
            SchemaV1.make_block_number_to_hash_lookup_key(kept.number),  # type: ignore[arg-type]
            *(SchemaV1.make_transaction_hash_to_block_lookup_key(h) for h in kept.tx_hashes),  # type: ignore[arg-type]
        ]
        for key in keys:
            if self.store.pop(key, None) is not None:
                self.deleted += 1

    def stats(self) -> dict[str, int]:
        """Sizes for ``kcdev_chainStats`` (walks the store: O(entries))."""
        return {
            "headBlock": self.head,
            "oldestBlock": self.oldest_block,
            "oldestState": self.oldest_state,
            "historyBlocks": self.retention.history_blocks,
            "stateBlocks": self.retention.state_blocks,
            "dbEntries": len(self.store),
            "dbBytes": _stored_bytes(self.store),
            "trieNodes": len(self.refs.counts),
            "prunedEntries": self.deleted,
            **(self.disk.stats() if self.disk is not None else {}),
        }


def _stored_bytes(store: MutableMapping[bytes, bytes]) -> int:
    if isinstance(store, DiskKV):
        return store.stored_bytes()
    return sum(len(k) + len(v) for k, v in store.items())
