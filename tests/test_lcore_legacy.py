"""Legacy mode: the original system's client works unchanged against ``lcore_node serve``.

``OriginalStyleClient`` behaves as the original ``utils/lcore_client.py`` and
``contracts/data_pipeline.py`` of Modern-Society-Labs/KC-Chain-M1 do (written here from
their request/response behaviour, not copied): it registers ``{device_id, public_key}``
with a random 32-byte hex key, submits ``{device_id, data, timestamp}`` without a
signature, retries a non-2xx answer up to 3 times, counts a success for any 2xx, and
counts an on-chain commitment when ``str(answer)`` holds ``"tx 0x"``, taking the hash as
``str(answer).split("tx ")[1].split()[0]``.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import secrets
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import clean_env
from tests.fuzz_http import ServeProcess, start_serve, wait_committed

DEVICES = 6
SUBMISSIONS = 30


@dataclass
class OriginalTracker:
    """What the original IoTMetricsTracker counts."""

    registrations: int = 0
    data_submissions: int = 0
    successful: int = 0
    on_chain_commitments: int = 0
    tx_hashes: list[str] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)


class OriginalStyleClient:
    def __init__(self, base_url: str, max_retries: int = 3) -> None:
        self.base_url = base_url
        self.max_retries = max_retries

    async def _post(self, session: aiohttp.ClientSession, endpoint: str,
                    payload: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
        for attempt in range(self.max_retries):
            async with session.post(self.base_url + endpoint, json=payload,
                                    headers={"Content-Type": "application/json"}) as resp:
                answer = await resp.json()
                if 200 <= resp.status < 300:
                    return True, answer
                if attempt == self.max_retries - 1:
                    return False, {"error": f"HTTP {resp.status}", "details": answer}
        return False, {"error": "max_retries_exceeded"}

    async def run(self, devices: int, submissions: int) -> OriginalTracker:
        tracker = OriginalTracker()
        rng = random.Random(7)
        fleet = [f"{p}_{1000 + i}" for i, p in
                 enumerate(rng.choice(["EV", "GH", "POS"]) for _ in range(devices))]
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
            registered = []
            for device_id in fleet:
                ok, _ = await self._post(session, "/device/register",
                                         {"device_id": device_id,
                                          "public_key": secrets.token_hex(32)})
                tracker.registrations += 1
                tracker.successful += ok
                if ok:
                    registered.append(device_id)
            for n in range(submissions):
                device_id = rng.choice(registered or fleet)
                data = json.dumps({"device_id": device_id, "reading": n,
                                   "value": round(rng.uniform(0, 100), 2)})
                ok, answer = await self._post(session, "/device/data", {
                    "device_id": device_id, "data": data, "timestamp": int(time.time())})
                tracker.data_submissions += 1
                tracker.successful += ok
                tracker.messages.append(str(answer.get("message", "")))
                if ok and "tx 0x" in str(answer):
                    tracker.on_chain_commitments += 1
                    tracker.tx_hashes.append(str(answer).split("tx ")[1].split()[0])
        return tracker


def _serve(tmp: Path, *args: str, **env: str) -> Iterator[ServeProcess]:
    node = start_serve(tmp, *args, env=clean_env(**env))
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture(scope="module")
def legacy_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    yield from _serve(tmp_path_factory.mktemp("legacy"), LCORE_LEGACY_API="true")


def test_original_client_registers_submits_and_sees_every_commitment(
    legacy_node: ServeProcess,
) -> None:
    tracker = asyncio.run(OriginalStyleClient(legacy_node.url).run(DEVICES, SUBMISSIONS))
    assert (tracker.registrations, tracker.data_submissions) == (DEVICES, SUBMISSIONS)
    assert tracker.successful == DEVICES + SUBMISSIONS
    assert tracker.on_chain_commitments == SUBMISSIONS, tracker.messages
    assert "legacy API on" in legacy_node.log.read_text()
    # the hash the client read is the record's commit transaction, and it was committed
    wait_committed(legacy_node, 60)
    conn = sqlite3.connect(f"file:{legacy_node.db}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT transaction_hash, commit_status FROM data_submissions"
                            " ORDER BY id").fetchall()
    finally:
        conn.close()
    assert [s for _, s in rows] == ["committed"] * SUBMISSIONS
    read = [re.match(r"0x[0-9a-f]{64}", h) for h in tracker.tx_hashes]
    assert all(read) and [m.group(0) for m in read if m] == [h for h, _ in rows]


def test_legacy_answers_have_the_original_shape(legacy_node: ServeProcess) -> None:
    async def exchange() -> list[tuple[int, dict[str, Any]]]:
        out = []
        async with aiohttp.ClientSession() as session:
            for path, body in (
                ("/device/register", {"device_id": "EV_9001", "public_key": "ab" * 32}),
                ("/device/data", {"device_id": "EV_9001", "data": '{"v": 1}',
                                  "timestamp": int(time.time())}),
                ("/device/data", {"device_id": "EV_9001", "data": '{"v": 2}'}),
                ("/device/data", {"device_id": "nobody", "data": "{}", "timestamp": 1}),
            ):
                async with session.post(legacy_node.url + path, json=body) as resp:
                    out.append((resp.status, await resp.json()))
        return out

    (reg, first, no_ts, unknown) = asyncio.run(exchange())
    assert reg == (201, {"success": True, "message": "Device registered successfully"})
    for status, answer in (first, no_ts):  # the original node read no timestamp either
        assert status == 200 and set(answer) == {"success", "message"}
        assert re.fullmatch(r"Data submitted; tx 0x[0-9a-f]{64}", answer["message"]), answer
    assert unknown[0] == 404 and unknown[1]["success"] is False


def test_without_a_chain_the_answer_says_dispatch_failed(tmp_path: Path) -> None:
    for node in _serve(tmp_path, "--legacy-api", "--no-chain"):
        tracker = asyncio.run(OriginalStyleClient(node.url).run(2, 3))
        assert tracker.successful == 5 and tracker.on_chain_commitments == 0
        assert all(m.startswith("Data stored locally; KC-Chain dispatch failed: ")
                   for m in tracker.messages), tracker.messages


def test_legacy_mode_is_off_by_default(tmp_path: Path) -> None:
    for node in _serve(tmp_path, "--no-chain"):
        tracker = asyncio.run(OriginalStyleClient(node.url).run(2, 3))
        # the original client registers 32 random bytes as its key: signed mode (the default)
        # takes one that is a valid Ed25519 point and refuses the others (422), so at most the
        # registrations succeed, never a submission
        assert tracker.registrations == 2 and tracker.successful <= 2
        assert tracker.on_chain_commitments == 0  # unsigned submissions are refused (401)
        assert "legacy API on" not in node.log.read_text()
