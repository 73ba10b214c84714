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

from utils.devchain.kvstore import DiskKV, DiskStore
from utils.devchain.retention import Retention
from utils.devchain.trie_refs import ACCOUNTS, PLAIN, TrieRefs, children

__all__ = ["ACCOUNTS", "ChainPruner", "PrunedError", "children"]

logger = logging.getLogger(__name__)


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

    def encode(self) -> bytes:
        return bytes(rlp.encode([self.number, self.block_hash, self.state_root,
                                 list(self.block_roots), list(self.tx_hashes)]))

    @classmethod
    def decode(cls, raw: bytes) -> _Kept:
        number, block_hash, state_root, roots, hashes = rlp.decode(raw)
        return cls(int.from_bytes(number, "big"), bytes(block_hash), bytes(state_root),
                   tuple(bytes(r) for r in roots), tuple(bytes(h) for h in hashes))


# the window rows of a durable store (its ``window`` table): b"s"/b"h" + the block number
STATE_ROW, HISTORY_ROW = b"s", b"h"


def _row(kind: bytes, number: int) -> bytes:
    return kind + number.to_bytes(8, "big")


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
        if disk is not None and self._restore(disk.window):
            return
        head = int(chain.get_canonical_head().block_number)
        for number in range(head + 1):
            self.on_sealed(chain.get_canonical_block_by_number(number))

    def _restore(self, rows: MutableMapping[bytes, bytes]) -> bool:
        """Re-open the windows a durable store recorded (its counts are in ``refs``); False
        when it recorded none (a new store)."""
        for key in sorted(rows):
            kept = _Kept.decode(rows[key])
            (self._states if key[:1] == STATE_ROW else self._history).append(kept)
        return bool(self._states)

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
        rows = self.disk.window if self.disk is not None else None
        if rows is not None:
            rows[_row(STATE_ROW, kept.number)] = kept.encode()
        if kept.number > 0:  # genesis history is never pruned
            self._history.append(kept)
            if rows is not None:
                rows[_row(HISTORY_ROW, kept.number)] = kept.encode()
        self._prune(kept.number)

    def _prune(self, head: int) -> None:
        keep_states, keep_history = self.retention.state_blocks, self.retention.history_blocks
        rows = self.disk.window if self.disk is not None else {}
        while keep_states and self._states and self._states[0].number <= head - keep_states:
            gone = self._states.popleft()
            rows.pop(_row(STATE_ROW, gone.number), None)
            self.deleted += self.refs.release(gone.state_root, ACCOUNTS)
        while keep_history and self._history and self._history[0].number <= head - keep_history:
            gone = self._history.popleft()
            rows.pop(_row(HISTORY_ROW, gone.number), None)
            self._forget_block(gone)

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
