"""The chain process's node: a chain kept in memory and scratch space, or, with a data
directory (:mod:`utils.devchain.datadir`), a chain kept on disk, new or re-opened at its head.

A re-opened chain is py-evm's store as the last sealed block left it (``DIR/chain.sqlite``:
one fsync'd transaction per block holds the block, its state, the pruner's counts and window
and the L1 prices), so it continues from that head: the open block of a killed process is
lost with its transactions, nothing before it. The L1 pricing (``L1Pricing``'s public
integer and boolean fields, the pricer's variables among them, and its ``changes``) is kept
in the store's ``meta`` table, written in each block's transaction when it changed.
"""

from __future__ import annotations

import json
import logging
from dataclasses import fields
from typing import TYPE_CHECKING

from utils.devchain.backend import DevNode
from utils.devchain.datadir import ChainDir, ChainRecord
from utils.devchain.genesis import VmConfiguration, build_chain, reopen_chain
from utils.devchain.kvstore import DiskStore
from utils.devchain.nitro.l1pricing import L1Pricing
from utils.devchain.retention import DEFAULT_STATE_CACHE_MB
from utils.errors import DevChainError

if TYPE_CHECKING:
    from utils.devchain.child import ChainOptions

logger = logging.getLogger(__name__)

PRICING_KEY = b"l1_pricing"


def open_node(
    options: ChainOptions, funder: str, pricing: L1Pricing, schedule: VmConfiguration,
    chain_dir: ChainDir | None,
) -> DevNode:
    """The node ``options`` ask for; with ``chain_dir`` (locked by the caller) on disk."""
    if chain_dir is None:
        chain = build_chain(options.chain_id, options.gas_limit, funder,
                            options.funder_balance_wei, schedule)
        node = DevNode(chain, nitro=pricing, retention=options.retention)
        pricing.genesis_timestamp = int(node.header_at(0).timestamp)
        return node
    record = chain_dir.record()
    if record is None:
        chain_dir.discard_unfinished()
    cache_mb = options.retention.state_cache_mb or DEFAULT_STATE_CACHE_MB
    store = DiskStore(cache_mb, str(chain_dir.store_file), durable=True)
    if record is None:
        node = _create(options, funder, pricing, schedule, chain_dir, store)
    elif store.is_empty():
        raise DevChainError(f"{chain_dir.chain_file} names a chain but {chain_dir.store_file} "
                            "holds none (removed?); give another --data-dir")
    else:
        node = _reopen(options, record, pricing, schedule, chain_dir, store)
    store.before_flush.append(PricingKeeper(store, pricing).save)
    return node


def _create(
    options: ChainOptions, funder: str, pricing: L1Pricing, schedule: VmConfiguration,
    chain_dir: ChainDir, store: DiskStore,
) -> DevNode:
    chain = build_chain(options.chain_id, options.gas_limit, funder,
                        options.funder_balance_wei, schedule)
    node = DevNode(chain, nitro=pricing, retention=options.retention, store=store)
    genesis = node.header_at(0)
    pricing.genesis_timestamp = int(genesis.timestamp)
    PricingKeeper(store, pricing).save()
    store.flush()  # genesis, its counts and window: on disk before chain.json says it is there
    chain_dir.write_record(ChainRecord(
        options.chain_id, options.gas_limit, funder, options.funder_balance_wei,
        "0x" + bytes(genesis.hash).hex(), options.stylus))
    logger.info("new chain %s in %s", options.chain_id, chain_dir.path)
    return node


def _reopen(
    options: ChainOptions, record: ChainRecord, pricing: L1Pricing,
    schedule: VmConfiguration, chain_dir: ChainDir, store: DiskStore,
) -> DevNode:
    chain = reopen_chain(record.chain_id, store.kv, schedule)
    node = DevNode(chain, nitro=pricing, retention=options.retention, store=store)
    genesis = node.header_at(0)
    if "0x" + bytes(genesis.hash).hex() != record.genesis_hash:
        raise DevChainError(f"{chain_dir.store_file} holds genesis 0x{bytes(genesis.hash).hex()}"
                            f", {chain_dir.chain_file} says {record.genesis_hash}")
    pricing.genesis_timestamp = int(genesis.timestamp)
    PricingKeeper(store, pricing).load()
    if options.stylus and not record.stylus:  # Stylus from now on: recorded, never undone
        chain_dir.write_record(ChainRecord(**{**record.__dict__, "stylus": True}))
    logger.info("re-opened chain %s in %s at block %s", record.chain_id, chain_dir.path,
                node.head().block_number)
    return node


class PricingKeeper:
    """Keeps an :class:`L1Pricing`'s integer fields and price changes in the store's ``meta``."""

    def __init__(self, store: DiskStore, pricing: L1Pricing) -> None:
        self.store = store
        self.pricing = pricing
        self._saved = b""

    def _fields(self) -> dict[str, object]:
        out: dict[str, object] = {"changes": [list(c) for c in self.pricing.changes]}
        for field in fields(self.pricing):
            value = getattr(self.pricing, field.name)
            if not field.name.startswith("_") and type(value) in (int, bool):
                out[field.name] = value
        return out

    def save(self) -> None:
        raw = json.dumps(self._fields(), sort_keys=True).encode()
        if raw != self._saved:
            self.store.meta[PRICING_KEY] = raw
            self._saved = raw

    def load(self) -> None:
        raw = self.store.meta.get(PRICING_KEY)
        if raw is None:
            return
        data = json.loads(raw)
        self.pricing.changes[:] = [(int(a), int(b)) for a, b in data.pop("changes")]
        known = {f.name for f in fields(self.pricing)} - {"genesis_timestamp", "call_base_fee"}
        for name, value in data.items():
            if name in known:
                setattr(self.pricing, name, value)
        self._saved = bytes(raw)
