"""Test and bench helpers: an eth-tester chain with Stylus, and deploy + activate on it.

For the JSON-RPC dev chain use the same two transactions through any tx engine:
``{"data": stylus_init_code(wasm)}`` (a creation), then
``{"to": ARB_WASM_ADDRESS, "data": activate_calldata(address)}``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_abi import decode
from eth_tester import EthereumTester, PyEVMBackend
from eth_tester.exceptions import TransactionFailed
from eth_utils import to_checksum_address

from utils.chain.stylus_code import (
    ARB_WASM_ADDRESS,
    SELECTOR_PROGRAM_VERSION,
    activate_calldata,
    stylus_init_code,
)
from utils.devchain.stylus.host import stylus_vm_configuration
from utils.devchain.stylus.runtime import StylusRuntime
from utils.errors import ChainError

__all__ = [
    "Deployment",
    "StylusDeployError",
    "data_fee",
    "deploy_program",
    "is_activated",
    "new_stylus_tester",
]

ARB_WASM = to_checksum_address(ARB_WASM_ADDRESS)


class StylusDeployError(ChainError):
    """Deploying or activating a program failed; ``step`` says which transaction."""

    def __init__(self, step: str, tx_hash: str) -> None:
        super().__init__(f"Stylus {step} transaction {tx_hash} failed")
        self.step = step
        self.tx_hash = tx_hash


@dataclass(frozen=True)
class Deployment:
    address: str
    deploy_gas: int
    activate_gas: int


def new_stylus_tester(runtime: StylusRuntime | None = None) -> EthereumTester:
    """An in-process chain (Prague rules + Stylus) with eth-tester's funded accounts."""
    backend = PyEVMBackend(vm_configuration=stylus_vm_configuration(None, runtime))
    return EthereumTester(backend)


def is_activated(tester: EthereumTester, address: str, sender: str) -> bool:
    """Whether ``address``'s code is an activated program (identical code deployed earlier
    shares its activation: Nitro keys activations by code hash)."""
    data = SELECTOR_PROGRAM_VERSION + bytes.fromhex(address[2:]).rjust(32, b"\x00")
    try:
        tester.call({"from": sender, "to": ARB_WASM, "data": "0x" + data.hex()})
    except TransactionFailed:
        return False
    return True


def data_fee(tester: EthereumTester, address: str, sender: str) -> int:
    """The activation data fee of ``address`` now, learned by simulating the activation."""
    out = tester.call({"from": sender, "to": ARB_WASM, "value": 10**18,
                       "data": "0x" + activate_calldata(address).hex()})
    return int(decode(["uint16", "uint256"], bytes.fromhex(out[2:]))[1])


def deploy_program(tester: EthereumTester, wasm: bytes, sender: str, *,
                   activate: bool = True, gas: int = 8_000_000) -> Deployment:
    """Deploy ``wasm`` as a Stylus program and (by default) activate it."""
    tx = tester.send_transaction(
        {"from": sender, "data": "0x" + stylus_init_code(wasm).hex(), "gas": gas}
    )
    receipt: dict[str, Any] = tester.get_transaction_receipt(tx)
    if receipt["status"] != 1 or not receipt["contract_address"]:
        raise StylusDeployError("deploy", tx)
    address = receipt["contract_address"]
    activate_gas = 0
    if activate and not is_activated(tester, address, sender):
        data = "0x" + activate_calldata(address).hex()
        value = data_fee(tester, address, sender) * 12 // 10  # cargo-stylus' 20 % margin
        tx = tester.send_transaction(
            {"from": sender, "to": ARB_WASM, "data": data, "gas": gas, "value": value}
        )
        activation = tester.get_transaction_receipt(tx)
        if activation["status"] != 1:
            raise StylusDeployError("activate", tx)
        activate_gas = activation["gas_used"]
    return Deployment(address, receipt["gas_used"], activate_gas)
