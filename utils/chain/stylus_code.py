"""The Stylus code format as Nitro defines it: program encoding, deployment helpers, ArbWasm.

Shared by the client side (deploying on any Stylus chain) and the embedded chain's host,
which implements the same format.

Deployment follows Nitro: a normal creation transaction whose init code returns the
program code ``EF F0 00 <dictionary byte> <brotli(wasm)>`` (dictionary 0 = none), then
``ArbWasm.activateProgram(address)`` on the precompile at 0x…71. Use
:func:`stylus_init_code` for the creation tx data and :func:`activate_calldata` for the
activation tx data; any transaction engine can send both.
"""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path

import brotli
from eth_typing import Address
from eth_utils import keccak

from utils.errors import KcStressError

__all__ = [
    "ARB_WASM_ADDRESS",
    "StylusCodeError",
    "activate_calldata",
    "address_calldata",
    "decompress_program",
    "default_program_wasm",
    "is_stylus_program",
    "stylus_code",
    "stylus_init_code",
]

ARB_WASM_ADDRESS = Address(bytes.fromhex("0000000000000000000000000000000000000071"))
STYLUS_DISCRIMINANT = b"\xef\xf0\x00"
EMPTY_DICTIONARY = 0
MAX_WASM_SIZE = 128 * 1024
MAX_CODE_SIZE = 24576  # EIP-170, also enforced on Stylus code by Nitro

SELECTOR_ACTIVATE = keccak(text="activateProgram(address)")[:4]
SELECTOR_STYLUS_VERSION = keccak(text="stylusVersion()")[:4]
SELECTOR_CODEHASH_VERSION = keccak(text="codehashVersion(bytes32)")[:4]
SELECTOR_PROGRAM_VERSION = keccak(text="programVersion(address)")[:4]
SELECTOR_INK_PRICE = keccak(text="inkPrice()")[:4]
SELECTOR_PAGE_LIMIT = keccak(text="pageLimit()")[:4]
ERROR_NOT_WASM = keccak(text="ProgramNotWasm()")[:4]
ERROR_NOT_ACTIVATED = keccak(text="ProgramNotActivated()")[:4]
ERROR_UP_TO_DATE = keccak(text="ProgramUpToDate()")[:4]
ERROR_NEEDS_UPGRADE = keccak(text="ProgramNeedsUpgrade(uint16,uint16)")[:4]
EVENT_ACTIVATED = keccak(text="ProgramActivated(bytes32,bytes32,address,uint256,uint16)")

# ArbWasmCache (0x…72) and ArbOwnerPublic (0x…6b): Nitro's program cache and who may fill it
# (OffchainLabs/nitro precompiles/ArbWasmCache.go, ArbOwnerPublic.go; nitro-contracts
# src/precompiles/ArbWasmCache.sol, ArbOwnerPublic.sol)
ARB_WASM_CACHE_ADDRESS = Address(bytes.fromhex("0000000000000000000000000000000000000072"))
ARB_OWNER_PUBLIC_ADDRESS = Address(bytes.fromhex("000000000000000000000000000000000000006b"))
SELECTOR_CACHE_PROGRAM = keccak(text="cacheProgram(address)")[:4]
SELECTOR_CACHE_CODEHASH = keccak(text="cacheCodehash(bytes32)")[:4]
SELECTOR_EVICT_CODEHASH = keccak(text="evictCodehash(bytes32)")[:4]
SELECTOR_CODEHASH_IS_CACHED = keccak(text="codehashIsCached(bytes32)")[:4]
SELECTOR_IS_CACHE_MANAGER = keccak(text="isCacheManager(address)")[:4]
SELECTOR_ALL_CACHE_MANAGERS = keccak(text="allCacheManagers()")[:4]
SELECTOR_IS_CHAIN_OWNER = keccak(text="isChainOwner(address)")[:4]
SELECTOR_ALL_CHAIN_OWNERS = keccak(text="getAllChainOwners()")[:4]
EVENT_UPDATE_PROGRAM_CACHE = keccak(text="UpdateProgramCache(address,bytes32,bool)")

_PROGRAM_WASM = Path(__file__).resolve().parents[2] / "stylus_contracts" / "wasm"


class StylusCodeError(KcStressError, ValueError):
    """Code is not a (decodable) Stylus program."""


def default_program_wasm() -> bytes:
    """The committed MVPIoTProcessor WASM (``scripts/build_stylus.sh`` rebuilds it)."""
    return (_PROGRAM_WASM / "mvp_iot_processor.wasm").read_bytes()


def is_stylus_program(code: bytes) -> bool:
    return len(code) > len(STYLUS_DISCRIMINANT) and code[:3] == STYLUS_DISCRIMINANT


@functools.lru_cache(maxsize=16)
def stylus_code(wasm: bytes) -> bytes:
    """Contract code for ``wasm``: the Stylus prefix, dictionary 0, brotli (as cargo-stylus).
    Remembered per program (a deployment needs it twice: its code hash, its init code) and
    on disk (:func:`compressed`)."""
    code = STYLUS_DISCRIMINANT + bytes([EMPTY_DICTIONARY]) + compressed(wasm)
    if len(code) > MAX_CODE_SIZE:
        raise StylusCodeError(f"compressed program is {len(code)} bytes, over {MAX_CODE_SIZE}")
    return code


def compressed(wasm: bytes, cache_dir: Path | None = None) -> bytes:
    """``brotli.compress(wasm, quality=11, lgwin=22)``, which takes 40-100 ms a program, kept
    in ``cache_dir`` (default ``$XDG_CACHE_HOME/kcstress/stylus-code``) under the SHA-256 of
    the program and the brotli version: the same bytes as compressing again. An entry is used
    only if it decompresses to ``wasm``; a cache that cannot be read or written is skipped."""
    folder = cache_dir if cache_dir is not None else Path(
        os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "kcstress" / "stylus-code"
    path = folder / f"{hashlib.sha256(wasm).hexdigest()}-brotli{brotli.__version__}-q11w22.br"
    try:
        cached = path.read_bytes()
        if brotli.decompress(cached) == wasm:
            return cached
    except (OSError, brotli.error):
        pass
    data: bytes = brotli.compress(wasm, quality=11, lgwin=22)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        partial.write_bytes(data)
        partial.replace(path)  # atomic: a reader sees all of it or nothing
    except OSError:
        pass
    return data


def stylus_init_code(wasm: bytes) -> bytes:
    """EVM init code that deploys ``wasm`` as a Stylus program: CODECOPY the code that follows
    this 13-byte prefix to memory 0 and RETURN it."""
    code = stylus_code(wasm)
    size = len(code).to_bytes(2, "big")
    prefix = b"\x61" + size + b"\x80\x61\x00\x0d\x60\x00\x39\x60\x00\xf3"
    return prefix + code


def activate_calldata(program: bytes | str) -> bytes:
    """Calldata of ``ArbWasm.activateProgram(program)`` (send it to :data:`ARB_WASM_ADDRESS`)."""
    address = bytes.fromhex(program.removeprefix("0x")) if isinstance(program, str) else program
    if len(address) != 20:
        raise StylusCodeError(f"program address must be 20 bytes, got {len(address)}")
    return SELECTOR_ACTIVATE + address.rjust(32, b"\x00")


def address_calldata(selector: bytes, address: bytes | str) -> bytes:
    """Calldata of a one-address method (``cacheProgram``, ``isChainOwner``, ...)."""
    raw = bytes.fromhex(address.removeprefix("0x")) if isinstance(address, str) else address
    if len(raw) != 20:
        raise StylusCodeError(f"address must be 20 bytes, got {len(raw)}")
    return selector + raw.rjust(32, b"\x00")


def decompress_program(code: bytes) -> bytes:
    """The WASM inside Stylus contract code, bounded to Nitro's 128 KiB."""
    if not is_stylus_program(code):
        raise StylusCodeError("code does not start with the Stylus prefix EF F0 00")
    if code[3] != EMPTY_DICTIONARY:
        raise StylusCodeError(f"unsupported dictionary type: {code[3]}")
    decompressor = brotli.Decompressor()
    try:
        wasm = decompressor.process(code[4:], output_buffer_limit=MAX_WASM_SIZE + 1)
    except brotli.error as exc:
        raise StylusCodeError(f"brotli: {exc}") from exc
    if len(wasm) > MAX_WASM_SIZE or not decompressor.is_finished():
        raise StylusCodeError(f"decompressed program is larger than {MAX_WASM_SIZE} bytes")
    return wasm
