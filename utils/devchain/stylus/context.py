"""The state of one Stylus call while its WASM runs: ink, memory, args, storage cache.

Host functions (:mod:`utils.devchain.stylus.hostio`,
:mod:`utils.devchain.stylus.hostio_env`) receive the context of the innermost running
program and the wasmtime ``Caller``. Ink lives in the program's ``stylus_ink_left`` global,
exactly as in Nitro: metered WASM code and hostios draw from the same counter, and EVM-side
costs are bought at :data:`INK_PRICE` ink a gas.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import wasmtime
from eth.abc import ComputationAPI
from eth_typing import Address

from utils.devchain.stylus.pricing import INK_PRICE

__all__ = ["EarlyExit", "HostContext", "HostFailure", "OutOfInk", "PageTracker"]

_WORD_MOD = 1 << 256


class OutOfInk(Exception):
    """The program ran out of ink (Nitro: userOutOfInk -> the call fails out of gas)."""


class EarlyExit(Exception):
    """``exit_early(status)`` ends the program: 0 returns, anything else reverts."""

    def __init__(self, status: int) -> None:
        super().__init__(f"exit_early({status})")
        self.status = status


class HostFailure(Exception):
    """A hostio refused the request (bad topics, write in a static call, ...): the call
    reverts without data, as Nitro's userFailure does."""


@dataclass
class PageTracker:
    """WASM pages open in the current transaction and the most ever open (Nitro's
    ``GetStylusPages``): memory is priced per transaction, not per call."""

    open: int = 0
    ever: int = 0

    def add(self, pages: int) -> tuple[int, int]:
        before = (self.open, self.ever)
        self.open = min(self.open + pages, 0xFFFF)
        self.ever = max(self.ever, self.open)
        return before


@dataclass
class HostContext:
    computation: ComputationAPI
    args: bytes
    pages: PageTracker
    outs: bytes = b""
    storage: dict[int, list[int | None]] = field(default_factory=dict)  # slot -> [value, known]
    reentrant: bool = False
    return_data: bytes = b""  # output of the program's last call out (read_return_data)
    reads: int = 0
    writes: int = 0
    memory: Any = None  # wasmtime.Memory once instantiated
    ink_global: Any = None  # wasmtime.Global
    status_global: Any = None

    @property
    def address(self) -> Address:
        return Address(bytes(self.computation.msg.storage_address))

    @property
    def is_static(self) -> bool:
        return bool(self.computation.msg.is_static)

    # -- ink ------------------------------------------------------------------------------
    def ink_left(self, caller: wasmtime.Caller) -> int:
        if self.status_global.value(caller) != 0:
            raise OutOfInk
        return int(self.ink_global.value(caller))

    def buy_ink(self, caller: wasmtime.Caller, ink: int) -> None:
        left = self.ink_left(caller)
        if left < ink:
            self.status_global.set_value(caller, 1)
            raise OutOfInk
        self.ink_global.set_value(caller, left - ink)

    def require_gas(self, caller: wasmtime.Caller, gas: int) -> None:
        if self.ink_left(caller) < gas * INK_PRICE:
            self.status_global.set_value(caller, 1)
            raise OutOfInk

    def buy_gas(self, caller: wasmtime.Caller, gas: int) -> None:
        if gas:
            self.buy_ink(caller, gas * INK_PRICE)

    def gas_left(self, caller: wasmtime.Caller) -> int:
        return self.ink_left(caller) // INK_PRICE

    # -- memory ---------------------------------------------------------------------------
    def read(self, caller: wasmtime.Caller, ptr: int, size: int) -> bytes:
        ptr &= 0xFFFFFFFF
        if ptr + size > self.memory.data_len(caller):
            raise HostFailure(f"read of {size} bytes at {ptr} is out of bounds")
        return bytes(self.memory.read(caller, ptr, ptr + size))

    def write(self, caller: wasmtime.Caller, ptr: int, data: bytes) -> None:
        ptr &= 0xFFFFFFFF
        if ptr + len(data) > self.memory.data_len(caller):
            raise HostFailure(f"write of {len(data)} bytes at {ptr} is out of bounds")
        if data:
            self.memory.write(caller, data, ptr)

    def read_word(self, caller: wasmtime.Caller, ptr: int) -> int:
        return int.from_bytes(self.read(caller, ptr, 32), "big")

    def write_word(self, caller: wasmtime.Caller, ptr: int, value: int) -> None:
        self.write(caller, ptr, (value % _WORD_MOD).to_bytes(32, "big"))
