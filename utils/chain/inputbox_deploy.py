"""Locating or deploying Cartesi Rollups' InputBox (v2, from npm @cartesi/rollups) for a run.

The InputBox is the package's bytecode as checked in (stylus_contracts/cartesi/InputBox.json,
scripts/install_cartesi.sh). ``addInput`` takes any application address: without
CARTESI_APP_ADDRESS the run's application is an address derived from the InputBox's, the
same for every run on that InputBox, so a database's inputs stay with one application.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from eth_utils import keccak, to_checksum_address

from stylus_contracts import CARTESI_DIR, load_artifact
from utils.chain.rpc import hex_int
from utils.chain.session import ChainSession
from utils.errors import ChainError

__all__ = ["InputBoxDeployment", "default_app", "ensure_inputbox"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class InputBoxDeployment:
    address: str
    app: str
    deployment_block: int
    deployed: bool  # False: given by CARTESI_INPUT_BOX_ADDRESS (or recorded)
    deploy_gas: int = 0


def default_app(inputbox: str) -> str:
    """The application address of a run that names none."""
    return str(to_checksum_address(
        keccak(b"kcstress-iot-app" + bytes.fromhex(inputbox[2:]))[12:]))


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
        return InputBoxDeployment(to_checksum_address(address), app or default_app(address),
                                  block, False)
    artifact = load_artifact("InputBox", CARTESI_DIR)
    ((created, receipt),) = await session.funder.create([artifact.bytecode])
    block = hex_int(receipt["blockNumber"])
    log.info("deployed Cartesi's InputBox (@cartesi/rollups 2.2.0) at %s in block %d",
             created, block)
    return InputBoxDeployment(to_checksum_address(created), app or default_app(created), block,
                              True, hex_int(receipt["gasUsed"]))
