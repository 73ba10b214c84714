"""The committed Stylus program is reproducible from source with Debian's rustc."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.conftest import require_tool
from utils.chain.stylus_code import default_program_wasm

REPO = Path(__file__).resolve().parent.parent


def test_rebuild_gives_the_committed_wasm_bytes(tmp_path: Path) -> None:
    require_tool("rust-wasm", "Debian's rustc with the wasm32 std and lld")
    out = tmp_path / "rebuilt.wasm"
    build = subprocess.run(
        ["bash", str(REPO / "scripts" / "build_stylus.sh"), str(out)],
        capture_output=True, text=True, timeout=600, check=False,
    )
    assert build.returncode == 0, build.stderr
    assert out.read_bytes() == default_program_wasm()
