"""Run wallets, derived deterministically from the run seed and the funder key.

A wallet's key is keccak256(funder key | seed | role | index): the same seed
and funder give the same wallets (a rerun can find its accounts again), and
nobody can derive them without the funder key. Keys live only in memory:
``Wallet.__repr__`` shows the address alone, and nothing here writes a key.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak

ROLES = ("user", "merchant", "settlement", "lender", "borrower", "committer")


@dataclass(frozen=True, slots=True)
class Wallet:
    """An account the run signs for."""

    role: str
    index: int
    account: LocalAccount = field(repr=False, compare=False)

    @property
    def address(self) -> str:
        return str(self.account.address)

    def __repr__(self) -> str:
        return f"Wallet({self.role}#{self.index} {self.address})"


def derive_key(funder_key: bytes, seed: int, role: str, index: int) -> bytes:
    material = funder_key + seed.to_bytes(16, "big", signed=True) + f"|{role}|{index}".encode()
    return bytes(keccak(material))


@dataclass
class WalletPool:
    """Every wallet of a run, by role."""

    funder: Wallet
    by_role: dict[str, list[Wallet]]

    @classmethod
    def derive(cls, funder_key: bytes, seed: int, counts: dict[str, int]) -> WalletPool:
        unknown = set(counts) - set(ROLES)
        if unknown:
            raise ValueError(f"unknown wallet roles: {sorted(unknown)}")
        funder = Wallet("funder", 0, Account.from_key(funder_key))
        by_role = {
            role: [
                Wallet(role, i, Account.from_key(derive_key(funder_key, seed, role, i)))
                for i in range(counts.get(role, 0))
            ]
            for role in ROLES
        }
        return cls(funder, by_role)

    def role(self, name: str) -> list[Wallet]:
        return self.by_role[name]

    def __iter__(self) -> Iterator[Wallet]:
        for wallets in self.by_role.values():
            yield from wallets
