"""Core of the embedded dev chain: py-evm state (built as eth-tester builds it), our own block
production.

Why the blocks are not produced by eth-tester itself (measured on the 2-core dev machine):

* ``EthereumTester`` with auto-mine on seals one block per transaction: about 300 transfers/s.
* With auto-mine off, ``EthereumTester.send_raw_transaction`` executes the transaction on a
  snapshot and reverts it, so a second transaction of the same sender before the next block is
  refused ("Invalid transaction nonce: Expected 0, but got 1"): a pipelined sender gets one
  transaction per block. Unusable for interval mining.
* py-evm's incremental ``MiningChain.apply_transaction`` rebuilds the transaction and receipt
  tries of the whole open block on every transaction (quadratic): about 115 transfers/s.

:class:`DevNode` therefore keeps one open block: each raw transaction is validated (nonce,
funds, fees, chain id), executed once on the open block's VM state, and the block is sealed
(tries built once) by :meth:`DevNode.seal`, on a timer or right after each transaction.
A transaction with a future nonce is held, like geth's "queued" pool (bounded: see
``utils.devchain.txpool``), and executed once the gap is filled; it is refused with "nonce too
high" only when it is more than 1024 nonces ahead or the queue is full.
"""

from __future__ import annotations

import logging
import os
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import rlp
from eth.abc import (
    BlockAPI,
    BlockHeaderAPI,
    ReceiptAPI,
    SignedTransactionAPI,
    StateAPI,
    VirtualMachineAPI,
)
from eth.exceptions import HeaderNotFound, TransactionNotFound
from eth_typing import Address
from eth_utils import ValidationError

from utils.devchain.kvstore import DiskStore
from utils.devchain.nitro.l1pricing import L1Pricing
from utils.devchain.nitro.vm import signed_bytes
from utils.devchain.pruning import ChainPruner
from utils.devchain.retention import Retention
from utils.devchain.txcheck import TxRefused, check_state, check_static, decode_raw_transaction
from utils.devchain.txpool import GappedQueue

logger = logging.getLogger(__name__)


class BlockNotFoundError(LookupError):
    """No canonical block with that number or hash."""


@dataclass(frozen=True)
class SealedBlock:
    """A mined block with its receipts and the block-wide index of each receipt's first log."""

    block: BlockAPI
    receipts: tuple[ReceiptAPI, ...]
    log_offsets: tuple[int, ...]

    @classmethod
    def build(cls, block: BlockAPI, receipts: tuple[ReceiptAPI, ...]) -> SealedBlock:
        offsets, total = [], 0
        for receipt in receipts:
            offsets.append(total)
            total += len(receipt.logs)
        return cls(block, receipts, tuple(offsets))

    @cached_property
    def size(self) -> int:
        """RLP size of the block in bytes (the ``size`` field of a block object)."""
        return len(rlp.encode(self.block))


@dataclass
class PendingBlock:
    """The open block: transactions already executed on ``vm``'s state, not yet sealed."""

    vm: VirtualMachineAPI
    header: BlockHeaderAPI
    txs: list[SignedTransactionAPI] = field(default_factory=list)
    receipts: list[ReceiptAPI] = field(default_factory=list)
    index: dict[bytes, int] = field(default_factory=dict)


@dataclass(frozen=True)
class TxLocation:
    """Where a transaction is: in a sealed block, or (``block is None``) in the open block."""

    tx: SignedTransactionAPI
    index: int
    block: SealedBlock | None


class DevNode:
    """Chain state, the open block, sealing and look-ups. Single-threaded: one caller at a time."""

    def __init__(
        self,
        chain: Any,
        *,
        cached_blocks: int = 256,
        nitro: L1Pricing | None = None,
        retention: Retention | None = None,
        store: DiskStore | None = None,
    ) -> None:
        self.nitro = nitro  # the L1 pricing its VMs charge with (utils.devchain.nitro)
        self.chain: Any = chain  # a py-evm MiningChain (utils.devchain.genesis.build_chain)
        self.chain_id: int = self.chain.chain_id
        self.accepting = True
        self._builder = self.chain.get_vm().get_transaction_builder()
        self._pending: PendingBlock | None = None
        self._queue = GappedQueue()
        self._cache: OrderedDict[int, SealedBlock] = OrderedDict()
        self._cache_size = cached_blocks
        self._head_state: tuple[bytes, StateAPI] | None = None
        retention = retention or Retention(0, 0, 0)  # none given: an archive, all in memory
        self.store = self._disk_store(retention.state_cache_mb, store)
        # a durable store (a data dir) always keeps its reference counts: a later start may prune
        keeps_all = retention.keeps_all and store is None
        self.pruner = None if keeps_all else ChainPruner(self.chain, retention, self.store)

    def _disk_store(self, cache_mb: float, store: DiskStore | None) -> DiskStore | None:
        """Move py-evm's store from its dict to SQLite (``store``, else a scratch one behind a
        ``cache_mb`` cache; 0: keep it in memory). A re-opened chain is already on ``store``."""
        if store is None:
            if not cache_mb:
                return None
            store = DiskStore(cache_mb)
        memory_db = self.chain.chaindb.db.wrapped_db
        if memory_db.kv_store is not store.kv:
            memory_db.kv_store = store.adopt(memory_db.kv_store)
        return store

    # -- transactions -------------------------------------------------------------------------
    def send_raw(self, raw: bytes) -> bytes:
        """Validate a signed transaction and execute it in the open block (or queue it if its
        nonce is ahead); return its hash. Raise :class:`TxRefused` with geth's wording."""
        if not self.accepting:
            raise TxRefused("node is not accepting transactions")
        tx = decode_raw_transaction(self._builder, raw)
        sender = check_static(tx, self.chain_id)
        pending = self._open()
        if tx.hash in pending.index or self._queue.get(tx.hash) is not None:
            raise TxRefused("already known")
        expected = pending.vm.state.get_nonce(Address(sender))
        if tx.nonce < expected:
            raise TxRefused(f"nonce too low: next nonce {expected}, tx nonce {tx.nonce}")
        if tx.nonce > expected:
            self._queue.add(sender, tx, expected)
            return bytes(tx.hash)
        self._execute(tx)
        self._promote(sender, expected + 1)
        return bytes(tx.hash)

    def _execute(self, tx: SignedTransactionAPI) -> None:
        pending = self._open()
        if tx.gas > pending.header.gas_limit - pending.header.gas_used and pending.txs:
            self.seal()
            pending = self._open()
        check_state(pending.vm.state, pending.header, tx)
        self._check_poster_gas(pending.header, tx)
        try:
            receipt, _computation = pending.vm.apply_transaction(pending.header, tx)
        except ValidationError as exc:
            raise TxRefused(str(exc)) from exc
        header = pending.vm.add_receipt_to_header(pending.header, receipt)
        pending.header = pending.vm.increment_blob_gas_used(header, tx)
        pending.index[tx.hash] = len(pending.txs)
        pending.txs.append(tx)
        pending.receipts.append(receipt)

    def _check_poster_gas(self, header: BlockHeaderAPI, tx: SignedTransactionAPI) -> None:
        """Nitro refuses a tx whose gas cannot also pay its L1 data ("intrinsic gas too low")."""
        if self.nitro is None:
            return
        raw = signed_bytes(tx)
        base_fee = int(getattr(header, "base_fee_per_gas", 0) or 0)
        poster = self.nitro.charge(raw, header.block_number, base_fee) if raw else 0
        needed = tx.intrinsic_gas + poster
        if poster and tx.gas < needed:
            raise TxRefused(f"intrinsic gas too low: gas {tx.gas}, minimum needed {needed}")

    def set_l1_base_fee(self, wei_per_unit: int) -> int:
        """Change the L1 price from the next block without a transaction; returns that block."""
        if self.nitro is None:
            raise TxRefused("this chain has no L1 pricing")
        head = int(self.head().block_number)
        first = head + 2 if self.pending_count() else head + 1
        self.nitro.set_price(wei_per_unit, first)
        return first

    def _promote(self, sender: bytes, nonce: int) -> None:
        """Execute queued transactions of ``sender`` whose gap is now filled."""
        while (tx := self._queue.pop(sender, nonce)) is not None:
            try:
                self._execute(tx)
            except TxRefused as exc:
                logger.info("dropped queued tx %s: %s", tx.hash.hex(), exc)
                return
            nonce += 1

    def pending_count(self) -> int:
        return len(self._pending.txs) if self._pending else 0

    def seal(self) -> SealedBlock:
        """Mine the open block now (an empty one if no transaction is pending)."""
        pending = self._open()
        vm = pending.vm
        filled = vm.set_block_transactions_and_withdrawals(
            vm.get_block(), pending.header, pending.txs, pending.receipts
        )
        mined = vm.mine_block(filled, mix_hash=os.urandom(32)).block
        self.chain.persist_block(mined)
        if self.pruner is not None:
            self.pruner.on_sealed(mined)  # blocks leaving its window: sealed() refuses them
        if self.store is not None:
            self.store.flush()  # the block's writes and deletes, one SQLite transaction
        self.chain.header = self.chain.create_header_from_parent(mined.header)
        self._pending = None
        sealed = SealedBlock.build(mined, tuple(pending.receipts))
        self._remember(sealed)
        logger.debug("sealed block %s with %s txs", mined.number, len(pending.txs))
        return sealed

    def _open(self) -> PendingBlock:
        if self._pending is None:
            header = self.chain.create_header_from_parent(self.head())
            self.chain.header = header
            self._pending = PendingBlock(vm=self.chain.get_vm(header), header=header)
        return self._pending

    # -- blocks -------------------------------------------------------------------------------
    def head(self) -> BlockHeaderAPI:
        return self.chain.get_canonical_head()

    def pending_view(self) -> tuple[BlockHeaderAPI, list[SignedTransactionAPI]]:
        """Header and transactions of the open block (header as of its last transaction)."""
        if self._pending is None:
            return self.chain.header, []
        return self._pending.header, list(self._pending.txs)

    def sealed(self, number: int) -> SealedBlock:
        if self.pruner is not None:
            self.pruner.check_block(number)
        cached = self._cache.get(number)
        if cached is not None:
            self._cache.move_to_end(number)
            return cached
        try:
            block = self.chain.get_canonical_block_by_number(number)
        except HeaderNotFound as exc:
            raise BlockNotFoundError(f"block {number} not found") from exc
        sealed = SealedBlock.build(block, tuple(block.get_receipts(self.chain.chaindb)))
        self._remember(sealed)
        return sealed

    def sealed_by_hash(self, block_hash: bytes) -> SealedBlock:
        try:
            header = self.chain.chaindb.get_block_header_by_hash(block_hash)
            canonical = self.chain.chaindb.get_canonical_block_hash(header.block_number)
        except HeaderNotFound as exc:
            raise BlockNotFoundError(f"block {block_hash.hex()} not found") from exc
        if canonical != block_hash:
            raise BlockNotFoundError(f"block {block_hash.hex()} is not canonical")
        return self.sealed(header.block_number)

    def _remember(self, sealed: SealedBlock) -> None:
        self._cache[sealed.block.number] = sealed
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    def find_transaction(self, tx_hash: bytes) -> TxLocation | None:
        if self._pending is not None and tx_hash in self._pending.index:
            index = self._pending.index[tx_hash]
            return TxLocation(self._pending.txs[index], index, None)
        queued = self._queue.get(tx_hash)
        if queued is not None:
            return TxLocation(queued, 0, None)
        try:
            number, index = self.chain.chaindb.get_transaction_index(tx_hash)
        except TransactionNotFound:
            return None
        sealed = self.sealed(number)
        return TxLocation(sealed.block.transactions[index], index, sealed)

    # -- state --------------------------------------------------------------------------------
    def state_at(self, number: int | None) -> StateAPI:
        """Post-state of block ``number``; ``None`` means pending (open block) state."""
        if number is None:
            if self._pending is not None and self._pending.txs:
                return self._pending.vm.state
            number = self.head().block_number
        header = self.state_header(number)
        if self._head_state is not None and self._head_state[0] == header.hash:
            return self._head_state[1]
        state = self.chain.get_vm(header).state
        if header.block_number == self.head().block_number:
            self._head_state = (header.hash, state)
        return state

    def state_header(self, number: int) -> BlockHeaderAPI:
        """Header of block ``number`` whose state is still kept (else :class:`PrunedError`)."""
        if self.pruner is not None:
            self.pruner.check_state(number)
        return self.header_at(number)

    def header_at(self, number: int) -> BlockHeaderAPI:
        if self.pruner is not None:
            self.pruner.check_block(number)
        try:
            return self.chain.get_canonical_block_header_by_number(number)
        except HeaderNotFound as exc:
            raise BlockNotFoundError(f"block {number} not found") from exc
