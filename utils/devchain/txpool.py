"""Gapped-nonce queue of the dev chain: transactions that arrived ahead of their turn.

A pipelined sender using several HTTP connections cannot control the order in which its
transactions reach the node. Like geth's "queued" pool, a transaction whose nonce is ahead of
its sender's next nonce is held (bounded) and executed as soon as the gap is filled.
"""

from __future__ import annotations

from eth.abc import SignedTransactionAPI

from utils.devchain.txcheck import TxRefused

MAX_QUEUED = 16_384
MAX_NONCE_GAP = 1_024


class GappedQueue:
    """Per-sender future transactions, looked up by (sender, nonce) and by hash."""

    def __init__(self, max_queued: int = MAX_QUEUED, max_gap: int = MAX_NONCE_GAP) -> None:
        self._by_sender: dict[bytes, dict[int, SignedTransactionAPI]] = {}
        self._by_hash: dict[bytes, SignedTransactionAPI] = {}
        self._max_queued = max_queued
        self._max_gap = max_gap

    def __len__(self) -> int:
        return len(self._by_hash)

    def add(self, sender: bytes, tx: SignedTransactionAPI, next_nonce: int) -> None:
        """Hold ``tx`` (nonce > ``next_nonce``) or raise :class:`TxRefused`."""
        if tx.nonce - next_nonce > self._max_gap:
            raise TxRefused(
                f"nonce too high: next nonce {next_nonce}, tx nonce {tx.nonce} "
                f"(gap above {self._max_gap})"
            )
        queued = self._by_sender.setdefault(sender, {})
        if tx.nonce in queued:
            raise TxRefused("replacement transaction underpriced (queued nonce is taken)")
        if len(self._by_hash) >= self._max_queued:
            raise TxRefused("txpool is full")
        queued[tx.nonce] = tx
        self._by_hash[bytes(tx.hash)] = tx

    def get(self, tx_hash: bytes) -> SignedTransactionAPI | None:
        return self._by_hash.get(tx_hash)

    def pop(self, sender: bytes, nonce: int) -> SignedTransactionAPI | None:
        """Remove and return the queued transaction of ``sender`` with ``nonce``, if any."""
        queued = self._by_sender.get(sender)
        if not queued or nonce not in queued:
            return None
        tx = queued.pop(nonce)
        if not queued:
            del self._by_sender[sender]
        del self._by_hash[bytes(tx.hash)]
        return tx
