"""Deploy and activate the MVPIoTProcessor Stylus program over JSON-RPC, as on Nitro.

1. a plain creation transaction whose init code returns ``EF F0 00 00 ‖ brotli(wasm)``;
2. ``activateProgram(address)`` on the ArbWasm precompile at 0x…71.
"""

from __future__ import annotations

from typing import Any

from eth_account import Account

from utils.chain.connect import deploy, wait_receipt
from utils.chain.rpc import hex_int
from utils.chain.session import ChainSession
from utils.chain.stylus_code import (
    ARB_WASM_ADDRESS,
    activate_calldata,
    default_program_wasm,
    stylus_init_code,
)
from utils.errors import ChainError

ACTIVATION_GAS = 3_000_000


async def deploy_stylus_program(
    session: ChainSession, wasm: bytes | None = None
) -> tuple[str, int]:
    """Deploy + activate; returns (program address, gas used by both transactions)."""
    info, rpc = session.info, session.rpc
    code = stylus_init_code(wasm if wasm is not None else default_program_wasm())
    address, receipt = await deploy(rpc, info.funder_key, info.chain_id, session.fees, code)
    account = Account.from_key(info.funder_key)
    nonce = hex_int(await rpc.call("eth_getTransactionCount", account.address, "pending"))
    tx: dict[str, Any] = {
        "chainId": info.chain_id, "nonce": nonce, "to": "0x" + bytes(ARB_WASM_ADDRESS).hex(),
        "value": 0, "gas": ACTIVATION_GAS, "data": activate_calldata(address),
        **session.fees.fields(),
    }
    signed = Account.sign_transaction(tx, info.funder_key)
    tx_hash = await rpc.call("eth_sendRawTransaction", "0x" + signed.raw_transaction.hex())
    activation = await wait_receipt(rpc, tx_hash, 60)
    if hex_int(activation["status"]) != 1:
        raise ChainError(f"activating the Stylus program at {address} failed ({tx_hash})")
    return address, hex_int(receipt["gasUsed"]) + hex_int(activation["gasUsed"])
