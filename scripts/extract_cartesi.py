"""Extract the Cartesi Rollups contracts kcstress deploys from the npm package into
``stylus_contracts/cartesi/`` (the checked-in artifacts).

    python scripts/extract_cartesi.py --package .tools/cartesi/node_modules/@cartesi/rollups
    python scripts/extract_cartesi.py --package ... --check   # exit 1 if a file differs

``scripts/install_cartesi.sh --extract`` installs the pinned package and runs this. Each
artifact keeps the package's ABI, creation and runtime bytecode as published (Foundry's
``out/<Source>.sol/<Contract>.json``), with the package version, source path, compiler and
EVM version it was built with. ``tests/test_cartesi_artifacts.py`` compares them with the
installed package through :func:`artifact_from_package`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "stylus_contracts" / "cartesi"
#: contract name -> Foundry output file inside the package (InputBox, and the Application with
#: its Authority a Cartesi node reads: deployed; Inputs: the EvmAdvance layout the reader
#: decodes; DataAvailability: how an Application names its InputBox)
CONTRACTS = {
    "InputBox": "out/InputBox.sol/InputBox.json",
    "Application": "out/Application.sol/Application.json",
    "Authority": "out/Authority.sol/Authority.json",
    "Inputs": "out/Inputs.sol/Inputs.json",
    "DataAvailability": "out/DataAvailability.sol/DataAvailability.json",
}


def artifact_from_package(package: Path, name: str) -> dict[str, Any]:
    """The artifact of contract ``name`` as this project keeps it, read from ``package``."""
    meta = json.loads((package / "package.json").read_text(encoding="utf-8"))
    built = json.loads((package / CONTRACTS[name]).read_text(encoding="utf-8"))
    metadata = built.get("metadata") or {}
    settings = metadata.get("settings") or {}
    target = settings.get("compilationTarget") or {}
    return {
        "contractName": name,
        "package": f"{meta['name']}@{meta['version']}",
        "packageFile": CONTRACTS[name],
        "source": next(iter(target), ""),
        "compiler": (metadata.get("compiler") or {}).get("version", ""),
        "evmVersion": settings.get("evmVersion", ""),
        "abi": built["abi"],
        "bytecode": built["bytecode"]["object"],
        "deployedBytecode": built["deployedBytecode"]["object"],
    }


def render(artifact: dict[str, Any]) -> str:
    return json.dumps(artifact, indent=2, sort_keys=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--package", type=Path, required=True,
                        help="the installed @cartesi/rollups folder")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 when a checked-in artifact differs")
    args = parser.parse_args(argv)
    stale = []
    for name in CONTRACTS:
        text = render(artifact_from_package(args.package, name))
        path = OUT_DIR / f"{name}.json"
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(str(path))
            continue
        OUT_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path.relative_to(ROOT)}")
    if stale:
        print("stale (run scripts/install_cartesi.sh --extract): " + ", ".join(stale),
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
