"""The dApp contracts (stablecoin, payment router, lending pool): where their two builds
live and how to call them.

Each contract exists twice with one ABI and one storage layout: a ``#![no_std]`` Stylus
program (``wasm_dapps/<program>/lib.rs``, built to ``wasm_dapps/<program>.wasm`` by
``scripts/build_stylus_dapps.sh``) and a Solidity twin (``evm/<Name>.sol``, built to
``artifacts/<Name>.json`` by ``scripts/build_dapp_contracts.sh``). Nothing is read at import.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_abi import decode, encode
from eth_utils import keccak

from stylus_contracts import Artifact, ArtifactError, load_artifact

__all__ = [
    "DAPPS",
    "WASM_DAPPS_DIR",
    "DApp",
    "call_data",
    "decode_words",
    "event_topic",
    "load_dapp_artifact",
    "load_dapp_wasm",
    "selector",
]

WASM_DAPPS_DIR = Path(__file__).resolve().parent / "wasm_dapps"

#: token units per 1e18 wei, collateral factor (bps) and interest divisor of LendingPool
POOL_PRICE = 2_000_000_000
POOL_COLLATERAL_FACTOR_BPS = 7500
POOL_RATE_DIVISOR = 1_000_000
TOKEN_DECIMALS = 6
MAX_UINT256 = (1 << 256) - 1


@dataclass(frozen=True)
class DApp:
    """One contract: its Solidity name and its Stylus program's directory name."""

    name: str
    program: str

    @property
    def wasm_path(self) -> Path:
        return WASM_DAPPS_DIR / f"{self.program}.wasm"


DAPPS: dict[str, DApp] = {
    "token": DApp("KCStablecoin", "stablecoin"),
    "router": DApp("PaymentRouter", "router"),
    "pool": DApp("LendingPool", "lending"),
}


def load_dapp_wasm(role: str) -> bytes:
    """The committed Stylus build of ``role`` (token, router or pool)."""
    path = DAPPS[role].wasm_path
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ArtifactError(path, f"cannot read the Stylus program: {exc}") from exc


def load_dapp_artifact(role: str) -> Artifact:
    """The Solidity twin's artifact of ``role``."""
    return load_artifact(DAPPS[role].name)


def selector(signature: str) -> bytes:
    return keccak(text=signature)[:4]


def event_topic(signature: str) -> bytes:
    return keccak(text=signature)


def _types(signature: str) -> list[str]:
    inner = signature[signature.index("(") + 1 : -1]
    return [t for t in inner.split(",") if t]


def call_data(signature: str, *args: Any) -> bytes:
    """``selector(signature) . abi.encode(args)``, e.g. ``call_data("pay(address,uint256,
    bytes32)", merchant, 5, ref)``."""
    return selector(signature) + encode(_types(signature), list(args))


def decode_words(types: list[str], data: bytes) -> tuple[Any, ...]:
    return tuple(decode(types, data))
