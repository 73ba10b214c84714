"""Slices of a run: which wallets and what share of each rate one process offers.

The same mechanism at two scales: ``--workers M`` processes on one machine and
``--shard I/N`` processes on many. Every process derives the whole wallet pool from the
shared seed and funder key and keeps its slice: for each role that sends, the wallets
whose index is ``index (mod count)``; roles that only receive (the settlement account)
are shared. A shard of N made of M workers gives worker k the slice ``I*M + k`` of
``N*M``, so slices never overlap and no two processes ever sign for one address.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from utils.chain.wallets import WalletPool
from utils.errors import ConfigError

#: roles whose wallets send (sliced); every other role only receives (shared)
SENDER_ROLES = ("user", "merchant", "lender", "borrower", "committer")


@dataclass(frozen=True, slots=True)
class Slice:
    """Process ``index`` of ``count`` (0-based)."""

    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise ConfigError("--shard", f"shard {self.index}/{self.count}: need 0 <= I < N")

    @property
    def whole(self) -> bool:
        return self.count == 1

    @property
    def label(self) -> str:
        return f"{self.index}/{self.count}"

    def share(self, rate: float) -> float:
        """This slice's part of a rate offered by all slices together."""
        return rate / self.count

    def split(self, inner: Slice) -> Slice:
        """Slice ``inner`` of this slice, as a slice of the whole run."""
        return Slice(self.index * inner.count + inner.index, self.count * inner.count)


def parse_shard(text: str) -> Slice:
    """``I/N`` -> Slice; ConfigError for anything else."""
    index, sep, count = text.strip().partition("/")
    try:
        if not sep:
            raise ValueError
        return Slice(int(index), int(count))
    except ValueError:
        raise ConfigError("--shard", f"expected I/N (e.g. 0/4), got {text!r}") from None


def pool_counts(counts: Mapping[str, int], slices: int) -> dict[str, int]:
    """Wallets per role for a run of ``slices`` slices: every slice gets at least one
    wallet of each sending role."""
    return {role: max(n, slices) if role in SENDER_ROLES else n for role, n in counts.items()}


def slice_pool(pool: WalletPool, part: Slice) -> WalletPool:
    """The wallets of ``part``: its share of each sending role, every receiving wallet."""
    if part.whole:
        return pool
    by_role = {
        role: wallets[part.index :: part.count] if role in SENDER_ROLES else list(wallets)
        for role, wallets in pool.by_role.items()
    }
    for role in SENDER_ROLES:
        if pool.by_role.get(role) and not by_role[role]:
            raise ConfigError("wallets", f"slice {part.label} has no {role} wallet")
    return WalletPool(pool.funder, by_role)
