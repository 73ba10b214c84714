"""Simulated IoT devices: seeded sensor readings and Ed25519-signed submissions.

A device submits ``data`` (compact JSON, sorted keys) with an integer unix
``timestamp`` and a hex Ed25519 signature over :func:`signing_message`. The
lcore node verifies with :func:`verify_signature`, so the signed bytes are
defined in one place only.

Keys are derived deterministically from ``(seed, device index)`` so a run is
reproducible, and so are device ids: ``{type}-{tag}-{index:04d}`` with ``tag`` 8 hex
digits of the seed's hash (:func:`fleet_tag`). A run on an existing lcore database (or
remote node) thus registers devices of its own when its seed is new, and finds its own
devices, with the same keys, when the seed was used before: registration is idempotent,
never 'registered with another public key'. Derived keys are fine for simulated devices
and for nothing else: anyone who knows the seed can derive every key. Private keys are
never logged, printed, written or exposed as attributes of the dataclass.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import re
from collections.abc import Iterator
from dataclasses import InitVar, dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from lcore_node.jws import JwsClaims, public_key_hex, sign_device_jws
from lcore_node.signing import (
    public_key_problem,
    sha256_hex,
    signature_problem,
    signing_message,
)
from utils.errors import ConfigError, KcStressError
from utils.iot.datasets import DEVICE_TYPES, ReplaySource, ReplayTable, load_datasets
from utils.iot.sensor_models import EvModel, GreenhouseModel, PosModel, ReadingSource

__all__ = [
    "DEVICE_ID_RE",
    "DEVICE_TYPES",
    "DeviceError",
    "DeviceFleet",
    "SimulatedDevice",
    "Submission",
    "fleet_tag",
    "sha256_hex",
    "signing_message",
    "verify_signature",
]

log = logging.getLogger(__name__)

DEVICE_ID_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


class DeviceError(KcStressError):
    """A simulated device cannot be built as asked (bad id or type)."""

    def __init__(self, device_id: str, message: str) -> None:
        super().__init__(f"device {device_id!r}: {message}")
        self.device_id = device_id


def verify_signature(
    public_key_hex: str, device_id: str, timestamp: int, data: str, signature_hex: str
) -> bool:
    """True when ``signature_hex`` is the device's Ed25519 signature of this submission,
    by the node's strict rules (:mod:`lcore_node.signing`)."""
    try:
        raw_key, signature = bytes.fromhex(public_key_hex), bytes.fromhex(signature_hex)
        if len(raw_key) != 32 or len(signature) != 64 or public_key_problem(raw_key) or \
                signature_problem(signature):
            return False
        key = Ed25519PublicKey.from_public_bytes(raw_key)
        key.verify(signature, signing_message(device_id, timestamp, data))
    except (InvalidSignature, ValueError):
        return False
    return True


P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def _derive(seed: int, index: int, purpose: str) -> bytes:
    return hashlib.sha256(f"{seed}:{index}{purpose}".encode()).digest()


def fleet_tag(seed: int) -> str:
    """The part of every device id that says which seed's fleet the device belongs to."""
    return hashlib.sha256(f"{seed}:fleet".encode()).hexdigest()[:8]


@dataclass(frozen=True, slots=True)
class Submission:
    """What a device sends to the lcore node (POST /device/data)."""

    device_id: str
    data: str
    timestamp: int
    signature: str


@dataclass(eq=False)
class SimulatedDevice:
    """One device: a reading source and an Ed25519 key. Build it through :class:`DeviceFleet`."""

    device_id: str
    device_type: str
    public_key_hex: str = field(init=False)
    private_key: InitVar[Ed25519PrivateKey]
    source: InitVar[ReadingSource]
    #: set: the device signs ES256 JWS tokens with this P-256 key (--device-auth jws)
    jws_key: InitVar[ec.EllipticCurvePrivateKey | None] = None

    def __post_init__(self, private_key: Ed25519PrivateKey, source: ReadingSource,
                      jws_key: ec.EllipticCurvePrivateKey | None) -> None:
        if not DEVICE_ID_RE.fullmatch(self.device_id):
            raise DeviceError(self.device_id, f"id must match {DEVICE_ID_RE.pattern}")
        if self.device_type not in DEVICE_TYPES:
            raise DeviceError(self.device_id, f"unknown device type {self.device_type!r}")
        self._key = private_key
        self._source = source
        self.public_key_hex = private_key.public_key().public_bytes_raw().hex()
        self._jws_key = jws_key
        self._counter = 0  # the JWS token counter: each token's is one above the last
        if jws_key is not None:
            self.public_key_hex = public_key_hex(jws_key.public_key())

    def next_reading(self, now: float) -> dict[str, object]:
        """The next payload: envelope (device_id, device_type, timestamp) plus sensor fields.

        ``timestamp`` is unix seconds rounded to milliseconds.
        """
        values = self._source.values(now)
        return {
            "device_id": self.device_id,
            "device_type": self.device_type,
            "timestamp": round(now, 3),
            **values,
        }

    def sign_submission(self, data: str, timestamp: int) -> str:
        """The Ed25519 signature (hex), or in JWS mode the next ES256 compact token."""
        if self._jws_key is not None:
            self._counter += 1
            return sign_device_jws(self._jws_key, JwsClaims(
                self.device_id, timestamp, self._counter), data)
        return self._key.sign(signing_message(self.device_id, timestamp, data)).hex()

    def make_submission(self, now: float) -> Submission:
        data = json.dumps(
            self.next_reading(now), sort_keys=True, separators=(",", ":"), allow_nan=False
        )
        timestamp = int(now)
        return Submission(self.device_id, data, timestamp, self.sign_submission(data, timestamp))


def _build_device(index: int, seed: int, tables: dict[str, ReplayTable],
                  auth: str = "ed25519") -> SimulatedDevice:
    device_type = DEVICE_TYPES[index % len(DEVICE_TYPES)]
    device_id = f"{device_type}-{fleet_tag(seed)}-{index:04d}"
    rng = random.Random(int.from_bytes(_derive(seed, index, ":readings")[:8], "big"))
    source: ReadingSource
    if device_type in tables:
        source = ReplaySource(tables[device_type], rng)
    elif device_type == "ev_sensor":
        source = EvModel(rng)
    elif device_type == "greenhouse":
        source = GreenhouseModel(rng)
    else:
        source = PosModel(rng, id_prefix=f"{device_id}-")
    key = Ed25519PrivateKey.from_private_bytes(_derive(seed, index, ""))
    jws_key = None
    if auth == "jws":  # a P-256 scalar from the seed, in [1, n - 1]
        scalar = int.from_bytes(_derive(seed, index, ":p256"), "big") % (P256_ORDER - 1) + 1
        jws_key = ec.derive_private_key(scalar, ec.SECP256R1())
    return SimulatedDevice(device_id, device_type, private_key=key, source=source,
                           jws_key=jws_key)


class DeviceFleet:
    """``count`` devices, types assigned round-robin, all derived from ``seed``.

    With ``data_dir``, device types that have CSV files there replay them;
    the other types use the synthetic models.
    """

    def __init__(self, count: int, seed: int, data_dir: Path | None = None,
                 auth: str = "ed25519") -> None:
        if count < 1:
            raise ConfigError("IOT_DEVICE_COUNT", f"need at least one device, got {count}")
        tables = load_datasets(data_dir) if data_dir is not None else {}
        self.devices: list[SimulatedDevice] = [
            _build_device(index, seed, tables, auth) for index in range(count)
        ]
        self._by_id = {device.device_id: device for device in self.devices}
        self._rng = random.Random(int.from_bytes(_derive(seed, -1, ":pick")[:8], "big"))
        log.info(
            "device fleet: %d devices, seed %s, replaying %s",
            count,
            seed,
            ", ".join(sorted(tables)) or "nothing (synthetic data)",
        )

    def __len__(self) -> int:
        return len(self.devices)

    def __iter__(self) -> Iterator[SimulatedDevice]:
        return iter(self.devices)

    def get(self, device_id: str) -> SimulatedDevice | None:
        return self._by_id.get(device_id)

    def pick(self) -> SimulatedDevice:
        """The device that sends the next submission (seeded uniform choice)."""
        return self.devices[self._rng.randrange(len(self.devices))]
