"""What an InputBox input holds, in bytes: the records' payload and Cartesi's ``EvmAdvance``.

The payload ``addInput(app, payload)`` carries is the ABI encoding of the records it commits,
``(string deviceId, uint256 recordId, bytes32 taskId, bytes envelope, bytes32 proofHash,
string auth)[]``: the encrypted envelope as stored (never plaintext), the ids its AEAD is
bound to, and the device's token when it signed one (a JWS; "" otherwise). The InputBox
(Cartesi Rollups v2, ``src/inputs/InputBox.sol``) keeps ``keccak256`` of
``abi.encodeCall(Inputs.EvmAdvance, (chainId, appContract, msgSender, blockNumber,
blockTimestamp, prevRandao, index, payload))`` and reverts with ``InputTooLarge`` when that
encoding is longer than ``CanonicalMachine.INPUT_MAX_SIZE``: :func:`input_size` is that
length, computed without encoding, so the node never sends an input that would revert.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from eth_abi import decode, encode
from eth_utils import keccak, to_checksum_address

__all__ = [
    "EVM_ADVANCE_SELECTOR",
    "INPUT_MAX_SIZE",
    "EvmAdvance",
    "PayloadRecord",
    "decode_evm_advance",
    "decode_payload",
    "encode_evm_advance",
    "encode_payload",
    "input_size",
    "payload_size",
]

#: CanonicalMachine.INPUT_MAX_SIZE of Cartesi Rollups v2 (64 KiB, the encoded EvmAdvance)
INPUT_MAX_SIZE = 1 << 16
EVM_ADVANCE_TYPES = ["uint256", "address", "address", "uint256", "uint256", "uint256",
                     "uint256", "bytes"]
EVM_ADVANCE_SELECTOR = keccak(
    text=f"EvmAdvance({','.join(EVM_ADVANCE_TYPES)})")[:4]
RECORD_TYPE = "(string,uint256,bytes32,bytes,bytes32,string)"
_WORD = 32


@dataclass(frozen=True, slots=True)
class PayloadRecord:
    device_id: str
    record_id: int
    task_id: bytes
    envelope: bytes
    proof_hash: bytes
    auth: str = ""


@dataclass(frozen=True, slots=True)
class EvmAdvance:
    chain_id: int
    app_contract: str
    msg_sender: str
    block_number: int
    block_timestamp: int
    prev_randao: int
    index: int
    payload: bytes


def encode_payload(records: Sequence[PayloadRecord]) -> bytes:
    return encode([f"{RECORD_TYPE}[]"], [[
        (r.device_id, r.record_id, r.task_id, r.envelope, r.proof_hash, r.auth)
        for r in records]])


def decode_payload(payload: bytes) -> list[PayloadRecord]:
    """The records of a payload (raises on bytes that are not one: a foreign input)."""
    (rows,) = decode([f"{RECORD_TYPE}[]"], payload)
    return [PayloadRecord(str(d), int(i), bytes(t), bytes(e), bytes(p), str(a))
            for d, i, t, e, p, a in rows]


def _padded(n: int) -> int:
    return -(-n // _WORD) * _WORD


def record_size(record: PayloadRecord) -> int:
    """Bytes one record adds to :func:`encode_payload`'s output (its offset word included)."""
    strings = (record.device_id.encode(), record.auth.encode(), record.envelope)
    # head: 6 words (3 offsets, id, task id, proof hash); each dynamic part: length + data
    return _WORD + 6 * _WORD + sum(_WORD + _padded(len(b)) for b in strings)


def payload_size(records: Sequence[PayloadRecord]) -> int:
    """``len(encode_payload(records))`` without encoding: offset + length words + records."""
    return 2 * _WORD + sum(record_size(r) for r in records)


def input_size(payload_len: int) -> int:
    """Length of the EvmAdvance input the InputBox builds around a payload of that length:
    selector, 7 static words, the payload's offset and length words, the padded payload."""
    return 4 + 8 * _WORD + _WORD + _padded(payload_len)


def encode_evm_advance(advance: EvmAdvance) -> bytes:
    return EVM_ADVANCE_SELECTOR + encode(EVM_ADVANCE_TYPES, [
        advance.chain_id, advance.app_contract, advance.msg_sender, advance.block_number,
        advance.block_timestamp, advance.prev_randao, advance.index, advance.payload])


def decode_evm_advance(data: bytes) -> EvmAdvance:
    """An input as ``InputAdded`` carries it; ValueError when it is no EvmAdvance."""
    if data[:4] != EVM_ADVANCE_SELECTOR:
        raise ValueError(f"input starts with {data[:4].hex()}, not EvmAdvance's selector")
    chain, app, sender, block, stamp, randao, index, payload = decode(EVM_ADVANCE_TYPES,
                                                                      data[4:])
    return EvmAdvance(int(chain), to_checksum_address(app), to_checksum_address(sender),
                      int(block), int(stamp), int(randao), int(index), bytes(payload))
