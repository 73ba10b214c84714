"""Genesis of the dev chain: an ``EthereumTester`` over py-evm (eth-tester's PyEVMBackend).

``build_tester`` is the one place the backend is built, so the Stylus hook is one argument:
``build_tester(..., vm_configuration=stylus_vm_configuration(default_vm_configuration()))``.
"""

from __future__ import annotations

from eth.abc import VirtualMachineAPI
from eth.vm.forks import PragueVM
from eth_tester import EthereumTester, PyEVMBackend
from eth_utils import to_canonical_address

VmConfiguration = tuple[tuple[int, type[VirtualMachineAPI]], ...]


def default_vm_configuration() -> VmConfiguration:
    """The fork schedule of the dev chain: Prague from genesis (London+ fee market)."""
    return ((0, PragueVM),)


def build_tester(
    chain_id: int,
    gas_limit: int,
    funder_address: str,
    balance: int,
    vm_configuration: VmConfiguration | None = None,
) -> EthereumTester:
    """An ``EthereumTester`` over py-evm with one prefunded account and a raised gas limit."""
    params = PyEVMBackend.generate_genesis_params(overrides={"gas_limit": gas_limit})
    state = {
        to_canonical_address(funder_address): {
            "balance": balance,
            "nonce": 0,
            "code": b"",
            "storage": {},
        }
    }
    backend = PyEVMBackend(
        genesis_parameters=params,
        genesis_state=state,
        vm_configuration=vm_configuration or default_vm_configuration(),
    )
    # setup_tester_chain defines the chain class per call: setting its id touches no one else.
    type(backend.chain).chain_id = chain_id
    return EthereumTester(backend=backend, auto_mine_transactions=False)
