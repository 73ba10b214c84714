"""Instructions of a WASM function body: opcode, byte span and the immediates pricing needs.

Covers MVP + sign-extension + saturating truncation + bulk memory + reference-type
opcodes (to reject them by name); SIMD, threads, exceptions and tail calls stop the walk.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from utils.devchain.stylus.wasm import Reader, WasmFormatError

__all__ = ["Instr", "body_instructions", "body_locals"]

_MEMARG_OPS = frozenset(range(0x28, 0x3F))
_U32_OPS = frozenset({0x0C, 0x0D, 0x10, 0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0xD2})
_FC_IMMEDIATES = {8: 2, 9: 1, 10: 2, 11: 1, 12: 2, 13: 1, 14: 2, 15: 1, 16: 1, 17: 1}


@dataclass(frozen=True)
class Instr:
    """One instruction: its opcode key (0xFC sub-ops are ``0xFC00 | sub``), byte span and
    the immediate pricing needs (br_table target count, call_indirect type index)."""

    op: int
    start: int
    end: int
    arg: int = 0


def body_locals(data: bytes, start: int, end: int) -> int:
    """How many locals a body declares."""
    r = Reader(data, start, end)
    total = 0
    for _ in range(r.uleb()):
        total += r.uleb()
        r.byte()
    return total


def body_instructions(data: bytes, start: int, end: int) -> tuple[int, list[Instr]]:
    """The offset where a body's instructions begin (after its locals) and the instructions."""
    r = Reader(data, start, end)
    for _ in range(r.uleb()):
        r.uleb()
        r.byte()
    code_start = r.pos
    return code_start, list(_walk(r))


def _walk(r: Reader) -> Iterator[Instr]:
    while r.pos < r.end:
        start = r.pos
        op = r.byte()
        arg = 0
        if op in (0x02, 0x03, 0x04):
            _block_type(r)
        elif op in _U32_OPS or op in (0x3F, 0x40):
            r.uleb()
        elif op in _MEMARG_OPS:
            r.uleb()
            r.uleb()
        elif op == 0x0E:
            arg = r.uleb()
            for _ in range(arg + 1):
                r.uleb()
        elif op == 0x11:
            arg = r.uleb()
            r.uleb()
        elif op in (0x41, 0x42):
            r.sleb()
        elif op == 0x43:
            r.take(4)
        elif op == 0x44:
            r.take(8)
        elif op == 0x1C:
            r.take(r.uleb())
        elif op == 0xD0:
            r.byte()
        elif op == 0xFC:
            sub = r.uleb()
            op = 0xFC00 | sub
            for _ in range(_FC_IMMEDIATES.get(sub, 0)):
                r.uleb()
        elif op in (0xFD, 0xFE):
            raise WasmFormatError(start, f"prefix 0x{op:X} (SIMD/threads) is not supported")
        elif op in (0x06, 0x07, 0x08, 0x09, 0x12, 0x13, 0x18, 0x19):
            raise WasmFormatError(start, f"opcode 0x{op:02X} (exceptions/tail calls) unsupported")
        yield Instr(op, start, r.pos, arg)


def _block_type(r: Reader) -> None:
    first = r.data[r.pos] if r.pos < r.end else 0
    if first == 0x40 or first in (0x7F, 0x7E, 0x7D, 0x7C, 0x7B, 0x70, 0x6F):
        r.byte()
    else:
        r.sleb()
