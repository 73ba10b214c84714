"""Device tokens as Milestone 2 devices sign them (``--device-auth jws``): ES256 compact JWS.

Milestone 2's device SDK (lcore-device-sdk, ``lcore_jose_sign``) signs the sensor JSON itself:
``BASE64URL({"alg":"ES256","typ":"JWT"}) . BASE64URL(data) . BASE64URL(R || S)``, RFC 7515's
compact serialization without padding, the signature ECDSA P-256 with SHA-256 over the ASCII
``header . payload`` as RFC 7518 3.4 encodes it (64 bytes, not DER), the device's key its
uncompressed point (``04 || X || Y``, 65 bytes; registered here in hex). This node takes that
token as the submission's ``signature``, its payload the submission's ``data`` byte for byte,
with three protected header parameters the SDK's header lacks: ``kid`` (the device id),
``iat`` (the submission's timestamp) and ``ctr``, a per-device counter that must grow: a
token whose counter is not above the last accepted one is a replay. A token may also come
detached (RFC 7515 appendix F: ``header..signature``, the data beside it); the node keeps
it detached (the data is stored encrypted, never in a token) and that is what goes on chain.

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

__all__ = ["JwsClaims", "detached", "parse_p256_key", "parse_token", "public_key_hex",
           "sign_device_jws", "token_counter", "verify_device_jws"]

ALG = "ES256"
_SIDE = 32
_B64URL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


@dataclass(frozen=True, slots=True)
class JwsClaims:
    """What a token's protected header says besides ``alg`` and ``typ``."""

    device_id: str
    timestamp: int
    counter: int


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    if not set(text) <= _B64URL:
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


def sign_device_jws(key: ec.EllipticCurvePrivateKey, claims: JwsClaims, data: str) -> str:
    """What a device sends as its ``signature``: the compact JWS of ``data``."""
    header = {"alg": ALG, "typ": "JWT", "kid": claims.device_id, "iat": claims.timestamp,
              "ctr": claims.counter}
    signing_input = (f"{_b64(json.dumps(header, separators=(',', ':')).encode())}."
                     f"{_b64(data.encode('utf-8'))}")
    r, s = decode_dss_signature(key.sign(signing_input.encode("ascii"),
                                         ec.ECDSA(hashes.SHA256())))
    return f"{signing_input}.{_b64(r.to_bytes(_SIDE, 'big') + s.to_bytes(_SIDE, 'big'))}"


def detached(token: str) -> str:
    """``header..signature``: the token without its payload (RFC 7515 appendix F)."""
    head, _, rest = token.partition(".")
    return f"{head}..{rest.rpartition('.')[2]}"


def parse_token(
    token: object, device_id: str, data: bytes
) -> tuple[str, dict[str, Any], bytes]:
    """(signing input, protected header, signature) of a compact JWS whose payload is
    ``data`` (attached, or detached and put back); UnauthorizedError otherwise."""
    limit = 2 * len(data) + 4096
    if not isinstance(token, str) or len(token) > limit or token.count(".") != 2:
        raise UnauthorizedError("bad device token: not a compact JWS", device_id=device_id)
    head, body, sig = token.split(".")
    try:
        header = json.loads(_unb64(head))
        payload = _unb64(body) if body else data
        signature = _unb64(sig)
    except ValueError as exc:
        raise UnauthorizedError(f"bad device token: {exc}", device_id=device_id) from None
    if not isinstance(header, dict):
        raise UnauthorizedError("bad device token: the header must be an object",
                                device_id=device_id)
    if payload != data:
        raise UnauthorizedError("bad device token: it signs other data", device_id=device_id)
    return f"{head}.{body or _b64(data)}", header, signature


def verify_device_jws(
    key: ec.EllipticCurvePublicKey, token: object, device_id: str, timestamp: int | None,
    data: str, last_counter: int | None,
) -> int:
    """The token's counter when ``token`` is this device's ES256 JWS of ``data`` at
    ``timestamp`` (None: as the token says) with a counter above ``last_counter``;
    UnauthorizedError or ReplayError otherwise."""
    signing_input, header, signature = parse_token(token, device_id, data.encode("utf-8"))
    if header.get("alg") != ALG:
        raise UnauthorizedError(f"bad device token: alg must be {ALG}, not "
                                f"{header.get('alg')!r}", device_id=device_id)
    if header.get("kid") != device_id:
        raise UnauthorizedError("bad device token: its kid names another device",
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
    if timestamp is not None and header.get("iat") != timestamp:
        raise UnauthorizedError("bad device token: it signs another timestamp",
                                device_id=device_id)
    counter = header.get("ctr")
    if not isinstance(counter, int) or isinstance(counter, bool) or counter < 0:
        raise UnauthorizedError("bad device token: ctr must be a counter (integer >= 0)",
                                device_id=device_id)
    if last_counter is not None and counter <= last_counter:
        raise ReplayError(f"device token counter {counter} is not above the last accepted "
                          f"{last_counter}", device_id=device_id)
    return counter


def token_counter(token: str) -> int | None:
    """The ``ctr`` of a stored (already verified) token; None if it has none."""
    try:
        header = json.loads(_unb64(token.split(".")[0]))
    except ValueError:
        return None
    counter = header.get("ctr") if isinstance(header, dict) else None
    return counter if isinstance(counter, int) else None
