"""py-evm objects to geth-shaped JSON-RPC results (hex quantities, lowercase hex data)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from eth._utils.address import generate_contract_address
from eth.abc import BlockHeaderAPI, LogAPI, ReceiptAPI, SignedTransactionAPI

from utils.devchain.backend import SealedBlock
from utils.devchain.nitro.l1pricing import L1Pricing
from utils.devchain.nitro.parent_chain import l1_block_of_mix_hash
from utils.devchain.nitro.vm import signed_bytes
from utils.devchain.txcheck import tx_type

Json = dict[str, Any]


def q(value: int) -> str:
    """A JSON-RPC quantity."""
    return hex(value)


def b(value: bytes) -> str:
    """JSON-RPC data."""
    return "0x" + bytes(value).hex()


def word(value: int) -> str:
    """A 32-byte word (log topic, storage key) as data."""
    return b(value.to_bytes(32, "big"))


def bloom(value: int) -> str:
    return b(value.to_bytes(256, "big"))


def encode_header(header: BlockHeaderAPI, *, pending: bool = False) -> Json:
    out: Json = {
        "number": q(header.block_number),
        "hash": None if pending else b(header.hash),
        "parentHash": b(header.parent_hash),
        "nonce": None if pending else b(header.nonce),
        "mixHash": b(header.mix_hash),
        "sha3Uncles": b(header.uncles_hash),
        "logsBloom": bloom(header.bloom),
        "transactionsRoot": b(header.transaction_root),
        "stateRoot": b(header.state_root),
        "receiptsRoot": b(header.receipt_root),
        "miner": b(header.coinbase),
        "difficulty": q(header.difficulty),
        "extraData": b(header.extra_data),
        "gasLimit": q(header.gas_limit),
        "gasUsed": q(header.gas_used),
        "timestamp": q(header.timestamp),
        "uncles": [],
    }
    optional: dict[str, tuple[str, Callable[[Any], str]]] = {
        "baseFeePerGas": ("base_fee_per_gas", q),
        "withdrawalsRoot": ("withdrawals_root", b),
        "blobGasUsed": ("blob_gas_used", q),
        "excessBlobGas": ("excess_blob_gas", q),
        "parentBeaconBlockRoot": ("parent_beacon_block_root", b),
        "requestsHash": ("requests_hash", b),
    }
    for key, (attr, enc) in optional.items():
        value = getattr(header, attr, None)
        if value is not None:
            out[key] = enc(value)
    if "withdrawalsRoot" in out:
        out["withdrawals"] = []
    return out


def encode_block(
    header: BlockHeaderAPI,
    txs: list[SignedTransactionAPI] | tuple[SignedTransactionAPI, ...],
    *,
    full: bool,
    size: int,
    pending: bool = False,
    nitro: bool = False,
) -> Json:
    """A block object; a Nitro chain's sealed blocks also carry ``l1BlockNumber``,
    ``sendCount`` and ``sendRoot`` from their header (OffchainLabs/go-ethereum
    ``fillArbitrumHeaderInfo``; no L2-to-L1 messages here: 0 and the zero hash)."""
    out = encode_header(header, pending=pending)
    out["size"] = q(size)
    if nitro and not pending:
        out["l1BlockNumber"] = q(l1_block_of_mix_hash(header.mix_hash))
        out["sendCount"] = q(int.from_bytes(bytes(header.mix_hash)[:8], "big"))
        out["sendRoot"] = b(bytes(32))
    if full:
        block_hash = None if pending else bytes(header.hash)
        base_fee = getattr(header, "base_fee_per_gas", None)
        out["transactions"] = [
            encode_tx(tx, block_hash, header.block_number, i, base_fee) for i, tx in enumerate(txs)
        ]
    else:
        out["transactions"] = [b(tx.hash) for tx in txs]
    return out


def effective_gas_price(tx: SignedTransactionAPI, base_fee: int | None) -> int:
    """The price per gas the transaction offers at ``base_fee``: min(max fee, base + tip)."""
    if tx_type(tx) < 2 or base_fee is None:
        return int(tx.max_fee_per_gas)
    return int(min(tx.max_fee_per_gas, tx.max_priority_fee_per_gas + base_fee))


def paid_gas_price(tx: SignedTransactionAPI, base_fee: int | None) -> int:
    """The price per gas a mined transaction paid: the block's base fee, as Nitro drops
    the tip (``TxProcessor.DropTip``, ``GetPaidGasPrice``; :class:`~utils.devchain.nitro.vm.
    NitroStateMixin`); a receipt's ``effectiveGasPrice``."""
    if base_fee is None:
        return int(tx.max_fee_per_gas)
    return int(min(tx.max_fee_per_gas, base_fee))


def encode_tx(
    tx: SignedTransactionAPI,
    block_hash: bytes | None,
    block_number: int | None,
    index: int | None,
    base_fee: int | None,
) -> Json:
    """A transaction object; block fields are null while it is pending."""
    kind = tx_type(tx)
    out: Json = {
        "type": q(kind),
        "hash": b(tx.hash),
        "nonce": q(tx.nonce),
        "blockHash": None if block_hash is None else b(block_hash),
        "blockNumber": None if block_number is None else q(block_number),
        "transactionIndex": None if index is None else q(index),
        "from": b(tx.sender),
        "to": b(tx.to) if tx.to else None,
        "value": q(tx.value),
        "gas": q(tx.gas),
        "input": b(tx.data),
    }
    if kind >= 2:
        out["maxFeePerGas"] = q(tx.max_fee_per_gas)
        out["maxPriorityFeePerGas"] = q(tx.max_priority_fee_per_gas)
        fee_base = base_fee if block_hash is not None else None
        out["gasPrice"] = q(effective_gas_price(tx, fee_base))
    else:
        out["gasPrice"] = q(tx.max_fee_per_gas)
    if tx.chain_id is not None:
        out["chainId"] = q(tx.chain_id)
    if kind >= 1:
        out["accessList"] = [
            {"address": b(address), "storageKeys": [word(k) for k in keys]}
            for address, keys in tx.access_list
        ]
        out["yParity"] = q(tx.y_parity)
        out["v"] = q(tx.y_parity)
    else:
        out["v"] = q(tx.v)  # type: ignore[attr-defined]
    if kind == 4:
        out["authorizationList"] = [_encode_authorization(a) for a in tx.authorization_list]
    out["r"] = q(tx.r)
    out["s"] = q(tx.s)
    return out


def _encode_authorization(auth: Any) -> Json:
    return {
        "chainId": q(auth.chain_id),
        "address": b(auth.address),
        "nonce": q(auth.nonce),
        "yParity": q(auth.y_parity),
        "r": q(auth.r),
        "s": q(auth.s),
    }


def encode_log(
    log: LogAPI, sealed: SealedBlock, tx: SignedTransactionAPI, tx_index: int, log_index: int
) -> Json:
    return {
        "address": b(log.address),
        "topics": [word(t) for t in log.topics],
        "data": b(log.data),
        "blockNumber": q(sealed.block.number),
        "blockHash": b(sealed.block.hash),
        "transactionHash": b(tx.hash),
        "transactionIndex": q(tx_index),
        "logIndex": q(log_index),
        "removed": False,
    }


def encode_receipt(sealed: SealedBlock, index: int, nitro: L1Pricing | None = None) -> Json:
    """A receipt; with Nitro pricing it carries Nitro's ``gasUsedForL1`` (the poster gas
    inside ``gasUsed``) and ``l1BlockNumber`` (from the header's mixHash, as Nitro)."""
    block = sealed.block
    tx = block.transactions[index]
    receipt: ReceiptAPI = sealed.receipts[index]
    previous = sealed.receipts[index - 1].gas_used if index else 0
    base_fee = getattr(block.header, "base_fee_per_gas", None)
    first_log = sealed.log_offsets[index]
    created = generate_contract_address(tx.sender, tx.nonce) if not tx.to else None
    out: Json = {
        "transactionHash": b(tx.hash),
        "transactionIndex": q(index),
        "blockHash": b(block.hash),
        "blockNumber": q(block.number),
        "from": b(tx.sender),
        "to": b(tx.to) if tx.to else None,
        "cumulativeGasUsed": q(receipt.gas_used),
        "gasUsed": q(receipt.gas_used - previous),
        "effectiveGasPrice": q((effective_gas_price if nitro is None else paid_gas_price)(
            tx, base_fee)),
        "contractAddress": None if created is None else b(created),
        "logs": [
            encode_log(log, sealed, tx, index, first_log + i) for i, log in enumerate(receipt.logs)
        ],
        "logsBloom": bloom(receipt.bloom),
        "type": q(tx_type(tx)),
        "status": q(1 if receipt.state_root == b"\x01" else 0),
    }
    if nitro is not None:
        raw = signed_bytes(tx)
        poster = nitro.charge(raw, block.number, base_fee or 0) if raw else 0
        out["gasUsedForL1"] = q(poster)
        out["l1BlockNumber"] = q(l1_block_of_mix_hash(block.header.mix_hash))
    return out
