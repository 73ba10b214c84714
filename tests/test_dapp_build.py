"""The dApp contracts' committed builds are reproducible, and both builds share one interface.

* the three Stylus programs rebuild byte for byte with Debian's rustc;
* the three Solidity artifacts rebuild byte for byte with the pinned solcjs;
* every selector / topic constant in the Rust sources is keccak of the signature in its
  comment, and every function, event and error of each Solidity ABI has one in its program;
* the compilers' storage layouts are the documented ones.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from eth_utils import keccak

from stylus_contracts.dapps import DAPPS, WASM_DAPPS_DIR, load_dapp_artifact, load_dapp_wasm
from tests.conftest import require_tool

REPO = Path(__file__).resolve().parent.parent
CONST = re.compile(r"const (\w+): (?:\[u8; 4\]|Word) = \[([^\]]+)\]; // (\S+)")
LAYOUTS = {
    "token": ["balances", "allowances", "supply", "owner_"],
    "router": ["token_", "escrow", "received", "settled", "settlementAddress", "payments"],
    "pool": ["token_", "deposits", "deposited", "borrowed", "earned", "loans", "open",
             "liquidated"],
}


def _constants(role: str) -> dict[str, bytes]:
    """signature -> bytes, from the program's source and the shared support module."""
    sources = [WASM_DAPPS_DIR / DAPPS[role].program / "lib.rs",
               WASM_DAPPS_DIR / "support" / "call.rs"]
    found = {}
    for source in sources:
        for _name, raw, signature in CONST.findall(source.read_text()):
            found[signature] = bytes(int(b, 16) for b in raw.split(","))
    return found


def _signature(entry: dict) -> str:
    return f"{entry['name']}({','.join(i['type'] for i in entry['inputs'])})"


@pytest.mark.parametrize("role", sorted(DAPPS))
def test_rust_constants_are_the_solidity_interface(role: str) -> None:
    constants = _constants(role)
    for signature, value in constants.items():
        digest = keccak(text=signature)
        assert value == digest[: len(value)], f"{role}: constant for {signature} is wrong"
    abi = load_dapp_artifact(role).abi
    wanted = {_signature(e) for e in abi if e["type"] in ("function", "event", "error")}
    assert wanted <= set(constants), f"{role}: missing in the program: {wanted - set(constants)}"


@pytest.mark.parametrize("role", sorted(DAPPS))
def test_storage_layout_is_the_documented_one(role: str) -> None:
    import json

    path = REPO / "stylus_contracts" / "artifacts" / f"{DAPPS[role].name}.json"
    layout = json.loads(path.read_text())["storageLayout"]["storage"]
    assert [(s["label"], int(s["slot"]), s["offset"]) for s in layout] == [
        (label, slot, 0) for slot, label in enumerate(LAYOUTS[role])
    ]


def test_solidity_artifacts_rebuild_identically() -> None:
    require_tool("solc", "the pinned solcjs")
    check = subprocess.run(["bash", str(REPO / "scripts" / "build_dapp_contracts.sh"), "--check"],
                           capture_output=True, text=True, timeout=600, check=False)
    assert check.returncode == 0, check.stderr


def test_stylus_programs_rebuild_identically(tmp_path: Path) -> None:
    require_tool("rust-wasm", "Debian's rustc with the wasm32 std and lld")
    build = subprocess.run(["bash", str(REPO / "scripts" / "build_stylus_dapps.sh"),
                            str(tmp_path)], capture_output=True, text=True, timeout=600,
                           check=False)
    assert build.returncode == 0, build.stderr
    for role, dapp in DAPPS.items():
        assert (tmp_path / f"{dapp.program}.wasm").read_bytes() == load_dapp_wasm(role), role
