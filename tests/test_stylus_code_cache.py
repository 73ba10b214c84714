"""The Stylus code's brotli memo on disk gives the very bytes a fresh compression gives."""

from __future__ import annotations

import hashlib
from pathlib import Path

import brotli

from utils.chain.stylus_code import compressed, default_program_wasm


def test_cached_code_is_the_fresh_compression_and_a_bad_entry_is_replaced(tmp_path: Path) -> None:
    wasm = default_program_wasm()
    fresh = brotli.compress(wasm, quality=11, lgwin=22)
    assert compressed(wasm, tmp_path) == fresh
    (entry,) = tmp_path.iterdir()
    assert entry.read_bytes() == fresh
    assert entry.name.startswith(hashlib.sha256(wasm).hexdigest())
    assert compressed(wasm, tmp_path) == fresh  # read back
    other = brotli.compress(b"\x00asm another program", quality=11, lgwin=22)
    entry.write_bytes(other)  # a valid brotli stream of something else: not used
    assert compressed(wasm, tmp_path) == fresh and entry.read_bytes() == fresh
    entry.write_bytes(b"not brotli")
    assert compressed(wasm, tmp_path) == fresh


def test_an_unusable_cache_folder_only_costs_the_compression(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where the folder should be")
    wasm = default_program_wasm()
    assert compressed(wasm, blocker / "cache") == brotli.compress(wasm, quality=11, lgwin=22)
