"""Built contract artifacts (ABI + bytecode) and user-given ABI files, typed.

``load_artifact()`` reads ``stylus_contracts/artifacts/<name>.json`` written by
``scripts/build_contracts.sh``; ``load_abi(path)`` reads an ABI for an existing
deployment, e.g. ``abi/MVPIoTProcessor.legacy.json`` for the original ``uint8[]`` one.
Nothing is read at import time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from utils.errors import KcStressError

__all__ = [
    "ABI_DIR",
    "ARTIFACTS_DIR",
    "CARTESI_DIR",
    "Artifact",
    "ArtifactError",
    "load_abi",
    "load_artifact",
]

ARTIFACTS_DIR = Path(__file__).resolve().parent / "artifacts"
ABI_DIR = Path(__file__).resolve().parent / "abi"
#: Cartesi Rollups contracts extracted from npm ``@cartesi/rollups`` (scripts/install_cartesi.sh)
CARTESI_DIR = Path(__file__).resolve().parent / "cartesi"

_ABI_ENTRY_TYPES = frozenset({"function", "event", "error", "constructor", "fallback", "receive"})


class ArtifactError(KcStressError, ValueError):
    """An artifact or ABI file is missing or malformed. ``path`` names the file."""

    def __init__(self, path: Path, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path


@dataclass(frozen=True)
class Artifact:
    """A compiled contract: its ABI and creation / runtime bytecode."""

    name: str
    abi: list[dict[str, Any]]
    bytecode: bytes
    deployed_bytecode: bytes


def load_artifact(name: str = "MVPIoTProcessor", directory: Path = ARTIFACTS_DIR) -> Artifact:
    """Load the built artifact ``name`` from ``directory`` (:data:`ARTIFACTS_DIR`, or
    :data:`CARTESI_DIR` for Cartesi's contracts)."""
    path = directory / f"{name}.json"
    data = _read_json(path)
    if not isinstance(data, dict):
        raise ArtifactError(path, "artifact must be a JSON object")
    if data.get("contractName") != name:
        raise ArtifactError(path, f"contractName is {data.get('contractName')!r}, not {name!r}")
    bytecode = _hex_field(path, data, "bytecode")
    if not bytecode:
        raise ArtifactError(path, "bytecode is empty")
    return Artifact(
        name=name,
        abi=_check_abi(path, data.get("abi")),
        bytecode=bytecode,
        deployed_bytecode=_hex_field(path, data, "deployedBytecode"),
    )


def load_abi(path: Path) -> list[dict[str, Any]]:
    """Load an ABI from ``path``: a JSON list of entries, or an object with an ``abi`` key
    (this project's, hardhat's or foundry's artifact format)."""
    data = _read_json(path)
    if isinstance(data, dict):
        if "abi" not in data:
            raise ArtifactError(path, "JSON object has no 'abi' key")
        data = data["abi"]
    return _check_abi(path, data)


def _read_json(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ArtifactError(path, f"cannot read: {exc.strerror or exc}") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ArtifactError(path, f"not valid JSON: {exc}") from exc


def _check_abi(path: Path, abi: Any) -> list[dict[str, Any]]:
    if not isinstance(abi, list) or not abi:
        raise ArtifactError(path, "ABI must be a non-empty JSON list")
    for index, entry in enumerate(abi):
        if not isinstance(entry, dict):
            raise ArtifactError(path, f"ABI entry {index} is not an object")
        kind = entry.get("type", "function")
        if kind not in _ABI_ENTRY_TYPES:
            raise ArtifactError(path, f"ABI entry {index} has unknown type {kind!r}")
        if kind in {"function", "event", "error"} and not isinstance(entry.get("name"), str):
            raise ArtifactError(path, f"ABI entry {index} ({kind}) has no name")
        if not isinstance(entry.get("inputs", []), list):
            raise ArtifactError(path, f"ABI entry {index} has non-list inputs")
    return abi


def _hex_field(path: Path, data: dict[str, Any], key: str) -> bytes:
    value = data.get(key)
    if not isinstance(value, str):
        raise ArtifactError(path, f"{key} must be a hex string")
    digits = value.removeprefix("0x")
    try:
        return bytes.fromhex(digits)
    except ValueError as exc:
        raise ArtifactError(path, f"{key} is not valid hex") from exc
