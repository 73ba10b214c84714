"""The lcore node's HTTP API on 127.0.0.1 (port 0), with a plain aiohttp client, and its CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from lcore_node import errors
from lcore_node.api import ApiServer
from lcore_node.client import LcoreHttpClient
from lcore_node.node import LcoreNode
from tests.test_lcore_support import (
    BIG_LIMIT,
    REFUSALS,
    DeviceKey,
    Refusal,
    count,
    execute,
    make_config,
    query,
    reading,
)

ROOT = Path(__file__).resolve().parent.parent


@asynccontextmanager
async def served(tmp_path: Path, **config: Any) -> AsyncIterator[tuple[str, LcoreNode]]:
    node_config = make_config(tmp_path, **config)
    async with (
        LcoreNode(node_config) as node,
        ApiServer(node, "127.0.0.1", 0, node_config.max_data_bytes) as server,
    ):
        yield server.url, node


async def _post(session: aiohttp.ClientSession, url: str, body: Any) -> tuple[int, Any]:
    kwargs = {"data": body} if isinstance(body, (bytes, str)) else {"json": body}
    async with session.post(url, **kwargs) as resp:
        return resp.status, await resp.json()


async def test_register_submit_status(tmp_path: Path) -> None:
    key, now, data = DeviceKey("sensor-7"), int(time.time()), reading()
    async with served(tmp_path) as (url, node), aiohttp.ClientSession() as http:
        body = {"device_id": key.device_id, "public_key": key.public_hex}
        assert await _post(http, url + "/device/register", body) == (
            201,
            {"success": True, "message": "device registered"},
        )
        status, again = await _post(http, url + "/device/register", body)
        assert status == 200 and again["success"]
        submission = {
            "device_id": key.device_id,
            "data": data,
            "timestamp": now,
            "signature": key.sign(now, data),
        }
        status, answer = await _post(http, url + "/device/data", submission)
        assert status == 200 and answer["success"] and answer["tx_hash"] is None
        record = await node.get_record(answer["record_id"])
        assert record.data == data and record.task_id == answer["task_id"]
        async with http.get(url + "/status") as resp:
            assert resp.status == 200
            state = await resp.json()
    assert state["status"] == "ok" and state["version"]
    assert (state["devices"], state["records"], state["pending"]) == (1, 1, 1)


@pytest.mark.parametrize("case", REFUSALS, ids=lambda c: c.name)
async def test_refusals_over_http(tmp_path: Path, case: Refusal) -> None:
    key = DeviceKey("dev-1")
    async with served(tmp_path, max_data_bytes=BIG_LIMIT) as (url, node):
        await node.register_device(key.device_id, key.public_hex)
        device_id, data, timestamp, signature = case.build(key, int(time.time()))
        body = {"device_id": device_id, "data": data, "timestamp": timestamp}
        body["signature"] = signature
        async with aiohttp.ClientSession() as http:
            status, answer = await _post(http, url + "/device/data", body)
    assert status == case.status
    assert answer["success"] is False and answer["message"]
    assert answer["error"] == getattr(errors, case.error).code
    assert count(tmp_path / "lcore.db") == 0


async def test_http_specific_refusals(tmp_path: Path) -> None:
    key, now, data = DeviceKey("dev-1"), int(time.time()), reading()
    async with served(tmp_path, max_data_bytes=BIG_LIMIT) as (url, node):
        await node.register_device(key.device_id, key.public_hex)
        async with aiohttp.ClientSession() as http:
            cases = [
                ("/device/data", b"{not json", 400),
                ("/device/data", b"\xff\xfe", 400),
                ("/device/data", b"[1, 2]", 422),
                ("/device/data", {"device_id": key.device_id, "data": data}, 422),  # no ts
                ("/device/data", b"x" * (7 * BIG_LIMIT + 16 * 1024), 413),  # body over limit
                ("/device/register", {"device_id": "dev-1"}, 422),
                ("/device/register", {"device_id": "dev-1", "public_key": "00"}, 422),
                ("/device/register", {"device_id": "dev-1",
                                      "public_key": DeviceKey("dev-1").public_hex}, 409),
                ("/device/register", {"device_id": "dev-2", "public_key": "ab" * 32}, 422),
                ("/device/register", {"device_id": "dev-2", "public_key": "01" + "00" * 31},
                 422),  # the identity point: small order
            ]
            for path, body, expected in cases:
                status, answer = await _post(http, url + path, body)
                assert (path, status) == (path, expected), answer
                assert answer["success"] is False and answer["message"]
            signed = {"device_id": key.device_id, "data": data, "timestamp": now}
            signed["signature"] = key.sign(now, data)
            assert (await _post(http, url + "/device/data", signed))[0] == 200
            status, answer = await _post(http, url + "/device/data", signed)  # replay
            assert (status, answer["error"]) == (409, "replay")
            async with http.get(url + "/nowhere") as resp:
                assert resp.status == 404 and (await resp.json())["success"] is False
    assert count(tmp_path / "lcore.db") == 1
    assert count(tmp_path / "lcore.db", "devices") == 1


async def test_http_client_has_the_node_api(tmp_path: Path) -> None:
    key, now, data = DeviceKey("dev-1"), int(time.time()), reading()
    async with served(tmp_path) as (url, node), LcoreHttpClient(url) as client:
        assert (await client.register_device(key.device_id, key.public_hex, "pos")).created
        assert not (await client.register_device(key.device_id, key.public_hex)).created
        signature = key.sign(now, data)
        accepted = await client.submit_data(key.device_id, data, now, signature)
        assert (await node.get_record(accepted.record_id)).data == data
        assert accepted.key_id == 1 and accepted.proof_hash.startswith("0x")
        with pytest.raises(errors.ReplayError):
            await client.submit_data(key.device_id, data, now, signature)
        with pytest.raises(errors.StaleError):
            await client.submit_data(key.device_id, data, now - 1000, key.sign(now - 1000, data))
        with pytest.raises(errors.NotFoundError):
            await client.submit_data("ghost", data, now, signature)
        assert (await client.status())["records"] == 1
    async with LcoreHttpClient(url) as client:  # server gone
        with pytest.raises(errors.UnavailableError):
            await client.status()


def _http_json(url: str, body: dict[str, Any] | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as resp:
        return json.loads(resp.read())


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lcore_node", *args],
        capture_output=True,
        text=True,
        env=os.environ | {"PYTHONPATH": str(ROOT)},
        timeout=60,
    )


def test_cli_serve_verify_rotate(tmp_path: Path) -> None:
    db, key_dir = tmp_path / "n.db", tmp_path / "keys"
    args = ["--db", str(db), "--key-dir", str(key_dir)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "lcore_node", "serve", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ | {"PYTHONPATH": str(ROOT)},
    )
    key, now, data = DeviceKey("dev-1"), int(time.time()), reading()
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "listening on http://127.0.0.1:" in line
        url = line.split("listening on ")[1].split()[0]
        _http_json(url + "/device/register", {"device_id": "dev-1", "public_key": key.public_hex})
        body = {"device_id": "dev-1", "data": data, "timestamp": now}
        answer = _http_json(url + "/device/data", body | {"signature": key.sign(now, data)})
        assert answer["record_id"] == 1
        assert _http_json(url + "/status")["records"] == 1
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "new current key id: 2" in _cli("rotate-key", "--key-dir", str(key_dir)).stdout
    verified = _cli("verify", *args)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "verified 1 records offline (no chain to compare): 1 ok, 0 mismatch" in verified.stdout
    ((envelope,),) = query(db, "SELECT data FROM data_submissions")
    execute(
        db, "UPDATE data_submissions SET data = ?", (envelope[:-1] + bytes([envelope[-1] ^ 1]),)
    )
    verified = _cli("verify", *args)
    assert verified.returncode == 1 and "0 ok, 1 mismatch" in verified.stdout
