"""A node's intake: the validate -> encrypt -> store stages of one registration or submission.

Each stage runs inside the caller's :class:`OperationTimer` stage, so it is timed and its
failure emitted once; the facade (:mod:`lcore_node.node`) queues stored records for the chain.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable

from lcore_node.encryption import DualCipher, envelope_key_id
from lcore_node.errors import ConflictError, TooLargeError
from lcore_node.inputbox_payload import INPUT_MAX_SIZE, input_size, payload_size
from lcore_node.inputbox_store import payload_record
from lcore_node.measure import OperationTimer
from lcore_node.storage import NewSubmission, Storage
from lcore_node.types import Registered
from lcore_node.validation import (
    Device,
    SubmissionChecker,
    check_device_id,
    check_device_type,
    parse_public_key,
)

_TASK_PREFIX = b"lcore-task\x00"
_U64 = struct.Struct(">Q")


def task_id_for(node_id: bytes, record_id: int, device_id: str) -> bytes:
    """32-byte on-chain task id, unique per node database and record."""
    return hashlib.sha256(
        _TASK_PREFIX + node_id + _U64.pack(record_id) + device_id.encode()
    ).digest()



class Intake:
    """Stages over the node's storage, device table, checker and (started) cipher."""

    def __init__(
        self, storage: Storage, devices: dict[str, Device], checker: SubmissionChecker,
        cipher: Callable[[], DualCipher], clock: Callable[[], float],
    ) -> None:
        self._storage = storage
        self._devices = devices
        self._checker = checker
        self._cipher = cipher
        self._clock = clock
        self.input_limit = False  # inputbox mode: refuse a record no InputBox input can carry

    async def register(
        self, timer: OperationTimer, device_id: str, public_key_hex: str, device_type: str | None
    ) -> Registered:
        with timer.stage("validate"):
            device_id = check_device_id(device_id)
            jws = self._checker.jws
            if jws is not None:  # a P-256 key: the device signs ES256 JWS tokens
                key_hex, key, problem = jws.register(device_id, public_key_hex), None, None
            else:
                key_hex, key, problem = parse_public_key(
                    public_key_hex, device_id,
                    require_signatures=self._checker.require_signatures)
            kind = check_device_type(device_type)
            timer.device_type = kind or ""
            known = self._devices.get(device_id)
            if known is not None:
                same_key(known.public_key_hex, key_hex, device_id)
                return Registered(device_id, created=False)
        with timer.stage("store"):
            stored, created = await self._storage.insert_device(
                device_id, key_hex, kind, self._clock()
            )
            same_key(stored, key_hex, device_id)
            self._devices[device_id] = Device(device_id, key_hex, key, kind or "", problem)
        return Registered(device_id, created=created)

    async def submit(
        self,
        timer: OperationTimer,
        device_id: str,
        data: str,
        timestamp: int,
        signature: str | None,
    ) -> NewSubmission:
        with timer.stage("validate"):
            checked = self._checker.check(device_id, data, timestamp, signature, self._clock())
            timer.device_type = checked.device.device_type
            timer.data_size = len(checked.plaintext)
        with timer.stage("encrypt"):
            record_id = self._storage.allocate_record_id()
            envelope = self._cipher().seal(checked.plaintext, device_id, record_id)
            row = NewSubmission(
                record_id=record_id,
                device_id=device_id,
                envelope=envelope,
                submission_date=self._clock(),
                task_id=task_id_for(self._storage.node_id, record_id, device_id),
                proof_hash=hashlib.sha256(envelope).digest(),
                key_id=envelope_key_id(envelope),
                signature=checked.signature,
                data_size=len(checked.plaintext),
            )
            if self.input_limit:
                check_input_size(row)
        with timer.stage("store"):
            await self._storage.insert_submission(row)
        return row


def check_input_size(row: NewSubmission) -> None:
    """TooLargeError when the record alone would make an InputBox input longer than Cartesi's
    INPUT_MAX_SIZE (the encoded EvmAdvance): refused here, never sent to revert on chain."""
    record = payload_record((row.record_id, row.device_id, row.task_id, row.envelope,
                             row.proof_hash, row.signature))
    size = input_size(payload_size([record]))
    if size > INPUT_MAX_SIZE:
        raise TooLargeError(
            f"its Cartesi InputBox input would be {size} bytes, the limit is {INPUT_MAX_SIZE}"
            " (CanonicalMachine.INPUT_MAX_SIZE)", size=size, limit=INPUT_MAX_SIZE,
            device_id=row.device_id)


def same_key(stored_hex: str, key_hex: str, device_id: str) -> None:
    if stored_hex != key_hex:
        raise ConflictError(
            f"device {device_id!r} is registered with another public key", device_id=device_id
        )
