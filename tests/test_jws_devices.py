"""Device tokens as Milestone 2 signs them (issue 24.4): ES256 compact JWS (RFC 7515/7518)
of the sensor data, as lcore-device-sdk signs it, with a per-device counter in the protected
header, through the real node over real HTTP (127.0.0.1, port 0).

Accepted: a simulated device's tokens, each counter above the last, attached or detached
(also after a node restart: the counter is restored from the stored tokens, which are kept
detached: no data in them). Refused with the same 401 as a bad Ed25519 signature: another
device's token, a token over other data or another timestamp, alg none / HS256, a flipped
signature byte, a DER signature, the SDK's bare header (no kid, no counter); a counter not
above the last: 409 (replay). The Ed25519 mode is unchanged (its own tests); an Ed25519 key is
refused at registration in jws mode (422).
"""

from __future__ import annotations

import asyncio
import base64
import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from lcore_node.api import ApiServer
from lcore_node.config import NodeConfig
from lcore_node.jws import JwsClaims, sign_device_jws
from lcore_node.node import LcoreNode
from utils.iot.devices import DeviceFleet

pytestmark = pytest.mark.asyncio


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def config(tmp_path: Path) -> NodeConfig:
    return NodeConfig(db_path=tmp_path / "lcore.db", key_dir=tmp_path / "keys",
                      device_auth="jws", outbox_enabled=False)


async def post(session: aiohttp.ClientSession, url: str, body: dict[str, Any]
               ) -> tuple[int, dict[str, Any]]:
    async with session.post(url, json=body) as response:
        return response.status, await response.json()


async def test_tokens_accepted_refused_and_replayed(tmp_path: Path) -> None:
    fleet = DeviceFleet(2, 5, auth="jws")
    alice, bob = fleet.devices
    assert len(alice.public_key_hex) == 130 and alice.public_key_hex.startswith("04")
    now = int(time.time())
    async with LcoreNode(config(tmp_path)) as node, ApiServer(node, "127.0.0.1", 0) as api, \
            aiohttp.ClientSession() as session:
        base = f"http://127.0.0.1:{api.port}"
        for device in fleet:
            status, _ = await post(session, f"{base}/device/register", {
                "device_id": device.device_id, "public_key": device.public_key_hex})
            assert status in (200, 201)
        status, answer = await post(session, f"{base}/device/register", {
            "device_id": "ed25519-dev", "public_key": "11" * 32})
        assert status == 422 and "P-256" in json.dumps(answer)

        def body(device: Any, data: str, token: str, stamp: int = now) -> dict[str, Any]:
            return {"device_id": device.device_id, "data": data, "timestamp": stamp,
                    "signature": token}

        data = json.dumps({"temperature": 21.5})
        for i in range(3):  # counters 1, 2, 3
            reading = json.dumps({"temperature": 20 + i})
            status, answer = await post(session, f"{base}/device/data",
                                        body(alice, reading, alice.sign_submission(reading, now)))
            assert status in (200, 201), answer
        token = alice.sign_submission(data, now)  # counter 4
        assert (await post(session, f"{base}/device/data", body(alice, data, token)))[0] in (
            200, 201)
        # the same token again, and an older counter: replays (409)
        status, answer = await post(session, f"{base}/device/data", body(alice, data, token))
        assert status == 409, answer
        key = alice._jws_key
        old = sign_device_jws(key, JwsClaims(alice.device_id, now, 2), data)
        status, answer = await post(session, f"{base}/device/data", body(alice, data, old))
        assert status == 409 and "counter 2 is not above the last accepted 4" in json.dumps(
            answer)
        # refusals: the same 401 as a bad Ed25519 signature
        sig = token.split(".")[2]
        flipped = bytearray(base64.urlsafe_b64decode(sig + "=="))
        flipped[10] ^= 1
        fresh = sign_device_jws(key, JwsClaims(alice.device_id, now, 9), data)
        fh, fc, fs = fresh.split(".")
        der = key.sign(f"{fh}.{fc}".encode(), ec.ECDSA(hashes.SHA256()))
        none_head = b64(json.dumps({"alg": "none", "kid": alice.device_id}).encode())
        hs_head = b64(json.dumps({"alg": "HS256", "kid": alice.device_id}).encode())
        bad = {
            "another device's token": body(bob, data, fresh),
            "other data": body(alice, json.dumps({"temperature": 99}), fresh),
            "other timestamp": body(alice, data, fresh, now + 1),
            "alg none": body(alice, data, f"{none_head}.{fc}."),
            "alg HS256": body(alice, data, f"{hs_head}.{fc}.{fs}"),
            "flipped byte": body(alice, data, f"{fh}.{fc}.{b64(bytes(flipped))}"),
            "DER signature": body(alice, data, f"{fh}.{fc}.{b64(der)}"),
            "not a JWS": body(alice, data, "ab" * 64),
        }
        for why, request in bad.items():
            status, answer = await post(session, f"{base}/device/data", request)
            assert status == 401, (why, answer)
        # the refusals spent no counter: 9 is still good, sent detached (RFC 7515 appendix F)
        assert (await post(session, f"{base}/device/data",
                           body(alice, data, f"{fh}..{fs}")))[0] in (200, 201)
        # the SDK's bare header (no kid, iat, ctr): no counter to stop a replay
        sdk_head = b64(json.dumps({"alg": "ES256", "typ": "JWT"}).encode())
        sdk_sig = key.sign(f"{sdk_head}.{fc}".encode(), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(sdk_sig)
        sdk = f"{sdk_head}.{fc}.{b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"
        status, answer = await post(session, f"{base}/device/data", body(alice, data, sdk))
        assert status == 401 and "kid" in json.dumps(answer)
        stored = [row[0] for row in sqlite3.connect(tmp_path / "lcore.db").execute(
            "SELECT signature FROM data_submissions ORDER BY id")]
        assert len(stored) == 5 and all(".." in t for t in stored)  # kept detached
        assert all(b64(data.encode()) not in t for t in stored)  # no data in a token
        jws = node.jws_devices
        assert jws is not None
        jws.check_stored(stored[-1], alice.device_id, data.encode())  # the app's re-check
        with pytest.raises(Exception, match="does not verify"):
            jws.check_stored(stored[-1], alice.device_id, b'{"temperature":1}')
    async with LcoreNode(config(tmp_path)) as node:  # restart: counter 9 restored
        again = sign_device_jws(key, JwsClaims(alice.device_id, now, 9), data)
        with pytest.raises(Exception, match="not above the last accepted 9"):
            await node.submit_data(alice.device_id, data, now, again)
        newer = sign_device_jws(key, JwsClaims(alice.device_id, now, 10), data)
        accepted = await node.submit_data(alice.device_id, data, now, newer)
        assert accepted.record_id > 0


async def test_a_jws_database_in_ed25519_mode_and_verify(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]
                                                          ) -> None:
    """A database of JWS devices opened in the default mode is refused naming the mode (it
    was a traceback: 'An Ed25519 public key is 32 bytes long'); main.py verify reads the mode
    from the database and checks its records."""
    from utils.errors import ConfigError
    from utils.iot.verify_cli import main as verify_main

    fleet = DeviceFleet(1, 5, auth="jws")
    (dev,) = fleet.devices
    data, now = json.dumps({"temperature": 21.5}), int(time.time())
    async with LcoreNode(config(tmp_path)) as node:
        await node.register_device(dev.device_id, dev.public_key_hex)
        await node.submit_data(dev.device_id, data, now, dev.sign_submission(data, now))
    ed25519 = NodeConfig(db_path=tmp_path / "lcore.db", key_dir=tmp_path / "keys",
                         outbox_enabled=False)
    with pytest.raises(ConfigError, match=f"device '{dev.device_id}' is registered with a jws "
                       "key .* give --device-auth jws"):
        async with LcoreNode(ed25519):
            pass
    code = await asyncio.to_thread(verify_main, ["--db", str(tmp_path / "lcore.db"),
                                                 "--key-dir", str(tmp_path / "keys")])
    assert code == 0
    assert "verified 1 records offline" in capsys.readouterr().out  # none on a chain yet
