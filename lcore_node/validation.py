"""Checks on registrations and submissions, each failure with its own typed error.

Cheap checks run first (types, sizes, formats), then the device lookup and
clock window, then JSON parsing, and the Ed25519 verification last. Ed25519 is strict
(:mod:`lcore_node.signing`): a small-order, non-canonical or off-curve public key is refused
at registration, a signature with S >= L or a small-order or non-canonical R at submission.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from lcore_node.errors import (
    InvalidError,
    NotFoundError,
    StaleError,
    TooLargeError,
    UnauthorizedError,
)
from lcore_node.json_guard import JsonDepthError, loads_bounded
from lcore_node.jws_devices import JwsDevices
from lcore_node.signing import (
    OFF_CURVE,
    public_key_problem,
    signature_problem,
    signing_message,
)

log = logging.getLogger(__name__)

DEVICE_ID_RE = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
_HEX_RE = re.compile(r"(?:0x)?([0-9a-fA-F]*)")
MAX_DEVICE_TYPE = 64
MAX_TIMESTAMP = 2**63 - 1  # unix seconds; anything larger is no time (and overflows floats)


@dataclass(frozen=True, slots=True)
class Device:
    device_id: str
    public_key_hex: str
    public_key: Ed25519PublicKey | None  # None: a P-256 device (--device-auth jws)
    device_type: str
    #: why no signature of this key is accepted (registered before the strict checks, or
    #: off the curve in legacy mode): its signed submissions are refused
    key_problem: str | None = None


@dataclass(slots=True)  # not frozen: built once per submission, on the hot path
class CheckedSubmission:
    device: Device
    plaintext: bytes
    timestamp: int
    signature: str | None  # normalized lowercase hex (jws mode: the device's token)


def check_device_id(value: object) -> str:
    if not isinstance(value, str) or not DEVICE_ID_RE.fullmatch(value):
        raise InvalidError("must match ^[A-Za-z0-9_.:-]{1,64}$", field="device_id")
    return value


def _hex_bytes(value: object, field: str, size: int, device_id: str | None) -> bytes:
    match = _HEX_RE.fullmatch(value) if isinstance(value, str) else None
    if match is None or len(match.group(1)) != 2 * size:
        raise InvalidError(f"must be {2 * size} hex characters", field=field, device_id=device_id)
    return bytes.fromhex(match.group(1))


def parse_public_key(
    value: object, device_id: str, *, require_signatures: bool = True
) -> tuple[str, Ed25519PublicKey, str | None]:
    """A 32-byte Ed25519 public key in hex -> (normalized hex, key object, problem).

    A small-order or non-canonically encoded point is refused (InvalidError, 422), and so is
    a point off the curve while signatures are required. Without them (legacy mode: the
    original clients register random bytes, half of them off the curve) an off-curve key is
    kept with its ``problem``: the device's signed submissions are refused."""
    raw = _hex_bytes(value, "public_key", 32, device_id)
    problem = public_key_problem(raw)
    if problem is not None and (require_signatures or problem != OFF_CURVE):
        raise InvalidError(f"refused Ed25519 key: {problem}", field="public_key",
                           device_id=device_id)
    try:
        key = Ed25519PublicKey.from_public_bytes(raw)
    except ValueError:
        raise InvalidError("not an Ed25519 key", field="public_key", device_id=device_id) from None
    return raw.hex(), key, problem


def stored_device(device_id: str, key_hex: str, device_type: str | None) -> Device:
    """A device of the database, as registered. A key the node refuses now (registered
    before the strict checks) is kept with its problem: its signed submissions are refused.
    Only the encoding checks run here (microseconds: a node may load 100,000 devices)."""
    raw = bytes.fromhex(key_hex)
    problem = public_key_problem(raw, decode=False)
    if problem is not None:
        log.warning("device %r is registered with a refused Ed25519 key (%s): its signed "
                    "submissions are refused", device_id, problem)
    return Device(device_id, key_hex, Ed25519PublicKey.from_public_bytes(raw),
                  device_type or "", problem)


def check_device_type(value: object) -> str | None:
    """At most MAX_DEVICE_TYPE printable characters (no NUL, control or lone surrogate)."""
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_DEVICE_TYPE:
        raise InvalidError(f"must be a string of at most {MAX_DEVICE_TYPE}", field="device_type")
    if not value.isprintable():
        raise InvalidError("must be printable text (no control characters or lone"
                           " surrogates)", field="device_type")
    return value


def check_timestamp(value: object, device_id: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidError("must be an integer", field="timestamp", device_id=device_id)
    if not 0 <= value <= MAX_TIMESTAMP:
        raise InvalidError(f"must be unix seconds in 0..{MAX_TIMESTAMP}", field="timestamp",
                           device_id=device_id)
    return value


def check_sensor_json(text: str, device_id: str) -> None:
    """Sensor data must be a JSON object (bounded depth, no NaN/Infinity, no huge ints)."""
    try:
        value = loads_bounded(text)
    except JsonDepthError as exc:
        raise InvalidError(str(exc), field="data", device_id=device_id) from None
    except ValueError as exc:
        raise InvalidError(f"not JSON ({str(exc)[:120]})", field="data",
                           device_id=device_id) from None
    if not isinstance(value, dict):
        raise InvalidError("must be a JSON object", field="data", device_id=device_id)


class SubmissionChecker:
    """Validates one submission against the registered devices and node settings."""

    def __init__(
        self,
        devices: Mapping[str, Device],
        *,
        max_data_bytes: int,
        max_clock_skew: float,
        require_signatures: bool,
        jws: JwsDevices | None = None,
    ) -> None:
        self._devices = devices
        self.jws = jws  # set: devices sign ES256 JWS tokens, not Ed25519 signatures
        self._max_bytes = max_data_bytes
        self._max_skew = max_clock_skew
        self._require_signatures = require_signatures

    @property
    def require_signatures(self) -> bool:
        return self._require_signatures

    def check(
        self, device_id: object, data: object, timestamp: object, signature: object, now: float
    ) -> CheckedSubmission:
        device_id = check_device_id(device_id)
        timestamp = check_timestamp(timestamp, device_id)
        plaintext = self._plaintext(data, device_id)
        sig = self._signature(signature, device_id) if self.jws is None else None
        device = self._devices.get(device_id)
        if device is None:
            raise NotFoundError(f"device {device_id!r} is not registered", device_id=device_id)
        if abs(now - timestamp) > self._max_skew:
            raise StaleError(
                f"timestamp {timestamp} is {abs(now - timestamp):.0f} s from the node clock"
                f" (max {self._max_skew:.0f} s)",
                timestamp=timestamp,
                device_id=device_id,
            )
        assert isinstance(data, str)  # checked by _plaintext
        check_sensor_json(data, device_id)
        if self.jws is not None:
            token = self.jws.check(device_id, signature, timestamp, data)
            return CheckedSubmission(device, plaintext, timestamp, token)
        if sig is not None:
            verify_strict(device, sig, signing_message(device_id, timestamp, data))
        return CheckedSubmission(device, plaintext, timestamp, sig.hex() if sig else None)

    def _plaintext(self, data: object, device_id: str) -> bytes:
        if not isinstance(data, str):
            raise InvalidError("must be a string of JSON", field="data", device_id=device_id)
        try:
            plaintext = data.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidError("not valid UTF-8", field="data", device_id=device_id) from None
        if len(plaintext) > self._max_bytes:
            raise TooLargeError(
                f"data is {len(plaintext)} bytes, limit is {self._max_bytes}",
                size=len(plaintext),
                limit=self._max_bytes,
                device_id=device_id,
            )
        return plaintext

    def _signature(self, signature: object, device_id: str) -> bytes | None:
        if signature is None or signature == "":
            if self._require_signatures:
                raise UnauthorizedError("signature required", device_id=device_id)
            return None
        return _hex_bytes(signature, "signature", 64, device_id)


def verify_strict(device: Device, signature: bytes, message: bytes) -> None:
    """Strict Ed25519 verification (see :mod:`lcore_node.signing`); UnauthorizedError."""
    problem = (f"device key refused: {device.key_problem}" if device.key_problem
               else "the device has no Ed25519 key" if device.public_key is None
               else signature_problem(signature))
    if problem is not None:
        raise UnauthorizedError(f"bad signature: {problem}", device_id=device.device_id)
    assert device.public_key is not None
    try:
        device.public_key.verify(signature, message)
    except InvalidSignature:
        raise UnauthorizedError("bad signature", device_id=device.device_id) from None
