"""Deploy and activate the MVPIoTProcessor Stylus program over JSON-RPC, on any Stylus chain.

As cargo-stylus does it (``stylus-tools`` ``check_activate``/``contract_exists``):

1. ask ArbWasm (0x…71) whether the code hash is already activated (``codehashVersion``);
2. a plain creation transaction whose init code returns ``EF F0 00 00 ‖ brotli(wasm)``;
3. unless the code hash was active: simulate ``activateProgram(address)`` with eth_call and
   ample value to learn the data fee, then send it paying the fee plus a margin
   (:data:`DATA_FEE_BUMP_PERCENT`, cargo-stylus' default); ArbWasm returns the excess.

A chain without Stylus (ArbWasm does not answer ``stylusVersion``) is refused with
:class:`StylusUnavailableError` (a configuration error: exit 2).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from eth_abi import decode
from eth_account import Account
from eth_utils import keccak

from utils.chain.connect import deploy, wait_receipt
from utils.chain.rpc import Rpc, hex_int
from utils.chain.session import ChainSession
from utils.chain.stylus_code import (
    ARB_WASM_ADDRESS,
    SELECTOR_CODEHASH_VERSION,
    SELECTOR_STYLUS_VERSION,
    activate_calldata,
    default_program_wasm,
    stylus_code,
    stylus_init_code,
)
from utils.errors import ChainError, ConfigError, RpcError

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
    """ArbWasm's Stylus version, or None on a chain without Stylus."""
    try:
        call = {"to": ARB_WASM, "data": "0x" + SELECTOR_STYLUS_VERSION.hex()}
        out = await rpc.call("eth_call", call, "latest")
    except RpcError:
        return None
    raw = bytes.fromhex(str(out)[2:]) if out else b""
    return int.from_bytes(raw, "big") if len(raw) == 32 else None


async def codehash_version(rpc: Rpc, codehash: bytes) -> int | None:
    """The Stylus version a code hash is activated at, or None if it is not (or expired)."""
    data = SELECTOR_CODEHASH_VERSION + codehash
    try:
        out = await rpc.call("eth_call", {"to": ARB_WASM, "data": "0x" + data.hex()}, "latest")
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


async def deploy_stylus_program(
    session: ChainSession, wasm: bytes | None = None, *, bump_percent: int = DATA_FEE_BUMP_PERCENT
) -> StylusDeployment:
    """Deploy the program and activate it unless its code hash is active already."""
    info, rpc = session.info, session.rpc
    if await stylus_version(rpc) is None:
        raise StylusUnavailableError(
            "contract", f"the chain at {info.url} has no Stylus (ArbWasm at 0x71 does not "
            "answer stylusVersion()); use --contract evm")
    program = wasm if wasm is not None else default_program_wasm()
    active = await codehash_version(rpc, keccak(stylus_code(program)))
    address, receipt = await deploy(rpc, info.funder_key, info.chain_id, session.fees,
                                    stylus_init_code(program))
    gas = hex_int(receipt["gasUsed"])
    if active is not None:
        log.info("Stylus code hash already activated (version %s): reusing it at %s",
                 active, address)
        return StylusDeployment(address, gas, 0, True)
    sender = Account.from_key(info.funder_key).address
    fee = await simulate_data_fee(rpc, sender, address)
    value = fee * (100 + bump_percent) // 100
    activation = await _send_activation(session, sender, address, value)
    log.info("activated the Stylus program at %s: data fee %s wei (sent %s)", address, fee, value)
    return StylusDeployment(address, gas + hex_int(activation["gasUsed"]), fee, False)


async def _send_activation(
    session: ChainSession, sender: str, address: str, value: int
) -> dict[str, Any]:
    info, rpc = session.info, session.rpc
    data = "0x" + activate_calldata(address).hex()
    try:
        estimate = hex_int(await rpc.call(
            "eth_estimateGas", {"from": sender, "to": ARB_WASM, "data": data, "value": hex(value)}))
        gas = estimate * 12 // 10
    except RpcError as exc:
        log.info("activation gas estimate failed (%s); using %s", exc, ACTIVATION_GAS)
        gas = ACTIVATION_GAS
    nonce = hex_int(await rpc.call("eth_getTransactionCount", sender, "pending"))
    tx: dict[str, Any] = {
        "chainId": info.chain_id, "nonce": nonce, "to": ARB_WASM, "value": value, "gas": gas,
        "data": activate_calldata(address), **session.fees.fields(),
    }
    signed = Account.sign_transaction(tx, info.funder_key)
    tx_hash = await rpc.call("eth_sendRawTransaction", "0x" + signed.raw_transaction.hex())
    receipt = await wait_receipt(rpc, tx_hash, 60)
    if hex_int(receipt["status"]) != 1:
        raise ChainError(f"activating the Stylus program at {address} failed ({tx_hash})")
    return receipt
