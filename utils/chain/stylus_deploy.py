"""Deploy and activate the MVPIoTProcessor Stylus program over JSON-RPC, on any Stylus chain.

As cargo-stylus does it (``stylus-tools`` ``check_activate``/``contract_exists``):

1. ask ArbWasm (0x…71) whether the code hash is already activated (``codehashVersion``);
2. a plain creation transaction whose init code returns ``EF F0 00 00 ‖ brotli(wasm)``;
3. unless the code hash was active: simulate ``activateProgram(address)`` with eth_call and
   ample value to learn the data fee, then send it paying the fee plus a margin
   (:data:`DATA_FEE_BUMP_PERCENT`, cargo-stylus' default); ArbWasm returns the excess.

Several programs go together (:func:`deploy_stylus_programs`): their creations are sent in
one burst through the funder's lane (:mod:`utils.chain.funder_lane`), then, once mined, their
activations in another, so a run's four programs take two blocks instead of eight.
:func:`send_activations` returns before the activations are mined: a caller may send calls
that need them right behind (the funder's transactions run in nonce order).

A chain without Stylus (ArbWasm does not answer ``stylusVersion``) is refused with
:class:`StylusUnavailableError` (a configuration error: exit 2).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from eth_abi import decode
from eth_utils import keccak

from utils.chain.rpc import Rpc, hex_int
from utils.chain.session import ChainSession
from utils.chain.stylus_cache import cache_programs
from utils.chain.stylus_code import (
    ARB_WASM_ADDRESS,
    SELECTOR_CODEHASH_VERSION,
    SELECTOR_STYLUS_VERSION,
    activate_calldata,
    default_program_wasm,
    stylus_code,
    stylus_init_code,
)
from utils.errors import ChainError, ConfigError, RpcError, RpcTransientError

log = logging.getLogger(__name__)

ACTIVATION_GAS = 3_000_000  # when the chain cannot estimate the activation
DATA_FEE_BUMP_PERCENT = 20
SIMULATION_VALUE_WEI = 10**18  # what cargo-stylus sends in the simulation: 1 ETH
ARB_WASM = "0x" + bytes(ARB_WASM_ADDRESS).hex()


class StylusUnavailableError(ConfigError):
    """``--contract stylus`` against a chain whose ArbWasm precompile does not answer."""


@dataclass(frozen=True)
class StylusDeployment:
    address: str
    gas_used: int  # deployment + activation transactions
    data_fee_wei: int  # what the activation paid (0 when the code hash was active already)
    reused_activation: bool


async def stylus_version(rpc: Rpc) -> int | None:
    """ArbWasm's Stylus version, or None on a chain without Stylus (no code at 0x71, a revert,
    any "not supported"). A transient failure, retried by the transport, is raised: never read
    as "no Stylus" (the run would deploy its EVM twins instead)."""
    try:
        call = {"to": ARB_WASM, "data": "0x" + SELECTOR_STYLUS_VERSION.hex()}
        out = await rpc.call("eth_call", call, "latest")
    except RpcTransientError:
        raise
    except RpcError:
        return None
    raw = bytes.fromhex(str(out)[2:]) if out else b""
    return int.from_bytes(raw, "big") if len(raw) == 32 else None


async def codehash_version(rpc: Rpc, codehash: bytes) -> int | None:
    """The Stylus version a code hash is activated at, or None if it is not (or expired)."""
    data = SELECTOR_CODEHASH_VERSION + codehash
    try:
        out = await rpc.call("eth_call", {"to": ARB_WASM, "data": "0x" + data.hex()}, "latest")
    except RpcTransientError:
        raise  # not an answer: activating again would pay the data fee twice
    except RpcError:
        return None  # ProgramNotActivated / NeedsUpgrade / Expired revert
    raw = bytes.fromhex(str(out)[2:]) if out else b""
    return int.from_bytes(raw, "big") if len(raw) == 32 else None


async def simulate_data_fee(rpc: Rpc, sender: str, program: str) -> int:
    """The data fee ``activateProgram(program)`` would charge now (eth_call with value)."""
    balance = hex_int(await rpc.call("eth_getBalance", sender, "latest"))
    call = {"from": sender, "to": ARB_WASM, "data": "0x" + activate_calldata(program).hex(),
            "value": hex(min(SIMULATION_VALUE_WEI, balance))}
    try:
        out = await rpc.call("eth_call", call, "latest")
    except RpcError as exc:
        raise ChainError(f"simulating the activation of {program} failed: {exc}") from exc
    _version, fee = decode(["uint16", "uint256"], bytes.fromhex(str(out)[2:]))
    return int(fee)


@dataclass(frozen=True)
class DeployedProgram:
    """A program's code on chain, not yet activated by this deployment."""

    address: str
    deploy_gas: int
    codehash: bytes
    active: int | None  # the version its code hash was active at already, else None


@dataclass(frozen=True)
class SentActivation:
    program: DeployedProgram
    fee: int  # the simulated data fee; 0 when the code hash is active already
    value: int
    tx_hash: str | None  # None: nothing to activate


async def deploy_stylus_program(
    session: ChainSession, wasm: bytes | None = None, *,
    bump_percent: int = DATA_FEE_BUMP_PERCENT, cache: bool = True,
) -> StylusDeployment:
    """Deploy the program and activate it unless its code hash is active already; with
    ``cache``, put it in ArbOS's program cache when the funder may."""
    (deployment,) = await deploy_stylus_programs(
        session, [wasm if wasm is not None else default_program_wasm()],
        bump_percent=bump_percent, cache=cache)
    return deployment


async def deploy_stylus_programs(
    session: ChainSession, wasms: Sequence[bytes], *,
    bump_percent: int = DATA_FEE_BUMP_PERCENT, cache: bool = True,
) -> list[StylusDeployment]:
    """Deploy every program (their creations in one burst), then activate them (one burst),
    then (``cache``) cache them (:func:`utils.chain.stylus_cache.cache_programs`)."""
    programs = await deploy_programs(session, wasms)
    deployments = await finish_activations(session, await send_activations(session, programs,
                                                                           bump_percent))
    if cache:
        await cache_programs(session, [(p.address, p.codehash) for p in programs])
    return deployments


async def deploy_programs(session: ChainSession, wasms: Sequence[bytes]) -> list[DeployedProgram]:
    """Send every program's creation through the funder's lane, then wait for them all."""
    info, rpc, lane = session.info, session.rpc, session.funder
    if await stylus_version(rpc) is None:
        raise StylusUnavailableError(
            "contract", f"the chain at {info.url} has no Stylus (ArbWasm at 0x71 does not "
            "answer stylusVersion()); use --contract evm")
    codehashes = [keccak(stylus_code(wasm)) for wasm in wasms]
    distinct = list(dict.fromkeys(codehashes))
    versions = dict(zip(distinct, await asyncio.gather(
        *(codehash_version(rpc, h) for h in distinct)), strict=True))
    created = await lane.create([stylus_init_code(wasm) for wasm in wasms])
    programs = [DeployedProgram(address, hex_int(receipt["gasUsed"]), codehash,
                                versions[codehash])
                for (address, receipt), codehash in zip(created, codehashes, strict=True)]
    return programs


async def send_activations(
    session: ChainSession, programs: Sequence[DeployedProgram], bump_percent: int
) -> list[SentActivation]:
    """Send ``activateProgram`` for each code hash not active yet (once per code hash),
    paying the simulated data fee plus ``bump_percent``; the receipts are not awaited."""
    rpc, lane = session.rpc, session.funder
    first: dict[bytes, DeployedProgram] = {}
    for program in programs:
        if program.active is None:
            first.setdefault(program.codehash, program)
    todo = list(first.values())
    fees = await asyncio.gather(*(simulate_data_fee(rpc, lane.address, p.address) for p in todo))
    values = [fee * (100 + bump_percent) // 100 for fee in fees]
    gases = await asyncio.gather(*(_activation_gas(session, p.address, v)
                                   for p, v in zip(todo, values, strict=True)))
    sent: dict[str, SentActivation] = {}
    for program, fee, value, gas in zip(todo, fees, values, gases, strict=True):
        tx_hash = await lane.send(ARB_WASM, activate_calldata(program.address), gas=gas,
                                  value=value)
        sent[program.address] = SentActivation(program, fee, value, tx_hash)
    return [sent.get(p.address) or SentActivation(p, 0, 0, None) for p in programs]


async def finish_activations(
    session: ChainSession, sent: Sequence[SentActivation]
) -> list[StylusDeployment]:
    """Wait for the activations; one :class:`StylusDeployment` per program."""
    hashes = [s.tx_hash for s in sent if s.tx_hash is not None]
    receipts = dict(zip(hashes, await session.funder.receipts(hashes), strict=True))
    out = []
    for s in sent:
        address = s.program.address
        if s.tx_hash is None:
            log.info("Stylus code hash already activated (version %s): reusing it at %s",
                     s.program.active, address)
            out.append(StylusDeployment(address, s.program.deploy_gas, 0, True))
            continue
        receipt = receipts[s.tx_hash]
        if hex_int(receipt["status"]) != 1:
            raise ChainError(f"activating the Stylus program at {address} failed ({s.tx_hash})")
        log.info("activated the Stylus program at %s: data fee %s wei (sent %s)", address,
                 s.fee, s.value)
        out.append(StylusDeployment(address, s.program.deploy_gas + hex_int(receipt["gasUsed"]),
                                    s.fee, False))
    return out


async def _activation_gas(session: ChainSession, address: str, value: int) -> int:
    data = "0x" + activate_calldata(address).hex()
    try:
        return await session.funder.estimate({"to": ARB_WASM, "data": data,
                                              "value": hex(value)}) * 12 // 10
    except RpcError as exc:
        log.info("activation gas estimate failed (%s); using %s", exc, ACTIVATION_GAS)
        return ACTIVATION_GAS
