"""Reference counts of trie nodes in the chain's key-value store (used by
:mod:`utils.devchain.pruning`): a node is counted once per distinct parent node and once per
retained root that is it, the way geth's in-memory trie database counts them; account leaves
reference their storage trie and code. A node whose count reaches zero is deleted with its
children."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

import rlp
from eth_hash.auto import keccak

BLANK_ROOT = keccak(rlp.encode(b""))
EMPTY_CODE_HASH = keccak(b"")
ACCOUNTS, STORAGE, PLAIN, CODE = "accounts", "storage", "plain", "code"


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
