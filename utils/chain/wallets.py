"""Run wallets, derived deterministically from the run seed and the funder key.

A wallet's key is keccak256(funder key | seed | role | index): the same seed
and funder give the same wallets (a rerun can find its accounts again), and
nobody can derive them without the funder key. Keys live only in memory:
``Wallet.__repr__`` shows the address alone, and nothing here writes a key.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

from utils.chain.signer import Signer, keccak256

ROLES = ("user", "merchant", "settlement", "lender", "borrower", "committer")


class KeyedAccount(Protocol):
    """What a wallet needs of an account (eth-account's ``LocalAccount`` is one too)."""

    @property
    def address(self) -> str: ...

    @property
    def key(self) -> bytes: ...


@dataclass(frozen=True, slots=True)
class KeyAccount:
    """A private key and its checksummed address (derived once, with coincurve: no
    eth-account on the run's path)."""

    address: str
    key: bytes = field(repr=False)

    @classmethod
    def from_key(cls, key: bytes) -> KeyAccount:
        return cls(Signer(key).address, bytes(key))

    def __repr__(self) -> str:  # never the key
        return f"KeyAccount({self.address})"


@dataclass(frozen=True, slots=True)
class Wallet:
    """An account the run signs for."""

    role: str
    index: int
    account: KeyedAccount = field(repr=False, compare=False)

    @property
    def address(self) -> str:
        return str(self.account.address)

    def __repr__(self) -> str:
        return f"Wallet({self.role}#{self.index} {self.address})"


def derive_key(funder_key: bytes, seed: int, role: str, index: int) -> bytes:
    material = funder_key + seed.to_bytes(16, "big", signed=True) + f"|{role}|{index}".encode()
    return keccak256(material)


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
        funder = Wallet("funder", 0, KeyAccount.from_key(funder_key))
        by_role = {
            role: [
                Wallet(role, i, KeyAccount.from_key(derive_key(funder_key, seed, role, i)))
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
