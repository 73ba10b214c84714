"""The Cartesi Rollups artifacts checked in under stylus_contracts/cartesi/ are the npm
package's (``@cartesi/rollups``, pinned in scripts/install_cartesi.sh, installed by
``make tools``), byte for byte in ABI and bytecode."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from eth_utils import keccak

from stylus_contracts import CARTESI_DIR, load_artifact

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "install_cartesi.sh"


def _package() -> Path:
    done = subprocess.run(["bash", str(SCRIPT), "--check"], capture_output=True, text=True,
                          timeout=60)
    if done.returncode != 0:
        pytest.skip(f"@cartesi/rollups not installed (make tools): {done.stderr.strip()}")
    return Path(done.stdout.strip())


def test_pinned_version_is_the_checked_in_one() -> None:
    pinned = re.search(r'CARTESI_ROLLUPS_VERSION:-([0-9.]+)', SCRIPT.read_text()).group(1)
    names = sorted(p.stem for p in CARTESI_DIR.glob("*.json"))
    assert names == ["Application", "Authority", "DataAvailability", "InputBox", "Inputs"]
    for name in names:
        data = json.loads((CARTESI_DIR / f"{name}.json").read_text())
        assert data["package"] == f"@cartesi/rollups@{pinned}"


def test_artifacts_match_the_package() -> None:
    package = _package()
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "extract_cartesi.py"), "--package",
         str(package), "--check"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    built = json.loads((package / "out/InputBox.sol/InputBox.json").read_text())
    art = load_artifact("InputBox", CARTESI_DIR)
    assert art.bytecode == bytes.fromhex(built["bytecode"]["object"][2:])
    assert art.abi == built["abi"]
    app = json.loads((package / "out/Application.sol/Application.json").read_text())
    assert load_artifact("Application", CARTESI_DIR).bytecode == bytes.fromhex(
        app["bytecode"]["object"][2:])


def test_inputbox_abi_has_what_the_node_calls() -> None:
    art = load_artifact("InputBox", CARTESI_DIR)
    names = {e.get("name") for e in art.abi}
    assert {"addInput", "getInputHash", "getNumberOfInputs", "getDeploymentBlockNumber",
            "InputAdded", "InputTooLarge"} <= names
    # addInput's selector as the package's methodIdentifiers name it
    assert keccak(text="addInput(address,bytes)")[:4].hex() == "1789cd63"
