"""Locating or deploying Cartesi Rollups' InputBox (v2, from npm @cartesi/rollups) for a run.

The contracts are the package's bytecode as checked in (stylus_contracts/cartesi/,
scripts/install_cartesi.sh). ``addInput`` takes any application address, but a Cartesi node
reads an application through its contract (its consensus, and the InputBox its
``getDataAvailability`` names): without CARTESI_APP_ADDRESS the run deploys the package's
``Authority`` (the funder its owner, :data:`EPOCH_LENGTH` blocks an epoch) and an
``Application`` validated by it, whose data availability is
``DataAvailability.InputBox(inputBox)``. Its template hash would be a Cartesi machine's; the
run has none (its application runs in process), so it is :data:`TEMPLATE_HASH`, the keccak of
a name that says so.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from eth_abi import encode
from eth_utils import keccak, to_checksum_address

from stylus_contracts import CARTESI_DIR, load_artifact
from utils.chain.rpc import hex_int
from utils.chain.session import ChainSession
from utils.errors import ChainError

__all__ = ["EPOCH_LENGTH", "TEMPLATE_HASH", "InputBoxDeployment", "ensure_inputbox"]

log = logging.getLogger(__name__)

EPOCH_LENGTH = 720  # blocks an Authority epoch (the Cartesi CLI's default)
TEMPLATE_HASH = keccak(b"kcstress: in-process application, no Cartesi machine")
SEL_DA_INPUT_BOX = keccak(text="InputBox(address)")[:4]


@dataclass(frozen=True, slots=True)
class InputBoxDeployment:
    address: str
    app: str
    deployment_block: int
    deployed: bool  # False: given by CARTESI_INPUT_BOX_ADDRESS (or recorded)
    deploy_gas: int = 0


async def deploy_application(session: ChainSession, inputbox: str) -> tuple[str, int]:
    """The package's Authority and an Application it validates, whose data availability is
    ``inputbox``: (application address, gas of both deployments)."""
    owner = session.funder.address
    authority = load_artifact("Authority", CARTESI_DIR).bytecode + encode(
        ["address", "uint256"], [owner, EPOCH_LENGTH])
    ((consensus, first),) = await session.funder.create([authority])
    availability = SEL_DA_INPUT_BOX + encode(["address"], [inputbox])
    application = load_artifact("Application", CARTESI_DIR).bytecode + encode(
        ["address", "address", "bytes32", "bytes"], [consensus, owner, TEMPLATE_HASH,
                                                     availability])
    ((app, second),) = await session.funder.create([application])
    log.info("deployed Cartesi's Authority at %s and Application at %s (data availability: "
             "InputBox %s)", consensus, app, inputbox)
    return str(to_checksum_address(app)), hex_int(first["gasUsed"]) + hex_int(second["gasUsed"])


async def _deployment_block(session: ChainSession, address: str) -> int:
    selector = keccak(text="getDeploymentBlockNumber()")[:4]
    raw = await session.rpc.call("eth_call", {"to": address, "data": "0x" + selector.hex()},
                                 "latest")
    return int(str(raw), 16) if raw not in (None, "0x", "") else 0


async def ensure_inputbox(
    session: ChainSession, address: str | None, app: str | None
) -> InputBoxDeployment:
    """The InputBox at ``address`` (it must have code), else a fresh deployment."""
    if address:
        code = await session.rpc.call("eth_getCode", address, "latest")
        if code in (None, "0x", ""):
            raise ChainError(f"CARTESI_INPUT_BOX_ADDRESS {address} has no code")
        block = await _deployment_block(session, address)
        gas = 0
        if app:
            app = str(to_checksum_address(app))
        else:
            app, gas = await deploy_application(session, address)
        return InputBoxDeployment(to_checksum_address(address), app, block, False, gas)
    artifact = load_artifact("InputBox", CARTESI_DIR)
    ((created, receipt),) = await session.funder.create([artifact.bytecode])
    block = hex_int(receipt["blockNumber"])
    log.info("deployed Cartesi's InputBox (@cartesi/rollups 2.2.0) at %s in block %d",
             created, block)
    gas = hex_int(receipt["gasUsed"])
    if app:
        app = str(to_checksum_address(app))
    else:
        app, more = await deploy_application(session, created)
        gas += more
    return InputBoxDeployment(to_checksum_address(created), app, block, True, gas)
