"""Nitro's per-codehash activation record, as the embedded chain's ArbWasm stores it."""

from __future__ import annotations

from dataclasses import dataclass

from eth_utils import keccak


@dataclass(frozen=True)
class ActivationRecord:
    """Nitro's per-codehash ``Program`` word, kept in the storage of the 0x71 account."""

    version: int
    init_cost: int
    cached_cost: int
    footprint: int
    activated_at: int  # hours since the Unix epoch (Nitro: since Arbitrum began)
    asm_estimate_kb: int
    cached: bool = False  # in ArbOS's program cache (ArbWasmCache): calls pay cached init gas

    def encode(self) -> int:
        word = (
            self.version.to_bytes(2, "big") + self.init_cost.to_bytes(2, "big")
            + self.cached_cost.to_bytes(2, "big") + self.footprint.to_bytes(2, "big")
            + self.activated_at.to_bytes(3, "big") + self.asm_estimate_kb.to_bytes(3, "big")
            + (b"\x01" if self.cached else b"\x00")
        )
        return int.from_bytes(word.ljust(32, b"\x00"), "big")

    @classmethod
    def decode(cls, value: int) -> ActivationRecord:
        word = value.to_bytes(32, "big")
        return cls(
            version=int.from_bytes(word[0:2], "big"),
            init_cost=int.from_bytes(word[2:4], "big"),
            cached_cost=int.from_bytes(word[4:6], "big"),
            footprint=int.from_bytes(word[6:8], "big"),
            activated_at=int.from_bytes(word[8:11], "big"),
            asm_estimate_kb=int.from_bytes(word[11:14], "big"),
            cached=word[14] != 0,
        )


def activation_slot(codehash: bytes) -> int:
    """The 0x71 storage slot of a program's activation record."""
    return int.from_bytes(keccak(b"stylus.program" + codehash), "big")
