"""Deploying the dApp contracts (stablecoin, payment router, lending pool) for a run, and
the set-up transactions around them. Nothing here is measured.

Flavour ``stylus`` deploys and activates the three ``#![no_std]`` Stylus programs (the
router and the pool then call the token program: WASM calling WASM); flavour ``evm``
deploys their Solidity twins. Either way the funder deploys, initialises (it owns the
token) and mints; the wallets approve and deposit through a set-up engine.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from eth_utils import to_checksum_address

from stylus_contracts.dapps import call_data, load_dapp_artifact, load_dapp_wasm
from utils.chain.fees import FeePolicy
from utils.chain.rpc import Rpc, hex_int
from utils.chain.session import ChainSession
from utils.chain.stylus_cache import cache_programs
from utils.chain.stylus_deploy import (
    DATA_FEE_BUMP_PERCENT,
    DeployedProgram,
    SentActivation,
    deploy_programs,
    finish_activations,
    send_activations,
    stylus_version,
)
from utils.chain.tx_engine import TxEngine
from utils.chain.tx_request import TRANSFER_GAS, TxRequest
from utils.chain.wallets import Wallet
from utils.errors import ChainError
from utils.observe.events import Outcome, TxEvent

__all__ = [
    "SETUP_GAS",
    "DAppContracts",
    "SetupStep",
    "chain_has_stylus",
    "deploy_dapps",
    "eth_call",
    "run_setup",
]

log = logging.getLogger(__name__)

ROLES = ("token", "router", "pool")
SETUP_GAS = 400_000  # initialise / mint / approve / deposit / setSettlementAddress at most


@dataclass(frozen=True)
class DAppContracts:
    flavour: str  # "stylus" or "evm"
    token: str
    router: str
    pool: str
    deploy_gas: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"flavour": self.flavour, "token": self.token, "router": self.router,
                "pool": self.pool, "deploy_gas": dict(self.deploy_gas)}


@dataclass(frozen=True)
class SetupStep:
    """One set-up transaction: ``sender`` calls ``to`` with ``data``."""

    sender: Wallet
    to: str
    data: bytes
    what: str
    value: int = 0


def l1_allowance(fees: FeePolicy) -> int:
    """Gas to add to a dApp call's limit for Nitro's L1 data charge: three times what a plain
    transfer pays for it (a call's signed bytes are about twice a transfer's); 0 where the
    chain charges none."""
    return 3 * max(0, fees.transfer_gas - TRANSFER_GAS)


async def chain_has_stylus(rpc: Rpc) -> bool:
    return await stylus_version(rpc) is not None


async def deploy_dapps(session: ChainSession, flavour: str, *,
                      cache: bool = True) -> DAppContracts:
    """Deploy the three contracts in ``flavour`` and initialise them (token owner: funder):
    the creations in one burst, then (Stylus) the activations and, right behind them, the
    initialisations, all through the funder's lane."""
    activations: list[SentActivation] = []
    programs: list[DeployedProgram] = []
    if flavour == "stylus":
        programs = await deploy_programs(session, [load_dapp_wasm(role) for role in ROLES])
        activations = await send_activations(session, programs, DATA_FEE_BUMP_PERCENT)
        created = [(p.address, p.deploy_gas) for p in programs]
    else:
        created = [(address, hex_int(receipt["gasUsed"])) for address, receipt in
                   await session.funder.create([load_dapp_artifact(r).bytecode for r in ROLES])]
    addresses = {role: to_checksum_address(address)
                 for role, (address, _gas) in zip(ROLES, created, strict=True)}
    gas = {role: used for role, (_address, used) in zip(ROLES, created, strict=True)}
    calls = [(addresses["token"], call_data("initialize(address)", session.funder.address))]
    calls += [(addresses[role], call_data("initialize(address)", addresses["token"]))
              for role in ("router", "pool")]
    hashes = [await session.funder.send(to, data, gas=SETUP_GAS + l1_allowance(session.fees))
              for to, data in calls]
    # no activations for the EVM twins: nothing to add
    activated = await finish_activations(session, activations)
    if cache:  # calls to cached programs pay Nitro's cached init gas only
        await cache_programs(session, [(p.address, p.codehash) for p in programs])
    for role, deployment in zip(ROLES, activated, strict=False):
        gas[role] = deployment.gas_used
    for (to, _data), tx_hash, receipt in zip(calls, hashes,
                                             await session.funder.receipts(hashes), strict=True):
        if hex_int(receipt["status"]) != 1:
            raise ChainError(f"set-up call to {to} failed ({tx_hash})")
    contracts = DAppContracts(flavour, addresses["token"], addresses["router"],
                              addresses["pool"], gas)
    log.info("deployed the dApp contracts (%s): token %s, router %s, pool %s", flavour,
             contracts.token, contracts.router, contracts.pool)
    return contracts


async def _funder_call(session: ChainSession, to: str, data: bytes) -> dict[str, Any]:
    """One set-up call from the funder, through its lane, waited for."""
    tx_hash = await session.funder.send(to, data, gas=SETUP_GAS + l1_allowance(session.fees))
    (receipt,) = await session.funder.receipts([tx_hash])
    if hex_int(receipt["status"]) != 1:
        raise ChainError(f"set-up call to {to} failed ({tx_hash})")
    return receipt


async def run_setup(engine: TxEngine, steps: Sequence[SetupStep]) -> list[TxEvent]:
    """Send ``steps`` pipelined (each sender's in order) through a set-up engine; any
    failure stops the run before its load starts."""
    events = await asyncio.gather(*(
        engine.submit(TxRequest("setup", step.what, step.sender, step.to, step.value,
                                step.data, SETUP_GAS + l1_allowance(engine.fees)))
        for step in steps))
    failed = [(step, event) for step, event in zip(steps, events, strict=True)
              if event.outcome is not Outcome.SUCCESS]
    if failed:
        step, event = failed[0]
        raise ChainError(f"{len(failed)} dApp set-up transactions failed; first: {step.what} "
                         f"from {step.sender.address}: {event.outcome} {event.error} "
                         f"{event.tx_hash}")
    return list(events)


async def eth_call(rpc: Rpc, to: str, data: bytes, block: str = "latest") -> bytes:
    """A read (``eth_call`` at ``block``) returning the raw output."""
    out = await rpc.call("eth_call", {"to": to, "data": "0x" + data.hex()}, block)
    text = str(out or "0x")
    return bytes.fromhex(text[2:])


async def settle_pending(rpc: Rpc, senders: Sequence[str], timeout: float) -> int:
    """Wait until no transaction of ``senders`` is pending (each one's pending nonce equals
    its mined one) or ``timeout`` passes; returns how many senders still have some."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        calls = [("eth_getTransactionCount", [a, tag]) for a in senders
                 for tag in ("pending", "latest")]
        counts = await rpc.batch(calls)
        waiting = sum(1 for i in range(0, len(counts), 2)
                      if not isinstance(counts[i], Exception) and counts[i] != counts[i + 1])
        if waiting == 0 or loop.time() >= deadline:
            return waiting
        await asyncio.sleep(0.25)
