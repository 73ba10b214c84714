"""The batch poster on a running chain: its parent-chain clock, its kept batches, its window
of prices, and the timer that posts batches falling due while no block is mined."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, replace
from typing import Any

from utils.devchain.nitro.batch_poster import BatchPoster
from utils.devchain.nitro.l1pricing import L1Pricing
from utils.devchain.nitro.options import BatchPolicy
from utils.devchain.nitro.parent_chain import BatchLog, ParentClock, l1_block_of_mix_hash

__all__ = ["attach_batch_poster", "post_every"]

logger = logging.getLogger(__name__)


def attach_batch_poster(
    pricing: L1Pricing, policy: BatchPolicy, head: Any, owner: str | None = None,
    store: Any = None, pruner: Any = None,
) -> BatchPoster:
    """Give the chain's pricing (its VMs) a parent-chain clock at ``policy``'s block time,
    never behind the L1 block in ``head`` (the chain's last header) nor a kept batch's, and a
    batch poster; the pricer's rewards go to ``owner``, the chain owner
    (``InitializeArbosState``). With a kept
    chain's ``store`` (``utils.devchain.kvstore.DiskStore``, durable) its batches are kept in
    the store's ``meta`` table, written in each block's transaction. With the chain's
    ``pruner`` (``utils.devchain.pruning.ChainPruner``) the prices of blocks out of its history
    window are dropped (one price per batch would otherwise pile up)."""
    if owner is not None:
        policy = replace(policy, pricer=replace(policy.pricer, reward_recipient=owner))
    durable = store is not None and getattr(store, "durable", False)
    log = BatchLog.load(store.meta) if durable else None
    kept = log.count if log is not None else 0
    pricing.clock = ParentClock(policy.parent_block_time)
    last_parent = log.parent_blocks[-1:] if log is not None else []
    pricing.clock.continue_from(max([l1_block_of_mix_hash(head.mix_hash), *last_parent]))
    poster = BatchPoster(pricing, policy, pricing.clock, head=int(head.block_number), log=log)
    if durable:
        keeper = _BatchKeeper(poster.log, store.meta, kept)
        keeper.save()
        store.before_flush.append(keeper.save)
    if pruner is not None:
        poster.oldest_kept = lambda: min(int(pruner.oldest_block), int(pruner.oldest_state))
    pricing.poster = poster
    return poster


@dataclass
class _BatchKeeper:
    """Writes the batches posted since the last block into a kept chain's store."""

    log: BatchLog
    meta: Any
    saved: int

    def save(self) -> None:
        self.saved = self.log.save(self.meta, self.saved)


async def post_every(poster: BatchPoster, interval: float) -> None:
    """Timer: post batches that fall due while no block is mined (until cancelled)."""
    while True:
        await asyncio.sleep(interval)
        try:
            poster.tick()
        except Exception:  # a failed post must not end the timer; the next tick retries
            logger.exception("posting a batch failed")
