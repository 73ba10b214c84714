"""Device tokens as Milestone 2 devices sign them (``--device-auth jws``): ES256 compact JWS.

RFC 7515 compact serialization ``BASE64URL(header) . BASE64URL(payload) . BASE64URL(sig)``,
no padding; ``alg`` ES256 (RFC 7518 3.4: ECDSA P-256 with SHA-256, the signature the 64
bytes ``R || S``, not DER) over the ASCII bytes ``header . payload``. The header is
``{"alg": "ES256", "typ": "JWT", "kid": <device id>}``; the claims name the device
(``sub``), the submission's ``iat`` (its timestamp), ``sha256`` (hex of the data, as the
Ed25519 protocol signs it) and ``ctr``, a per-device counter that must grow: a token whose
counter is not above the last accepted one is a replay. The device's key is registered as
its uncompressed SEC1 point (``04 || X || Y``, 65 bytes) in hex.

Refusals are :class:`~lcore_node.errors.UnauthorizedError` (401, as a bad Ed25519
signature) and, for a counter already used, :class:`~lcore_node.errors.ReplayError` (409).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from lcore_node.errors import InvalidError, ReplayError, UnauthorizedError
from lcore_node.signing import sha256_hex

__all__ = ["JwsClaims", "parse_p256_key", "parse_token", "public_key_hex", "sign_device_jws",
           "token_counter", "verify_device_jws"]

ALG = "ES256"
MAX_TOKEN = 4096  # characters: a device token is a few hundred
_SIDE = 32


@dataclass(frozen=True, slots=True)
class JwsClaims:
    device_id: str
    timestamp: int
    sha256: str
    counter: int


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    if not text or any(c not in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                       "0123456789-_" for c in text):
        raise ValueError("not base64url without padding")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def public_key_hex(key: ec.EllipticCurvePublicKey) -> str:
    numbers = key.public_numbers()
    return "04" + numbers.x.to_bytes(_SIDE, "big").hex() + numbers.y.to_bytes(_SIDE, "big").hex()


def parse_p256_key(value: object, device_id: str) -> tuple[str, ec.EllipticCurvePublicKey]:
    """An uncompressed P-256 point in hex -> (normalized hex, key); InvalidError (422)."""
    text = value.removeprefix("0x") if isinstance(value, str) else ""
    try:
        raw = bytes.fromhex(text)
        if len(raw) != 1 + 2 * _SIDE or raw[0] != 4:
            raise ValueError("not 65 bytes starting 04")
        key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)
    except ValueError as exc:
        raise InvalidError(f"must be an uncompressed P-256 point in hex (04||X||Y): {exc}",
                           field="public_key", device_id=device_id) from None
    return raw.hex(), key


def sign_device_jws(key: ec.EllipticCurvePrivateKey, claims: JwsClaims) -> str:
    """What a device sends as its ``signature``: the compact JWS of ``claims``."""
    header = {"alg": ALG, "typ": "JWT", "kid": claims.device_id}
    body = {"sub": claims.device_id, "iat": claims.timestamp, "sha256": claims.sha256,
            "ctr": claims.counter}
    signing_input = ".".join(_b64(json.dumps(part, separators=(",", ":")).encode())
                             for part in (header, body))
    r, s = decode_dss_signature(key.sign(signing_input.encode("ascii"),
                                         ec.ECDSA(hashes.SHA256())))
    return f"{signing_input}.{_b64(r.to_bytes(_SIDE, 'big') + s.to_bytes(_SIDE, 'big'))}"


def parse_token(
    token: object, device_id: str
) -> tuple[str, dict[str, Any], dict[str, Any], bytes]:
    """(signing input, header, claims, signature) of a compact JWS; UnauthorizedError."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN or token.count(".") != 2:
        raise UnauthorizedError("bad device token: not a compact JWS", device_id=device_id)
    head, body, sig = token.split(".")
    try:
        header, claims = json.loads(_unb64(head)), json.loads(_unb64(body))
        signature = _unb64(sig)
    except ValueError as exc:
        raise UnauthorizedError(f"bad device token: {exc}", device_id=device_id) from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise UnauthorizedError("bad device token: header and claims must be objects",
                                device_id=device_id)
    return f"{head}.{body}", header, claims, signature


def verify_device_jws(
    key: ec.EllipticCurvePublicKey, token: object, device_id: str, timestamp: int, data: str,
    last_counter: int | None,
) -> int:
    """The token's counter when ``token`` is this device's ES256 JWS over this submission
    and its counter is above ``last_counter``; UnauthorizedError or ReplayError otherwise."""
    signing_input, header, claims, signature = parse_token(token, device_id)
    if header.get("alg") != ALG:
        raise UnauthorizedError(f"bad device token: alg must be {ALG}, not "
                                f"{header.get('alg')!r}", device_id=device_id)
    if header.get("kid", device_id) != device_id or claims.get("sub") != device_id:
        raise UnauthorizedError("bad device token: it names another device",
                                device_id=device_id)
    if len(signature) != 2 * _SIDE:
        raise UnauthorizedError("bad device token: an ES256 signature is 64 bytes (R||S)",
                                device_id=device_id)
    der = encode_dss_signature(int.from_bytes(signature[:_SIDE], "big"),
                               int.from_bytes(signature[_SIDE:], "big"))
    try:
        key.verify(der, signing_input.encode("ascii"), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise UnauthorizedError("bad device token: signature does not verify",
                                device_id=device_id) from None
    if claims.get("iat") != timestamp or claims.get("sha256") != sha256_hex(data):
        raise UnauthorizedError("bad device token: it signs another timestamp or data",
                                device_id=device_id)
    counter = claims.get("ctr")
    if not isinstance(counter, int) or isinstance(counter, bool) or counter < 0:
        raise UnauthorizedError("bad device token: ctr must be a counter (integer >= 0)",
                                device_id=device_id)
    if last_counter is not None and counter <= last_counter:
        raise ReplayError(f"device token counter {counter} is not above the last accepted "
                          f"{last_counter}", device_id=device_id)
    return counter


def token_counter(token: str) -> int | None:
    """The ``ctr`` claim of a stored (already verified) token; None if it has none."""
    try:
        claims = json.loads(_unb64(token.split(".")[1]))
    except (ValueError, IndexError):
        return None
    counter = claims.get("ctr") if isinstance(claims, dict) else None
    return counter if isinstance(counter, int) else None
