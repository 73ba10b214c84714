"""The node's signing protocol, defined once here: the bytes a device signs for one
submission, and which Ed25519 keys and signatures the node accepts.

The device simulator (``utils.iot.devices``) signs exactly :func:`signing_message`.

Strict Ed25519 ("Taming the many EdDSAs", Chalkias, Garillot, Nikolaenko 2020): OpenSSL's
verification (``cryptography``) is RFC 8032's cofactorless equation, but it accepts a
small-order public key (then a fixed signature such as R = a small-order point, S = 0
verifies for any message) and a non-canonical one. So a public key is refused at
registration (:func:`public_key_problem`) unless its encoding is canonical (y < p, no
"negative zero" x), it is a point of the curve and not one of small order; and a signature
is refused before OpenSSL sees it (:func:`signature_problem`) unless S < L and R is neither
a small-order point nor non-canonically encoded. With OpenSSL's cofactorless equation that
is libsodium's rule: of the 12 vectors of the paper's suite (ed25519-speccheck) only #3
(mixed-order A and R, valid under both equations) is accepted, as libsodium and
ed25519-dalek's verify_strict do (tests/test_ed25519_strict.py). A key with a small-order
component is not refused: checking [L]A = 0 costs about 6 ms of pure Python per
registration on the event loop, and buys nothing under one cofactorless verifier. In
legacy mode (no signatures required; the original clients register random bytes) an
off-curve key is stored, and no signature of that device is ever accepted.
"""

from __future__ import annotations

import hashlib

__all__ = ["OFF_CURVE", "public_key_problem", "sha256_hex", "signature_problem",
           "signing_message"]

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493  # the prime order of the base point
D = -121665 * pow(121666, P - 2, P) % P
_SQRT_M1 = pow(2, (P - 1) // 4, P)
_Y_MASK = (1 << 255) - 1
OFF_CURVE = "not a point of the curve"
Point = tuple[int, int, int, int]  # extended coordinates (X, Y, Z, T), x = X/Z, y = Y/Z
_IDENTITY: Point = (0, 1, 1, 0)
#: a point of order 8 (generates the 8 small-order points)
_ORDER_8 = bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a")


def sha256_hex(data: str) -> str:
    return hashlib.sha256(data.encode()).hexdigest()


def signing_message(device_id: str, timestamp: int, data: str) -> bytes:
    """The exact bytes a device signs: ``f"{device_id}|{timestamp}|{sha256_hex(data)}"``."""
    return f"{device_id}|{timestamp}|{sha256_hex(data)}".encode()


def _add(a: Point, b: Point) -> Point:
    """RFC 8032 5.1.4 addition (complete: doubling too)."""
    x1, y1, z1, t1 = a
    x2, y2, z2, t2 = b
    aa, bb = (y1 - x1) * (y2 - x2) % P, (y1 + x1) * (y2 + x2) % P
    cc, dd = t1 * 2 * D * t2 % P, z1 * 2 * z2 % P
    e, f, g, h = bb - aa, dd - cc, dd + cc, bb + aa
    return e * f % P, g * h % P, f * g % P, e * h % P


def _times(point: Point, k: int) -> Point:
    result = _IDENTITY
    while k:
        if k & 1:
            result = _add(result, point)
        point = _add(point, point)
        k >>= 1
    return result


def _is_identity(point: Point) -> bool:
    x, y, z, _ = point
    return x % P == 0 and (y - z) % P == 0


def _decode(raw: bytes) -> Point | None:
    """RFC 8032 5.1.3 decoding, refusing non-canonical encodings (y >= p, x = -0)."""
    value = int.from_bytes(raw, "little")
    y, sign = value & _Y_MASK, value >> 255
    if y >= P:
        return None
    u, v = (y * y - 1) % P, (D * y * y + 1) % P
    x = u * pow(v, 3, P) * pow(u * pow(v, 7, P), (P - 5) // 8, P) % P
    if v * x * x % P == (-u) % P:
        x = x * _SQRT_M1 % P
    elif v * x * x % P != u:
        return None  # not on the curve
    if x == 0 and sign:
        return None
    if x & 1 != sign:
        x = P - x
    return x, y, 1, x * y % P


def _encode(point: Point) -> bytes:
    x, y, z, _ = point
    inv = pow(z, P - 2, P)
    x, y = x * inv % P, y * inv % P
    return (y | (x & 1) << 255).to_bytes(32, "little")


def _small_order_encodings() -> frozenset[bytes]:
    """The 8 small-order points' encodings and their 6 non-canonical spellings: y + p for
    y = 0 and y = 1, and the "negative zero" x of y = 1 and y = -1."""
    generator = _decode(_ORDER_8)
    assert generator is not None
    canonical = {_encode(_times(generator, k)) for k in range(8)}
    found = set(canonical)
    for enc in canonical:
        value = int.from_bytes(enc, "little")
        y, sign = value & _Y_MASK, value >> 255
        spellings = [(y, sign ^ 1)] if y in (1, P - 1) else []
        if y + P <= _Y_MASK:
            spellings += [(y + P, 0), (y + P, 1)]
        found.update((v | s << 255).to_bytes(32, "little") for v, s in spellings)
    return frozenset(found)


SMALL_ORDER_ENCODINGS = _small_order_encodings()


def public_key_problem(raw: bytes, *, decode: bool = True) -> str | None:
    """Why a 32-byte Ed25519 public key is refused, or None when it is accepted.
    ``decode=False``: the encoding checks only (every spelling of a small-order point is
    one of :data:`SMALL_ORDER_ENCODINGS`), not the curve equation (0.4 ms)."""
    if raw in SMALL_ORDER_ENCODINGS:
        return "a small-order point"
    if int.from_bytes(raw, "little") & _Y_MASK >= P:
        return "not canonically encoded (y >= p)"
    if not decode:
        return None
    point = _decode(raw)
    if point is None:
        return OFF_CURVE
    if _is_identity(_times(point, 8)):
        return "a small-order point"
    return None


def signature_problem(signature: bytes) -> str | None:
    """Why a 64-byte signature is refused before verification (a non-canonical S or a
    small-order or non-canonical R, which only cofactored or malleable rules accept)."""
    if int.from_bytes(signature[32:], "little") >= L:
        return "S is not reduced (S >= L)"
    r = signature[:32]
    if r in SMALL_ORDER_ENCODINGS:
        return "R is a small-order point"
    if int.from_bytes(r, "little") & _Y_MASK >= P:
        return "R is not canonically encoded"
    return None
