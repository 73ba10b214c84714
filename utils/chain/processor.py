"""Locating or deploying MVPIoTProcessor for a run."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from stylus_contracts import load_abi, load_artifact
from utils.chain.connect import deploy
from utils.chain.rpc import hex_int
from utils.chain.session import ChainSession
from utils.errors import ChainError
from utils.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Processor:
    address: str
    abi: list[dict[str, Any]]
    flavour: str  # "evm", "stylus", or "configured"
    deploy_gas: int = 0


async def ensure_processor(session: ChainSession, settings: Settings) -> Processor:
    """The configured contract, else a fresh deployment (Stylus program or EVM twin)."""
    abi = load_abi(settings.contract_abi) if settings.contract_abi else load_artifact().abi
    if settings.contract_address:
        code = await session.rpc.call("eth_getCode", settings.contract_address, "latest")
        if code in (None, "0x", ""):
            raise ChainError(f"MVP_IOT_PROCESSOR_ADDRESS {settings.contract_address} has no code")
        return Processor(settings.contract_address, abi, "configured")
    if settings.contract == "stylus" and session.info.embedded:
        return await _deploy_stylus(session, abi)
    artifact = load_artifact()
    address, receipt = await deploy(session.rpc, session.info.funder_key, session.info.chain_id,
                                    session.fees, artifact.bytecode)
    log.info("deployed the MVPIoTProcessor EVM twin at %s", address)
    return Processor(address, artifact.abi, "evm", hex_int(receipt["gasUsed"]))


async def _deploy_stylus(session: ChainSession, abi: list[dict[str, Any]]) -> Processor:
    from utils.chain.stylus_deploy import deploy_stylus_program

    address, gas = await deploy_stylus_program(session)
    log.info("deployed and activated the MVPIoTProcessor Stylus program at %s", address)
    return Processor(address, abi, "stylus", gas)
