"""Locating or deploying MVPIoTProcessor for a run."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from stylus_contracts import load_abi, load_artifact
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
    if settings.contract == "stylus" and (session.info.embedded or await _wants_stylus(
            session, settings)):
        return await _deploy_stylus(session, abi, settings.stylus_cache)
    artifact = load_artifact()
    ((address, receipt),) = await session.funder.create([artifact.bytecode])
    log.info("deployed the MVPIoTProcessor EVM twin at %s", address)
    return Processor(address, artifact.abi, "evm", hex_int(receipt["gasUsed"]))


async def _wants_stylus(session: ChainSession, settings: Settings) -> bool:
    """On a given chain: Stylus when it has Stylus; without it, the EVM twin unless
    ``--contract stylus`` was asked for explicitly (then the deploy refuses: exit 2)."""
    from utils.chain.stylus_deploy import stylus_version

    if "contract" in settings.model_fields_set:
        return True
    if await stylus_version(session.rpc) is not None:
        return True
    log.info("the chain has no Stylus (ArbWasm does not answer): deploying the EVM twin")
    return False


async def _deploy_stylus(session: ChainSession, abi: list[dict[str, Any]],
                         cache: bool) -> Processor:
    from utils.chain.stylus_deploy import deploy_stylus_program

    deployment = await deploy_stylus_program(session, cache=cache)
    log.info("deployed the MVPIoTProcessor Stylus program at %s (%s)", deployment.address,
             "activation reused" if deployment.reused_activation
             else f"activated, data fee {deployment.data_fee_wei} wei")
    return Processor(deployment.address, abi, "stylus", deployment.gas_used)
