"""Admission checks for raw transactions, with geth's error wording.

The wording matters: the orchestrator's tx engine (``utils.chain.tx_engine``) classifies a
refusal by its text ("nonce too low", "insufficient funds", ...), as it does against geth/nitro.
"""

from __future__ import annotations

from typing import Any

from eth.abc import BlockHeaderAPI, SignedTransactionAPI, StateAPI
from eth_utils import ValidationError, to_checksum_address

from utils.errors import ChainError

BLOB_TX_TYPE = 3


class TxRefused(ChainError):
    """The dev chain refused a raw transaction; the message follows geth's wording."""


def tx_type(tx: SignedTransactionAPI) -> int:
    """EIP-2718 type of a py-evm transaction (0 for legacy)."""
    return getattr(tx, "type_id", None) or 0


def decode_raw_transaction(builder: Any, raw: bytes) -> SignedTransactionAPI:
    """Decode signed transaction bytes (legacy or typed) or raise :class:`TxRefused`."""
    if not raw:
        raise TxRefused("invalid transaction: empty")
    if raw[0] == BLOB_TX_TYPE:
        raise TxRefused("transaction type not supported: blob transactions (type 3)")
    try:
        tx: SignedTransactionAPI = builder.decode(raw)
        tx.check_signature_validity()
    except Exception as exc:  # untrusted bytes: any decoding failure is a refusal
        raise TxRefused(f"invalid transaction: {exc}") from exc
    return tx


def check_static(tx: SignedTransactionAPI, chain_id: int) -> bytes:
    """State-free checks (chain id, signature, gas, fee fields); returns the sender."""
    if tx.chain_id is not None and tx.chain_id != chain_id:
        raise TxRefused(f"invalid chain id for signer: have {tx.chain_id} want {chain_id}")
    try:
        sender = bytes(tx.sender)
    except ValidationError as exc:
        raise TxRefused(f"invalid sender: {exc}") from exc
    if tx.gas < tx.intrinsic_gas:
        raise TxRefused(f"intrinsic gas too low: gas {tx.gas}, minimum needed {tx.intrinsic_gas}")
    if tx.max_priority_fee_per_gas > tx.max_fee_per_gas:
        raise TxRefused(
            f"max priority fee per gas higher than max fee per gas: "
            f"address {to_checksum_address(sender)}, "
            f"maxPriorityFeePerGas: {tx.max_priority_fee_per_gas}, "
            f"maxFeePerGas: {tx.max_fee_per_gas}"
        )
    return sender


def check_state(state: StateAPI, header: BlockHeaderAPI, tx: SignedTransactionAPI) -> None:
    """Raise :class:`TxRefused` unless ``tx`` (next nonce of its sender) fits the open block."""
    sender = tx.sender
    expected = state.get_nonce(sender)
    if tx.nonce != expected:
        raise TxRefused(f"nonce too low: next nonce {expected}, tx nonce {tx.nonce}")
    available = header.gas_limit - header.gas_used
    if tx.gas > available:
        raise TxRefused(f"exceeds block gas limit: gas {tx.gas}, available {available}")
    address = to_checksum_address(sender)
    base_fee = getattr(header, "base_fee_per_gas", 0)
    if tx.max_fee_per_gas < base_fee:
        raise TxRefused(
            f"max fee per gas less than block base fee: address {address}, "
            f"maxFeePerGas: {tx.max_fee_per_gas}, baseFee: {base_fee}"
        )
    balance = state.get_balance(sender)
    cost = tx.gas * tx.max_fee_per_gas + tx.value
    if balance < cost:
        raise TxRefused(
            f"insufficient funds for gas * price + value: address {address} "
            f"have {balance} want {cost}"
        )
