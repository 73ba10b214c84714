"""Stylus activation rules: what ArbWasm.activateProgram accepts, as Nitro checks it.

Sources (OffchainLabs/nitro): ``arbitrator/prover/src/binary.rs`` (WasmFeatures, limits,
``parse_user``, init-cost estimates), ``arbitrator/stylus/src/native.rs`` (the ``vm_hooks``
import list and signatures), ``programs/meter.rs`` (``pricing_v1``), ``heap.rs``.
One deliberate difference: Nitro accepts float opcodes but prices them at u64::MAX ink, so
any block using one always runs out of ink; here activation rejects them up front.
"""

from __future__ import annotations

from dataclasses import dataclass

import wasmtime

from utils.devchain.stylus.engine import (
    HOSTIOS,
    I32,
    I64,
    UNSUPPORTED_HOSTIOS,
    new_engine,
    signature,
)
from utils.devchain.stylus.meter import OP_INK
from utils.devchain.stylus.wasm import (
    KIND_FUNC,
    KIND_MEMORY,
    WasmFormatError,
    WasmModule,
    parse_module,
)
from utils.devchain.stylus.wasm_code import body_instructions, body_locals
from utils.errors import KcStressError

__all__ = [
    "HOSTIOS",
    "PAGE_LIMIT",
    "ProgramInfo",
    "StylusActivationError",
    "check_program",
    "new_engine",
]

PAGE_LIMIT = 128  # wasm pages (8 MiB)
MAX_WASM_SIZE = 128 * 1024  # decompressed bytes
ENTRYPOINT = "user_entrypoint"

_REFERENCE_OPS = frozenset({0x1C, 0x25, 0x26, 0xD0, 0xD1, 0xD2, *range(0xFC0C, 0xFC12)})
_BULK_INIT_OPS = frozenset({0xFC08, 0xFC09})


class StylusActivationError(KcStressError):
    """A program breaks a Stylus rule; ``reason`` is the revert reason ArbWasm returns."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"program activation failed: {reason}")
        self.reason = reason


@dataclass(frozen=True)
class ProgramInfo:
    """What activation records about a program (Nitro's ``activationInfo``)."""

    module: WasmModule
    footprint: int  # initial memory pages
    init_cost: int  # Nitro's estimate, in gas (u16)
    cached_init_cost: int
    asm_estimate: int  # bytes
    pay_func: int | None  # function index of vm_hooks.pay_for_memory_grow, if imported


def check_program(
    wasm: bytes, engine: wasmtime.Engine, page_limit: int = PAGE_LIMIT
) -> ProgramInfo:
    """Validate ``wasm`` against the Stylus rules, or raise :class:`StylusActivationError`."""
    if len(wasm) > MAX_WASM_SIZE:
        raise StylusActivationError(f"wasm is {len(wasm)} bytes, more than {MAX_WASM_SIZE}")
    try:
        wasmtime.Module.validate(engine, wasm)
        module = parse_module(wasm)
    except (wasmtime.WasmtimeError, WasmFormatError) as exc:
        raise StylusActivationError(f"invalid wasm: {str(exc).splitlines()[0]}") from exc
    pay_func = _check_imports(module)
    _check_exports(module)
    footprint = _check_memory(module, page_limit, pay_func)
    _check_limits_and_code(module)
    return _estimate(module, footprint, pay_func)


def _check_imports(module: WasmModule) -> int | None:
    pay_func = None
    for index, imp in enumerate(module.imports):
        where = f"{imp.module}.{imp.name}"
        if imp.kind != KIND_FUNC:
            raise StylusActivationError(f"unsupported import kind for {where}: only functions")
        if imp.name.startswith("stylus"):
            raise StylusActivationError(f"binary imports reserved symbol {where}")
        if imp.module != "vm_hooks":
            raise StylusActivationError(f"unknown import {where}: only vm_hooks may be imported")
        if imp.name in UNSUPPORTED_HOSTIOS:
            raise StylusActivationError(f"{where} is not supported by this dev chain's host")
        expected = HOSTIOS.get(imp.name)
        if expected is None:
            raise StylusActivationError(f"unknown import {where}")
        if module.types[imp.type_index] != expected:
            raise StylusActivationError(f"wrong signature for import {where}")
        if imp.name == "pay_for_memory_grow":
            pay_func = index
    return pay_func


def _check_exports(module: WasmModule) -> None:
    imported = {imp.name for imp in module.imports}
    for name, _kind, _index in module.exports:
        if name.startswith("stylus"):
            raise StylusActivationError(f"binary exports reserved symbol {name}")
        if len(name) > 512:
            raise StylusActivationError(f"wasm export name too long: {len(name)} > 512")
        if name.rsplit("__", 1)[-1] in imported:
            raise StylusActivationError(f"binary exports an import with the same name {name}")
    entry = module.export(ENTRYPOINT)
    if entry is None:
        raise StylusActivationError(f"missing export with name {ENTRYPOINT}")
    if entry[0] != KIND_FUNC or module.func_type(entry[1]) != signature("i", "i"):
        raise StylusActivationError(f"{ENTRYPOINT} must be a function (i32) -> i32")
    memory = module.export("memory")
    if memory is None or memory[0] != KIND_MEMORY:
        raise StylusActivationError('missing memory with export name "memory"')
    if module.start is not None:
        raise StylusActivationError("wasm start functions not allowed")


def _check_memory(module: WasmModule, page_limit: int, pay_func: int | None) -> int:
    if len(module.memories) != 1:
        raise StylusActivationError(f"a program needs exactly 1 memory, not {len(module.memories)}")
    minimum, maximum = module.memories[0]
    if minimum > page_limit:
        raise StylusActivationError(f"memory exceeds limit: {minimum} > {page_limit} pages")
    if maximum != minimum and pay_func is None:
        raise StylusActivationError(
            "missing import vm_hooks.pay_for_memory_grow, needed for a growable memory"
        )
    return minimum


def _limit(name: str, count: int, limit: int) -> None:
    if count > limit:
        raise StylusActivationError(f"too many wasm {name}: {count} > {limit}")


def _check_limits_and_code(module: WasmModule) -> None:
    _limit("datas", module.data_count, 128)
    _limit("elements", module.elem_count, 128)
    _limit("exports", len(module.exports), 1024)
    _limit("functions", len(module.bodies), 4096)
    _limit("globals", module.globals_count, 32768)
    _limit("table entries", sum(module.tables), 4096)
    if len(module.tables) > 1:
        raise StylusActivationError("reference types are not supported: more than one table")
    for types in module.types:
        if any(t not in (I32, I64, 0x7D, 0x7C) for t in (*types.params, *types.results)):
            raise StylusActivationError("reference types are not supported in signatures")
    for span in module.bodies:
        _check_body(module, span)


def _check_body(module: WasmModule, span: tuple[int, int]) -> None:
    _limit("locals", body_locals(module.data, *span), 348)
    _start, instrs = body_instructions(module.data, *span)
    _limit("opcodes in func body", len(instrs), 65536)
    for ins in instrs:
        if ins.op in OP_INK:
            continue
        if ins.op in (0x0E, 0x11):
            continue
        name = f"0x{ins.op:02X}" if ins.op < 0x100 else f"0xFC {ins.op & 0xFF}"
        if ins.op in _REFERENCE_OPS:
            raise StylusActivationError(f"reference-types opcode {name} is not supported")
        if ins.op in _BULK_INIT_OPS:
            raise StylusActivationError(f"opcode {name} (memory.init/data.drop) not supported")
        raise StylusActivationError(f"floating-point opcode {name} is not supported")


def _estimate(module: WasmModule, footprint: int, pay_func: int | None) -> ProgramInfo:
    """Nitro's ``WasmBinary::instrument`` cost predictions (its meter adds 4 globals)."""
    funcs = len(module.bodies)
    globals_ = module.globals_count + 4
    wasm_len = len(module.data)
    data_len = module.data_bytes
    type_len = sum(len(module.types[t].params) + len(module.types[t].results)
                   for t in module.functions)
    asm = 512000 + funcs * 996829 // 1000 + type_len * 11416 // 1000 + wasm_len * 62628 // 10000
    cached = (funcs * 13420 // 100_000 + type_len * 89 // 100_000 + wasm_len * 122 // 100_000
              + globals_ * 1628 // 1000 + data_len * 75244 // 100_000 + footprint * 5)
    init = cached + funcs * 8252 // 1000 + type_len * 1059 // 1000 + wasm_len * 1286 // 10_000
    if init > 0xFFFF or cached > 0xFFFF:
        raise StylusActivationError(f"program too costly to initialise: {init} gas")
    return ProgramInfo(module, footprint, init, cached, asm, pay_func)
