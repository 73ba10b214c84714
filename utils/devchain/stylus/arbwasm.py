"""The ArbWasm precompile at 0x…71: program activation and version queries.

``activateProgram(address) payable returns (uint16 version, uint256 dataFee)`` reads the
program's code, checks it against the Stylus rules, compiles it once and records an
activation word (Nitro's ``Program`` layout) in the storage of the 0x71 account, so
activation is part of chain state: it survives blocks and is undone with a revert.
A rule violation reverts with ``Error(string)`` naming the rule. The data fee is Nitro's
(:mod:`utils.devchain.nitro.data_pricer`, priced on the program's estimated machine-code
size): a call sending less value reverts with ``ProgramInsufficientValue(have, want)``; the
fee goes to the network fee account and the rest of the value back to the caller, as
Nitro's ``payActivationDataFee`` does. Simulate with eth_call (and enough value) to learn it.
"""

from __future__ import annotations

import logging
import time
from typing import NoReturn

from eth.abc import ComputationAPI
from eth.exceptions import Revert, WriteProtection
from eth_abi import encode
from eth_typing import Address
from eth_utils import keccak

from utils.chain.stylus_code import (
    ARB_WASM_ADDRESS,
    ERROR_NOT_ACTIVATED,
    ERROR_NOT_WASM,
    ERROR_UP_TO_DATE,
    EVENT_ACTIVATED,
    SELECTOR_ACTIVATE,
    SELECTOR_CODEHASH_VERSION,
    SELECTOR_INK_PRICE,
    SELECTOR_PAGE_LIMIT,
    SELECTOR_PROGRAM_VERSION,
    SELECTOR_STYLUS_VERSION,
    StylusCodeError,
    decompress_program,
    is_stylus_program,
)
from utils.devchain.nitro.data_pricer import DataPricerState, update_model
from utils.devchain.stylus.activation import ActivationRecord, activation_slot
from utils.devchain.stylus.pricing import INK_PRICE, STYLUS_VERSION, WARM_SLOAD_GAS
from utils.devchain.stylus.rules import PAGE_LIMIT, StylusActivationError

__all__ = ["ACTIVATION_GAS", "arb_wasm_precompile", "program_record", "revert"]

logger = logging.getLogger(__name__)

# Nitro burns gas for the measured work of parsing, instrumenting and compiling; a fixed
# charge of the same order stands in for it here (see docs/stylus.md).
ACTIVATION_GAS = 1_659_168
ERROR_INSUFFICIENT_VALUE = keccak(text="ProgramInsufficientValue(uint256,uint256)")[:4]
DATA_PRICER_SLOT = int.from_bytes(keccak(b"stylus.dataPricer"), "big")
# Nitro pays the fee to ArbOS's network fee account; the embedded chain's stands here.
NETWORK_FEE_ACCOUNT = Address(bytes.fromhex("00000000000000000000000000000000000a4b05"))
ERROR_STRING = bytes.fromhex("08c379a0")


def revert(computation: ComputationAPI, data: bytes) -> NoReturn:
    computation.output = data
    raise Revert(data)


def program_record(computation: ComputationAPI, codehash: bytes) -> ActivationRecord | None:
    raw = computation.state.get_storage(ARB_WASM_ADDRESS, activation_slot(codehash))
    return ActivationRecord.decode(raw) if raw else None


def arb_wasm_precompile(computation: ComputationAPI) -> ComputationAPI:
    data = bytes(computation.msg.data)
    selector = data[:4]
    if selector == SELECTOR_ACTIVATE:
        _activate(computation, data)
    elif selector == SELECTOR_STYLUS_VERSION:
        _answer(computation, encode(["uint16"], [STYLUS_VERSION]))
    elif selector == SELECTOR_INK_PRICE:
        _answer(computation, encode(["uint32"], [INK_PRICE]))
    elif selector == SELECTOR_PAGE_LIMIT:
        _answer(computation, encode(["uint16"], [PAGE_LIMIT]))
    elif selector == SELECTOR_CODEHASH_VERSION and len(data) >= 36:
        _version(computation, data[4:36])
    elif selector == SELECTOR_PROGRAM_VERSION and len(data) >= 36:
        code = computation.state.get_code(Address(data[16:36]))
        _version(computation, keccak(code) if is_stylus_program(code) else b"")
    else:
        revert(computation, b"")
    return computation


def _answer(computation: ComputationAPI, output: bytes) -> None:
    computation.consume_gas(WARM_SLOAD_GAS, reason="ArbWasm view")
    computation.output = output


def _version(computation: ComputationAPI, codehash: bytes) -> None:
    computation.consume_gas(WARM_SLOAD_GAS, reason="ArbWasm program lookup")
    record = program_record(computation, codehash) if codehash else None
    if record is None:
        revert(computation, ERROR_NOT_ACTIVATED)
        return
    computation.output = encode(["uint16"], [record.version])


def _activate(computation: ComputationAPI, data: bytes) -> None:
    if computation.msg.is_static:
        raise WriteProtection("activateProgram cannot run in a static call")
    if len(data) < 36:
        revert(computation, b"")
    computation.consume_gas(ACTIVATION_GAS, reason="Stylus program activation")
    state = computation.state
    program = Address(data[16:36])
    code = bytes(state.get_code(program))
    if not is_stylus_program(code):
        revert(computation, ERROR_NOT_WASM)
    codehash = keccak(code)
    existing = program_record(computation, codehash)
    if existing is not None and existing.version == STYLUS_VERSION:
        revert(computation, ERROR_UP_TO_DATE)
    runtime = type(computation).runtime  # type: ignore[attr-defined]
    open_pages = runtime.pages(computation.transaction_context).open
    try:
        wasm = decompress_program(code)
        info = runtime.check(wasm, PAGE_LIMIT - open_pages)
        runtime.compiled(codehash, lambda: wasm)
    except (StylusCodeError, StylusActivationError) as exc:
        logger.info("activation of 0x%s refused: %s", program.hex(), exc)
        revert(computation, _error_string(f"program activation failed: {_reason(exc)}"))
        return
    record = ActivationRecord(
        STYLUS_VERSION, info.init_cost, info.cached_init_cost, info.footprint,
        int(state.timestamp or time.time()) // 3600, -(-info.asm_estimate // 1024),
    )
    if not state.get_code(ARB_WASM_ADDRESS):
        state.set_code(ARB_WASM_ADDRESS, b"\xfe")  # as Nitro: precompiles hold INVALID code
    state.set_storage(ARB_WASM_ADDRESS, activation_slot(codehash), record.encode())
    data_fee = _charge_data_fee(computation, info.asm_estimate)
    log_data = encode(
        ["bytes32", "address", "uint256", "uint16"],
        [keccak(wasm), program, data_fee, STYLUS_VERSION],
    )
    computation.add_log_entry(
        ARB_WASM_ADDRESS, (int.from_bytes(EVENT_ACTIVATED, "big"),
                           int.from_bytes(codehash, "big")), log_data,
    )
    computation.output = encode(["uint16", "uint256"], [STYLUS_VERSION, data_fee])


def _charge_data_fee(computation: ComputationAPI, asm_estimate: int) -> int:
    """Nitro's activation data fee: update the pricer, take the fee, return the change."""
    state = computation.state
    pricer = DataPricerState.decode(state.get_storage(ARB_WASM_ADDRESS, DATA_PRICER_SLOT))
    now = int(state.timestamp or time.time())
    updated, fee = update_model(pricer, asm_estimate, now)
    value = computation.msg.value
    if value < fee:
        revert(computation, ERROR_INSUFFICIENT_VALUE + encode(["uint256", "uint256"],
                                                              [value, fee]))
    state.set_storage(ARB_WASM_ADDRESS, DATA_PRICER_SLOT, updated.encode())
    if value:
        state.delta_balance(ARB_WASM_ADDRESS, -value)
        state.delta_balance(NETWORK_FEE_ACCOUNT, fee)
        state.delta_balance(computation.msg.sender, value - fee)
    return fee


def _reason(exc: Exception) -> str:
    return exc.reason if isinstance(exc, StylusActivationError) else str(exc)


def _error_string(message: str) -> bytes:
    return ERROR_STRING + encode(["string"], [message])
