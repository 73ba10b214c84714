"""Genesis of the dev chain: py-evm's ``MiningChain`` as eth-tester's PyEVMBackend builds it.

``build_chain`` is the one place the chain is built, so the Stylus hook is one argument:
``build_chain(..., vm_configuration=stylus_vm_configuration(default_vm_configuration()))``.
It builds what ``PyEVMBackend(genesis_parameters=..., genesis_state=...,
vm_configuration=...)`` builds (eth-tester's ``setup_tester_chain``: its default genesis
parameters, the consensus amended to no proof, a gas limit kept constant from genesis, an
``AtomicDB`` in memory), without importing eth-tester: it imports eth-account, whose
eth-keyfile imports py_ecc's BLS curves, about 0.3 s of the chain child's start.
``tests/test_devchain_genesis.py`` checks it against eth-tester's.
"""

from __future__ import annotations

import time
from collections.abc import MutableMapping
from typing import Any

from eth.abc import BlockHeaderAPI, VirtualMachineAPI
from eth.chains.base import MiningChain
from eth.consensus import ConsensusApplier, NoProofConsensus
from eth.constants import (
    BLANK_ROOT_HASH,
    POST_MERGE_DIFFICULTY,
    POST_MERGE_MIX_HASH,
    POST_MERGE_NONCE,
    ZERO_ADDRESS,
)
from eth.db.atomic import AtomicDB
from eth.db.backends.memory import MemoryDB
from eth.vm.forks import PragueVM
from eth_utils import to_canonical_address

VmConfiguration = tuple[tuple[int, type[VirtualMachineAPI]], ...]


def default_vm_configuration() -> VmConfiguration:
    """The fork schedule of the dev chain: Prague from genesis (London+ fee market)."""
    return ((0, PragueVM),)


def genesis_params(gas_limit: int, timestamp: int | None = None) -> dict[str, Any]:
    """eth-tester's default (post-merge) genesis parameters with ``gas_limit``."""
    return {
        "coinbase": ZERO_ADDRESS,
        "difficulty": POST_MERGE_DIFFICULTY,
        "extra_data": b"",
        "gas_limit": gas_limit,
        "mix_hash": POST_MERGE_MIX_HASH,
        "nonce": POST_MERGE_NONCE,
        "receipt_root": BLANK_ROOT_HASH,
        "timestamp": int(time.time()) if timestamp is None else timestamp,
        "transaction_root": BLANK_ROOT_HASH,
    }


class DevMiningChain(MiningChain):
    """eth-tester's chain class: the gas limit stays the genesis one."""

    def create_header_from_parent(self, parent_header: BlockHeaderAPI,
                                  **header_params: Any) -> BlockHeaderAPI:
        return super().create_header_from_parent(
            parent_header, **{**header_params, "gas_limit": parent_header.gas_limit})

    def get_transaction_builder(self) -> Any:
        return super().get_vm().get_transaction_builder()


def build_chain(
    chain_id: int,
    gas_limit: int,
    funder_address: str,
    balance: int,
    vm_configuration: VmConfiguration | None = None,
    *,
    timestamp: int | None = None,
) -> Any:
    """A py-evm ``MiningChain`` with one prefunded account and a raised gas limit."""
    state = {
        to_canonical_address(funder_address): {
            "balance": balance,
            "nonce": 0,
            "code": b"",
            "storage": {},
        }
    }
    return chain_class(chain_id, vm_configuration).from_genesis(
        AtomicDB(), genesis_params(gas_limit, timestamp), state)


def chain_class(chain_id: int, vm_configuration: VmConfiguration | None) -> Any:
    """A class per chain, as eth-tester's: its id and schedule touch no other chain."""
    amended = ConsensusApplier(NoProofConsensus).amend_vm_configuration(
        vm_configuration or default_vm_configuration())
    return type("DevNodeChain", (DevMiningChain,), {
        "chain_id": chain_id, "vm_configuration": amended})


def reopen_chain(
    chain_id: int, kv_store: MutableMapping[bytes, bytes],
    vm_configuration: VmConfiguration | None = None,
) -> Any:
    """The chain a store already holds (its genesis and blocks), at its canonical head."""
    return chain_class(chain_id, vm_configuration)(AtomicDB(MemoryDB(kv_store)))  # type: ignore[arg-type]
