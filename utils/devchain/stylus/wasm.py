"""A small WebAssembly binary reader: sections, types, imports, exports, function bodies.

Just enough of the format (MVP + sign-extension + saturating truncation + bulk memory) to
check a module against Stylus's activation rules (:mod:`utils.devchain.stylus.rules`) and to
instrument it with Nitro's ink meter (:mod:`utils.devchain.stylus.meter`). Proposals Stylus rejects
(SIMD, threads, exceptions, tail calls, GC) are recognised only to be rejected.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from utils.errors import KcStressError

__all__ = ["FuncType", "Import", "Reader", "WasmFormatError", "WasmModule", "parse_module"]

WASM_MAGIC = b"\x00asm\x01\x00\x00\x00"
SEC_TYPE, SEC_IMPORT, SEC_FUNC, SEC_TABLE, SEC_MEMORY, SEC_GLOBAL = 1, 2, 3, 4, 5, 6
SEC_EXPORT, SEC_START, SEC_ELEM, SEC_CODE, SEC_DATA = 7, 8, 9, 10, 11
KIND_FUNC, KIND_TABLE, KIND_MEMORY, KIND_GLOBAL = 0, 1, 2, 3



class WasmFormatError(KcStressError, ValueError):
    """The bytes are not a WebAssembly module this reader understands; ``offset`` says where."""

    def __init__(self, offset: int, message: str) -> None:
        super().__init__(f"wasm byte {offset}: {message}")
        self.offset = offset


class Reader:
    """A cursor over ``data`` reading LEB128 integers and raw bytes."""

    def __init__(self, data: bytes, pos: int = 0, end: int | None = None) -> None:
        self.data = data
        self.pos = pos
        self.end = len(data) if end is None else end

    def byte(self) -> int:
        if self.pos >= self.end:
            raise WasmFormatError(self.pos, "unexpected end")
        value = self.data[self.pos]
        self.pos += 1
        return value

    def uleb(self) -> int:
        result = shift = 0
        while True:
            byte = self.byte()
            result |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                return result
            if shift > 70:
                raise WasmFormatError(self.pos, "LEB128 too long")

    def sleb(self) -> int:
        result = shift = 0
        while True:
            byte = self.byte()
            result |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                return result - (1 << shift) if byte & 0x40 else result
            if shift > 70:
                raise WasmFormatError(self.pos, "LEB128 too long")

    def take(self, count: int) -> bytes:
        if self.pos + count > self.end:
            raise WasmFormatError(self.pos, "unexpected end")
        chunk = self.data[self.pos : self.pos + count]
        self.pos += count
        return chunk

    def name(self) -> str:
        return self.take(self.uleb()).decode("utf-8", errors="replace")


@dataclass(frozen=True)
class FuncType:
    params: tuple[int, ...]
    results: tuple[int, ...]


@dataclass(frozen=True)
class Import:
    module: str
    name: str
    kind: int
    type_index: int  # for function imports; -1 otherwise


@dataclass
class WasmModule:
    data: bytes
    sections: list[tuple[int, int, int]] = field(default_factory=list)  # (id, start, end)
    types: list[FuncType] = field(default_factory=list)
    imports: list[Import] = field(default_factory=list)
    functions: list[int] = field(default_factory=list)
    tables: list[int] = field(default_factory=list)  # initial sizes
    memories: list[tuple[int, int | None]] = field(default_factory=list)
    globals_count: int = 0
    exports: list[tuple[str, int, int]] = field(default_factory=list)
    start: int | None = None
    data_bytes: int = 0
    data_count: int = 0
    elem_count: int = 0
    bodies: list[tuple[int, int]] = field(default_factory=list)  # (start, end) of each body

    @property
    def imported_funcs(self) -> list[Import]:
        return [imp for imp in self.imports if imp.kind == KIND_FUNC]

    def func_type(self, func_index: int) -> FuncType:
        imported = self.imported_funcs
        if func_index < len(imported):
            return self.types[imported[func_index].type_index]
        return self.types[self.functions[func_index - len(imported)]]

    def export(self, name: str) -> tuple[int, int] | None:
        for export_name, kind, index in self.exports:
            if export_name == name:
                return kind, index
        return None


def parse_module(data: bytes) -> WasmModule:
    """Read the sections of ``data`` (already validated by wasmtime)."""
    if data[:8] != WASM_MAGIC:
        raise WasmFormatError(0, "missing \\0asm version 1 header")
    module = WasmModule(data=data)
    reader = Reader(data, 8)
    while reader.pos < reader.end:
        section_id = reader.byte()
        size = reader.uleb()
        start = reader.pos
        module.sections.append((section_id, start, start + size))
        _read_section(module, section_id, Reader(data, start, start + size))
        reader.pos = start + size
    return module


def _read_section(module: WasmModule, section_id: int, r: Reader) -> None:
    if section_id == SEC_TYPE:
        for _ in range(r.uleb()):
            if r.byte() != 0x60:
                raise WasmFormatError(r.pos, "only function types are supported")
            params = tuple(r.byte() for _ in range(r.uleb()))
            results = tuple(r.byte() for _ in range(r.uleb()))
            module.types.append(FuncType(params, results))
    elif section_id == SEC_IMPORT:
        for _ in range(r.uleb()):
            mod, name, kind = r.name(), r.name(), r.byte()
            type_index = r.uleb() if kind == KIND_FUNC else -1
            if kind != KIND_FUNC:
                _skip_import_desc(r, kind)
            module.imports.append(Import(mod, name, kind, type_index))
    elif section_id == SEC_FUNC:
        module.functions = [r.uleb() for _ in range(r.uleb())]
    elif section_id == SEC_TABLE:
        for _ in range(r.uleb()):
            r.byte()
            module.tables.append(_limits(r)[0])
    elif section_id == SEC_MEMORY:
        module.memories = [_limits(r) for _ in range(r.uleb())]
    elif section_id == SEC_GLOBAL:
        module.globals_count = r.uleb()
    elif section_id == SEC_EXPORT:
        module.exports = [(r.name(), r.byte(), r.uleb()) for _ in range(r.uleb())]
    elif section_id == SEC_START:
        module.start = r.uleb()
    elif section_id == SEC_ELEM:
        module.elem_count = r.uleb()
    elif section_id == SEC_CODE:
        for _ in range(r.uleb()):
            size = r.uleb()
            module.bodies.append((r.pos, r.pos + size))
            r.pos += size
    elif section_id == SEC_DATA:
        module.data_count = r.uleb()
        module.data_bytes = r.end - r.pos


def _limits(r: Reader) -> tuple[int, int | None]:
    flags = r.byte()
    minimum = r.uleb()
    return minimum, (r.uleb() if flags & 1 else None)


def _skip_import_desc(r: Reader, kind: int) -> None:
    if kind == KIND_TABLE:
        r.byte()
        _limits(r)
    elif kind == KIND_MEMORY:
        _limits(r)
    elif kind == KIND_GLOBAL:
        r.byte()
        r.byte()
    else:
        raise WasmFormatError(r.pos, f"unknown import kind {kind}")
