"""Strict Ed25519 in the lcore node: small-order and non-canonical keys refused at
registration, signatures that verify only under cofactored or malleable rules refused.

Vectors: the 12 of "Taming the many EdDSAs" (Chalkias, Garillot, Nikolaenko, SSR 2020; the
ed25519-speccheck suite) and the 14 encodings of the small-order points (8 canonical, 6
not; listed in C2SP's CCTV ed25519 vectors). A forged record (a fixed small-order R, S = 0
for a small-order key) is attempted over real HTTP, against a fresh database and against
one that stored such a key before the checks existed: refused, nothing stored.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from lcore_node import errors
from lcore_node.api import ApiServer
from lcore_node.node import LcoreNode
from lcore_node.signing import SMALL_ORDER_ENCODINGS, public_key_problem, signature_problem
from lcore_node.validation import Device, parse_public_key, verify_strict
from tests.test_lcore_support import DeviceKey, count, execute, make_config, reading
from utils.iot.devices import verify_signature

#: the small-order points: canonical (8), then non-canonical spellings (6)
SMALL_ORDER = [
    "0100000000000000000000000000000000000000000000000000000000000000",  # identity
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # order 2
    "0000000000000000000000000000000000000000000000000000000000000000",  # order 4
    "0000000000000000000000000000000000000000000000000000000000000080",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",  # order 8
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
    "0100000000000000000000000000000000000000000000000000000000000080",  # x = -0
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # y = p
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # y = p + 1
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
]

_A_SMALL = "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa"
_A_MIXED = "f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43"
_A_MIXED2 = "cdb267ce40c5cd45306fa5d2f29731459387dbf9eb933b7bd5aed9a765b88d4d"
_A_LARGE = "442aad9f089ad9e14647b1ef9099a1ff4798d78589e66f28eca69c11f582a623"
_A_NONCANON = "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
_SIG_11 = ("a9d55260f765261eb9b84e106f665e00b867287a761990d7135963ee0a7d59dc"
           "a5bb704786be79fc476f91d3f3f89b03984d8068dcf1bb7dfc6637b45450ac04")
#: (message, public key, signature, refused where: "key", "signature" or None = accepted)
TAMING = [
    ("8c93255d71dcab10e8f379c26200f3c7bd5f09d9bc3068d3ef4edeb4853022b6", _A_SMALL,
     "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a" + "00" * 32, "key"),
    ("9bd9f44f4dcc75bd531b56b2cd280b0bb38fc1cd6d1230e14861d861de092e79", _A_SMALL,
     "f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43"
     "a5bb704786be79fc476f91d3f3f89b03984d8068dcf1bb7dfc6637b45450ac04", "key"),
    ("aebf3f2601a0c8c5d39cc7d8911642f740b78168218da8471772b35f9d35b9ab", _A_MIXED,
     "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa"
     "8c4bd45aecaca5b24fb97bc10ac27ac8751a7dfe1baff8b953ec9f5833ca260e", "signature"),
    ("9bd9f44f4dcc75bd531b56b2cd280b0bb38fc1cd6d1230e14861d861de092e79", _A_MIXED2,
     "9046a64750444938de19f227bb80485e92b83fdb4b6506c160484c016cc1852f"
     "87909e14428a7a1d62e9f22f3d3ad7802db02eb2e688b6c52fcd6648a98bd009", None),
    ("e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec4011eaccd55b53f56c", _A_MIXED2,
     "160a1cb0dc9c0258cd0a7d23e94d8fa878bcb1925f2c64246b2dee1796bed512"
     "5ec6bc982a269b723e0668e540911a9a6a58921d6925e434ab10aa7940551a09", "signature"),
    ("e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec4011eaccd55b53f56c", _A_MIXED2,
     "21122a84e0b5fca4052f5b1235c80a537878b38f3142356b2c2384ebad4668b7"
     "e40bc836dac0f71076f9abe3a53f9c03c1ceeeddb658d0030494ace586687405", "signature"),
    ("85e241a07d148b41e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec40", _A_LARGE,
     "e96f66be976d82e60150baecff9906684aebb1ef181f67a7189ac78ea23b6c0e"
     "547f7690a0e2ddcd04d87dbc3490dc19b3b3052f7ff0538cb68afb369ba3a514", "signature"),
    ("85e241a07d148b41e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec40", _A_LARGE,
     "8ce5b96c8f26d0ab6c47958c9e68b937104cd36e13c33566acd2fe8d38aa1942"
     "7e71f98a473474f2f13f06f97c20d58cc3f54b8bd0d272f42b695dd7e89a8c22", "signature"),
    ("9bedc267423725d473888631ebf45988bad3db83851ee85c85e241a07d148b41", _A_MIXED,
     "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
     "03be9678ac102edcd92b0210bb34d7428d12ffc5df5f37e359941266a4e35f0f", "signature"),
    ("9bedc267423725d473888631ebf45988bad3db83851ee85c85e241a07d148b41", _A_MIXED,
     "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
     "ca8c5b64cd208982aa38d4936621a4775aa233aa0505711d8fdcfdaa943d4908", "signature"),
    ("e96b7021eb39c1a163b6da4e3093dcd3f21387da4cc4572be588fafae23c155b", _A_NONCANON,
     _SIG_11, "key"),
    ("39a591f5321bbe07fd5a23dc2f39d025d74526615746727ceefd6e82ae65c06f", _A_NONCANON,
     _SIG_11, "key"),
]


def test_the_small_order_encodings_are_the_known_fourteen() -> None:
    assert {bytes.fromhex(h) for h in SMALL_ORDER} == SMALL_ORDER_ENCODINGS
    for point in SMALL_ORDER:
        with pytest.raises(errors.InvalidError, match="public_key: refused Ed25519 key"):
            parse_public_key(point, "dev-1")
        with pytest.raises(errors.InvalidError):  # legacy mode too: only off-curve is kept
            parse_public_key(point, "dev-1", require_signatures=False)
        assert signature_problem(bytes.fromhex(point) + bytes(32)) == "R is a small-order point"


def test_non_canonical_and_off_curve_keys_are_refused() -> None:
    y_p_plus_5 = (2**255 - 19 + 5).to_bytes(32, "little")  # y >= p, not small order
    assert public_key_problem(y_p_plus_5) == "not canonically encoded (y >= p)"
    off_curve = bytes.fromhex("ab" * 32)
    assert public_key_problem(off_curve) == "not a point of the curve"
    with pytest.raises(errors.InvalidError, match="not a point of the curve"):
        parse_public_key(off_curve.hex(), "dev-1")
    # legacy mode: the original clients register random bytes; kept, but never verifies
    _, _, problem = parse_public_key(off_curve.hex(), "dev-1", require_signatures=False)
    assert problem == "not a point of the curve"
    for _ in range(20):  # honest keys pass
        raw = Ed25519PrivateKey.generate().public_key().public_bytes_raw()
        assert public_key_problem(raw) is None


def test_non_canonical_s_is_refused() -> None:
    key = DeviceKey("dev-1")
    message = b"dev-1|1|x"
    signature = key.private.sign(message)
    order = 2**252 + 27742317777372353535851937790883648493
    s = int.from_bytes(signature[32:], "little")
    malleated = signature[:32] + (s + order).to_bytes(32, "little")
    device = Device("dev-1", key.public_hex, key.private.public_key(), "")
    verify_strict(device, signature, message)  # the honest one verifies
    with pytest.raises(errors.UnauthorizedError, match="S >= L"):
        verify_strict(device, malleated, message)


@pytest.mark.parametrize("case", range(12))
def test_taming_vectors(case: int) -> None:
    message, key_hex, sig_hex, refused = TAMING[case]
    if refused == "key":
        with pytest.raises(errors.InvalidError, match="refused Ed25519 key"):
            parse_public_key(key_hex, "dev-1")
        return
    key_hex, key, problem = parse_public_key(key_hex, "dev-1")
    device = Device("dev-1", key_hex, key, "", problem)
    signature, msg = bytes.fromhex(sig_hex), bytes.fromhex(message)
    if refused is None:  # #3: mixed-order A and R, valid under both equations
        verify_strict(device, signature, msg)
        return
    with pytest.raises(errors.UnauthorizedError, match="bad signature"):
        verify_strict(device, signature, msg)


def test_the_simulators_check_is_as_strict() -> None:
    # verify_signature takes the node's protocol bytes; a small-order key with R = small,
    # S = 0 verifies for any message under RFC 8032 alone
    forged = SMALL_ORDER[6] + "00" * 32
    assert not verify_signature(_A_SMALL, "dev-1", 1, "{}", forged)
    device = DeviceKey("dev-2")
    good = device.sign(5, "{}")
    assert verify_signature(device.public_hex, "dev-2", 5, "{}", good)


async def _post(http: aiohttp.ClientSession, url: str, body: dict[str, Any]) -> tuple[int, Any]:
    async with http.post(url, json=body) as resp:
        return resp.status, await resp.json()


def _forged(device_id: str, now: int) -> dict[str, Any]:
    """The attack of the issue: a fixed signature (R small-order, S = 0), any data."""
    return {"device_id": device_id, "data": reading(666), "timestamp": now,
            "signature": SMALL_ORDER[6] + "00" * 32}


async def test_forged_record_over_http_is_refused_and_nothing_stored(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    now = int(time.time())
    async with (
        LcoreNode(config) as node,
        ApiServer(node, "127.0.0.1", 0, config.max_data_bytes) as server,
        aiohttp.ClientSession() as http,
    ):
        for point in SMALL_ORDER:
            body = {"device_id": "weak-1", "public_key": point}
            status, answer = await _post(http, server.url + "/device/register", body)
            assert status == 422, answer
            assert answer["success"] is False and answer["error"] == "invalid"
            assert "public_key: refused Ed25519 key" in answer["message"]
        status, answer = await _post(http, server.url + "/device/data", _forged("weak-1", now))
        assert status == 404 and answer["success"] is False
    assert count(config.db_path, "devices") == 0
    assert count(config.db_path) == 0


async def test_a_weak_key_stored_before_the_checks_signs_nothing(tmp_path: Path) -> None:
    """A database written by an older node holds a small-order key: the node starts, and the
    forged signature (which RFC 8032's equation accepts for that key) is refused."""
    config = make_config(tmp_path)
    honest, now = DeviceKey("good-1"), int(time.time())
    async with LcoreNode(config) as node:
        await node.register_device(honest.device_id, honest.public_hex)
    execute(config.db_path, "INSERT INTO devices (id, public_key, device_type, "
            "registration_date) VALUES (?, ?, ?, ?)", ("weak-1", _A_SMALL, "ev_sensor", now))
    async with (
        LcoreNode(config) as node,
        ApiServer(node, "127.0.0.1", 0, config.max_data_bytes) as server,
        aiohttp.ClientSession() as http,
    ):
        status, answer = await _post(http, server.url + "/device/data", _forged("weak-1", now))
        assert status == 401 and answer["error"] == "unauthorized", answer
        assert "device key refused: a small-order point" in answer["message"]
        data = reading(1)
        ok = {"device_id": "good-1", "data": data, "timestamp": now,
              "signature": honest.sign(now, data)}
        assert (await _post(http, server.url + "/device/data", ok))[0] == 200
    assert count(config.db_path, where="device_id = 'weak-1'") == 0
    assert count(config.db_path) == 1
