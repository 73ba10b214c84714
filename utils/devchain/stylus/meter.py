"""Nitro's ink meter, applied to a WASM module by rewriting its code section.

Mirrors OffchainLabs/nitro ``arbitrator/prover/src/programs``: ``meter.rs`` (per basic
block: ``if ink < cost { status = 1; unreachable }; ink -= cost`` in front of the block,
opcode prices from ``pricing_v1`` plus a 2450-ink header), ``dynamic.rs`` (memory.fill /
memory.copy pay 100 ink a byte at run time) and ``heap.rs`` (``pay_for_memory_grow`` is
called before every ``memory.grow``). The host reads and sets the two exported globals
``stylus_ink_left`` (i64) and ``stylus_ink_status`` (i32).
"""

from __future__ import annotations

from utils.devchain.stylus.wasm import (
    KIND_GLOBAL,
    SEC_CODE,
    SEC_EXPORT,
    SEC_GLOBAL,
    Reader,
    WasmModule,
)
from utils.devchain.stylus.wasm_code import body_instructions

__all__ = ["INK_HEADER_COST", "MEMORY_COPY_INK", "instrument", "op_ink"]

INK_HEADER_COST = 2450
MEMORY_COPY_INK = 800 // 8  # per byte, memory.copy and memory.fill
INK_LEFT_EXPORT = "stylus_ink_left"
INK_STATUS_EXPORT = "stylus_ink_status"

_ENDS_BLOCK = frozenset({0x0B, 0x05, 0x0F, 0x03, 0x0C, 0x0E, 0x0D, 0x04, 0x10, 0x11})


def _price_table() -> dict[int, int]:
    table: dict[int, int] = {}

    def put(ops: object, ink: int) -> None:
        for op in ops:  # type: ignore[attr-defined]
            table[op] = ink

    put((0x00, 0x0F, 0x01, 0x41, 0x42, 0x02, 0x03, 0x05, 0x0B, 0x40), 1)
    put((0x1A,), 9)
    put((0x0C, 0x0D, 0x04), 765)
    put((0x1B,), 1250)
    put((0x10,), 3800)
    put((0x20, 0x22), 75)
    put((0x21,), 210)
    put((0x23,), 225)
    put((0x24,), 575)
    put((0x28, 0x2C, 0x2D, 0x2E, 0x2F), 670)
    put((0x29, *range(0x30, 0x36)), 680)
    put((0x36, 0x3A, 0x3B), 825)
    put((0x37, 0x3C, 0x3D, 0x3E), 950)
    put((0x3F,), 3000)
    put(range(0x45, 0x50), 170)
    put(range(0x50, 0x5B), 225)
    put((0x67, 0x68, 0x79, 0x7A), 210)
    put((0x6A, 0x6B), 70)
    put((0x6C, 0x7E), 160)
    put(range(0x6D, 0x71), 1120)
    put(range(0x71, 0x79), 70)
    put((0x7C, 0x7D), 100)
    put(range(0x7F, 0x83), 1270)
    put(range(0x83, 0x8B), 100)
    put((0x69,), 2650)
    put((0x7B,), 6000)
    put((0xA7, 0xAC, 0xAD, *range(0xC0, 0xC5)), 100)
    put((0xFC0A, 0xFC0B), 950)
    return table


OP_INK = _price_table()


def op_ink(op: int, arg: int, module: WasmModule) -> int:
    """Nitro's ``pricing_v1`` ink for one instruction (``arg`` from :class:`Instr`)."""
    if op == 0x0E:  # br_table: 2400 + 325 per (non-default) target
        return 2400 + 325 * arg
    if op == 0x11:  # call_indirect: 13610 + 650 per parameter of the callee type
        return 13610 + 650 * len(module.types[arg].params)
    return OP_INK[op]


def _uleb(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _sleb(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        done = (value == 0 and not byte & 0x40) or (value == -1 and byte & 0x40)
        out.append(byte if done else byte | 0x80)
        if done:
            return bytes(out)


class _Globals:
    """Indices of the meter's globals: ink left (i64), ink status (i32), scratch (i32)."""

    def __init__(self, first: int) -> None:
        self.ink, self.status, self.scratch = first, first + 1, first + 2

    def header(self, cost: int) -> bytes:
        get_ink = b"\x23" + _uleb(self.ink)
        const = b"\x42" + _sleb(cost)
        trap = b"\x04\x40\x41\x01\x24" + _uleb(self.status) + b"\x00\x0b"
        return get_ink + const + b"\x54" + trap + get_ink + const + b"\x7d\x24" + _uleb(self.ink)

    def dynamic(self, coefficient: int) -> bytes:
        scratch, ink = _uleb(self.scratch), _uleb(self.ink)
        return (
            b"\x24" + scratch + b"\x23" + ink + b"\x23" + ink + b"\x23" + scratch
            + b"\xad\x42" + _sleb(coefficient) + b"\x7e\x7d\x24" + ink + b"\x23" + ink
            + b"\x54\x04\x40\x41\x01\x24" + _uleb(self.status) + b"\x00\x0b\x23" + scratch
        )

    def pay_for_grow(self, pay_func: int) -> bytes:
        scratch = _uleb(self.scratch)
        return b"\x24" + scratch + b"\x23" + scratch + b"\x23" + scratch + b"\x10" + _uleb(pay_func)


def _instrument_body(module: WasmModule, span: tuple[int, int], g: _Globals,
                     pay_func: int | None) -> bytes:
    data = module.data
    code_start, instrs = body_instructions(data, *span)
    out = bytearray(data[span[0]:code_start])
    block = bytearray()
    cost = 0
    for ins in instrs:
        cost += op_ink(ins.op, ins.arg, module)
        if ins.op in (0xFC0A, 0xFC0B):
            block += g.dynamic(MEMORY_COPY_INK)
        elif ins.op == 0x40 and pay_func is not None:
            block += g.pay_for_grow(pay_func)
        block += data[ins.start:ins.end]
        if ins.op in _ENDS_BLOCK:
            out += g.header(cost + INK_HEADER_COST) + block
            block.clear()
            cost = 0
    out += block
    return _uleb(len(out)) + bytes(out)


def _section(section_id: int, payload: bytes) -> bytes:
    return bytes([section_id]) + _uleb(len(payload)) + payload


def instrument(module: WasmModule, pay_func: int | None) -> bytes:
    """The module with the ink meter, its globals and their exports added."""
    data = module.data
    g = _Globals(module.globals_count)  # global imports are rejected, so no offset
    new_globals = b"\x7e\x01\x42\x00\x0b" + b"\x7f\x01\x41\x00\x0b" + b"\x7f\x01\x41\x00\x0b"
    new_exports = (
        _uleb(len(INK_LEFT_EXPORT)) + INK_LEFT_EXPORT.encode() + bytes([KIND_GLOBAL])
        + _uleb(g.ink) + _uleb(len(INK_STATUS_EXPORT)) + INK_STATUS_EXPORT.encode()
        + bytes([KIND_GLOBAL]) + _uleb(g.status)
    )
    out = bytearray(data[:8])
    have_globals = any(sid == SEC_GLOBAL for sid, _, _ in module.sections)
    for section_id, start, end in module.sections:
        if not have_globals and section_id in (7, 8, 9, 12, 10, 11):
            out += _section(SEC_GLOBAL, _uleb(3) + new_globals)
            have_globals = True
        if section_id == SEC_GLOBAL:
            r = Reader(data, start, end)
            count = r.uleb()
            out += _section(SEC_GLOBAL, _uleb(count + 3) + data[r.pos:end] + new_globals)
        elif section_id == SEC_EXPORT:
            r = Reader(data, start, end)
            count = r.uleb()
            out += _section(SEC_EXPORT, _uleb(count + 2) + data[r.pos:end] + new_exports)
        elif section_id == SEC_CODE:
            bodies = b"".join(_instrument_body(module, span, g, pay_func) for span in module.bodies)
            out += _section(SEC_CODE, _uleb(len(module.bodies)) + bodies)
        else:
            out += _section(section_id, data[start:end])
    return bytes(out)
