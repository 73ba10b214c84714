"""LcoreNode through its Python API: real SQLite files, real keys, real signatures."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from pathlib import Path

import pytest

from lcore_node import errors
from lcore_node.config import NodeConfig
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
from utils.observe.events import IotEvent
from utils.observe.stats import StatsHub


def _hub() -> tuple[StatsHub, list[IotEvent]]:
    hub = StatsHub()
    events: list[IotEvent] = []
    hub.tap(lambda e: events.append(e) if isinstance(e, IotEvent) else None)
    return hub, events


async def test_round_trip(tmp_path: Path) -> None:
    key = DeviceKey("sensor-01")
    now = int(time.time())
    data = reading(1)
    async with LcoreNode(make_config(tmp_path)) as node:
        assert (await node.register_device(key.device_id, key.public_hex, "greenhouse")).created
        accepted = await node.submit_data(key.device_id, data, now, key.sign(now, data))
        record = await node.get_record(accepted.record_id)
        status = await node.status()
    assert record.data == data and record.device_id == "sensor-01"
    assert record.commit_status == "pending" and record.key_id == 1
    ((envelope, proof, task, size, sig),) = query(
        tmp_path / "lcore.db",
        "SELECT data, proof_hash, task_id, data_size, signature FROM data_submissions",
    )
    assert data.encode() not in envelope  # stored encrypted
    assert proof == hashlib.sha256(envelope).digest() and accepted.proof_hash == "0x" + proof.hex()
    assert accepted.task_id == "0x" + task.hex() and len(task) == 32
    assert size == len(data) and sig == key.sign(now, data)
    assert status["records"] == 1 and status["pending"] == 1 and status["devices"] == 1


async def test_register_idempotent_conflict_and_invalid(tmp_path: Path) -> None:
    key, other = DeviceKey("dev-a"), DeviceKey("dev-a")
    async with LcoreNode(make_config(tmp_path)) as node:
        assert (await node.register_device("dev-a", key.public_hex)).created
        assert not (await node.register_device("dev-a", key.public_hex.upper())).created
        with pytest.raises(errors.ConflictError):
            await node.register_device("dev-a", other.public_hex)
        with pytest.raises(errors.InvalidError, match="public_key"):
            await node.register_device("dev-b", "abcd")
        with pytest.raises(errors.InvalidError, match="device_id"):
            await node.register_device("x" * 65, key.public_hex)
    rows = query(tmp_path / "lcore.db", "SELECT id, public_key FROM devices")
    assert rows == [("dev-a", key.public_hex)]


@pytest.mark.parametrize("case", REFUSALS, ids=lambda c: c.name)
async def test_refusals_store_nothing(tmp_path: Path, case: Refusal) -> None:
    key = DeviceKey("dev-1")
    hub, events = _hub()
    async with LcoreNode(make_config(tmp_path, max_data_bytes=BIG_LIMIT), hub=hub) as node:
        await node.register_device(key.device_id, key.public_hex)
        device_id, data, timestamp, signature = case.build(key, int(time.time()))
        with pytest.raises(getattr(errors, case.error)) as info:
            await node.submit_data(device_id, data, timestamp, signature)
    assert type(info.value).__name__ == case.error
    assert info.value.http_status == case.status
    assert count(tmp_path / "lcore.db") == 0
    submit = [e for e in events if e.operation == "submit"]
    assert [(e.stage, e.success) for e in submit] == [("validate", False), ("total", False)]
    assert submit[0].error == info.value.code


async def test_replay_is_refused(tmp_path: Path) -> None:
    key, now, data = DeviceKey("dev-1"), int(time.time()), reading()
    async with LcoreNode(make_config(tmp_path)) as node:
        await node.register_device(key.device_id, key.public_hex)
        signature = key.sign(now, data)
        await node.submit_data(key.device_id, data, now, signature)
        with pytest.raises(errors.ReplayError) as info:
            await node.submit_data(key.device_id, data, now, signature.upper())
    assert info.value.http_status == 409
    assert count(tmp_path / "lcore.db") == 1


async def test_unsigned_mode_from_env(tmp_path: Path) -> None:
    config = NodeConfig.from_env(
        tmp_path / "lcore.db", tmp_path / "keys", {"LCORE_REQUIRE_SIGNATURES": "false"}
    )
    assert not config.require_signatures
    key, now = DeviceKey("dev-1"), int(time.time())
    async with LcoreNode(config) as node:
        await node.register_device(key.device_id, key.public_hex)
        first = await node.submit_data(key.device_id, reading(1), now)
        second = await node.submit_data(key.device_id, reading(1), now, None)
        with pytest.raises(errors.NotFoundError):
            await node.submit_data("ghost", reading(), now)
        with pytest.raises(errors.UnauthorizedError):  # a signature given is still checked
            await node.submit_data(key.device_id, reading(1), now, key.sign(now, reading(2)))
    assert second.record_id == first.record_id + 1
    assert count(tmp_path / "lcore.db") == 2


async def _two_records(node: LcoreNode, keys: list[DeviceKey]) -> list[int]:
    now, ids = int(time.time()), []
    for n, key in enumerate(keys):
        await node.register_device(key.device_id, key.public_hex)
        data = reading(n)
        ids.append(
            (await node.submit_data(key.device_id, data, now, key.sign(now, data))).record_id
        )
    return ids


async def test_flipped_byte_in_db_fails_decryption(tmp_path: Path) -> None:
    async with LcoreNode(make_config(tmp_path)) as node:
        (record_id,) = await _two_records(node, [DeviceKey("dev-1")])
        ((envelope,),) = query(tmp_path / "lcore.db", "SELECT data FROM data_submissions")
        tampered = bytearray(envelope)
        tampered[len(tampered) // 2] ^= 0x80
        execute(tmp_path / "lcore.db", "UPDATE data_submissions SET data = ?", (bytes(tampered),))
        with pytest.raises(errors.DecryptionError):
            await node.get_record(record_id)
        report = await node.verify_record(record_id)
    assert not report.decrypts and not report.proof_matches and not report.ok


@pytest.mark.parametrize("same_device", [True, False])
async def test_ciphertexts_swapped_between_records_fail(tmp_path: Path, same_device: bool) -> None:
    keys = [DeviceKey("dev-1"), DeviceKey("dev-1" if same_device else "dev-2")]
    async with LcoreNode(make_config(tmp_path)) as node:
        await node.register_device(keys[0].device_id, keys[0].public_hex)
        first, second = await _two_records(node, keys if not same_device else keys[:1] * 2)
        db = tmp_path / "lcore.db"
        rows = dict(query(db, "SELECT id, data FROM data_submissions"))
        proofs = dict(query(db, "SELECT id, proof_hash FROM data_submissions"))
        for target, source in ((first, second), (second, first)):  # swap data and proof
            execute(
                db,
                "UPDATE data_submissions SET data = ?, proof_hash = ? WHERE id = ?",
                (rows[source], proofs[source], target),
            )
        for record_id in (first, second):
            with pytest.raises(errors.DecryptionError):
                await node.get_record(record_id)
            report = await node.verify_record(record_id)
            assert report.proof_matches and not report.decrypts


async def test_group_commit_rows_durable_when_submit_returns(tmp_path: Path) -> None:
    key, now, total = DeviceKey("dev-1"), int(time.time()), 300
    samples = [reading(n) for n in range(total)]
    signatures = [key.sign(now, d) for d in samples]
    db = tmp_path / "lcore.db"
    async with LcoreNode(make_config(tmp_path)) as node:
        await node.register_device(key.device_id, key.public_hex)
        writer = node.storage.writer
        batches_before = writer.batches
        tasks = [
            asyncio.create_task(node.submit_data(key.device_id, d, now, s))
            for d, s in zip(samples, signatures, strict=True)
        ]
        seen = 0
        for done in asyncio.as_completed(tasks):
            accepted = await done
            # visible to an independent connection the moment submit returned
            assert count(db, where=f"id = {accepted.record_id}") == 1
            seen += 1
        batches = writer.batches - batches_before
    assert seen == total and count(db) == total
    assert batches < total / 4, f"{batches} transactions for {total} rows: not batched"


async def test_events_one_per_stage(tmp_path: Path) -> None:
    key, now, data = DeviceKey("dev-1"), int(time.time()), reading()
    hub, events = _hub()
    async with LcoreNode(make_config(tmp_path), hub=hub) as node:
        await node.register_device(key.device_id, key.public_hex, "ev-charger")
        await node.submit_data(key.device_id, data, now, key.sign(now, data))
    register = [(e.stage, e.success) for e in events if e.operation == "register"]
    submit = [e for e in events if e.operation == "submit"]
    assert register == [("validate", True), ("store", True), ("total", True)]
    assert [(e.stage, e.success) for e in submit] == [
        ("validate", True),
        ("encrypt", True),
        ("store", True),
        ("total", True),
    ]
    assert all(e.device_type == "ev-charger" and e.data_size == len(data) for e in submit)
    assert all(0 < e.latency < 5 for e in submit)
    assert submit[-1].latency >= sum(e.latency for e in submit[:-1])


async def test_restart_keeps_devices_ids_and_records(tmp_path: Path) -> None:
    key, now = DeviceKey("dev-1"), int(time.time())
    async with LcoreNode(make_config(tmp_path)) as node:
        (first,) = await _two_records(node, [key])
        node_id = node.node_id
        await node.rotate_keys()
    async with LcoreNode(make_config(tmp_path)) as node:
        assert node.node_id == node_id
        data = reading(9)
        second = await node.submit_data(key.device_id, data, now, key.sign(now, data))
        old, new = await node.get_record(first), await node.get_record(second.record_id)
        reports = [r async for r in node.verify_all()]
    assert second.record_id == first + 1
    assert (old.key_id, new.key_id) == (1, 2) and new.data == data
    assert [r.ok for r in reports] == [True, True]


async def test_second_node_on_same_database_is_refused(tmp_path: Path) -> None:
    async with LcoreNode(make_config(tmp_path)):
        with pytest.raises(errors.StorageError, match="in use"):
            async with LcoreNode(make_config(tmp_path)):
                pass


def test_task_ids_differ_between_databases(tmp_path: Path) -> None:
    async def one(path: Path) -> str:
        key, now = DeviceKey("dev-1"), int(time.time())
        async with LcoreNode(make_config(path)) as node:
            await node.register_device(key.device_id, key.public_hex)
            data = json.dumps({"t": 1})
            return (await node.submit_data(key.device_id, data, now, key.sign(now, data))).task_id

    first = asyncio.run(one(tmp_path / "a"))
    second = asyncio.run(one(tmp_path / "b"))
    assert first != second  # same record id 1 and device, different node ids


async def test_database_of_another_schema_is_refused_clearly(tmp_path: Path) -> None:
    db = tmp_path / "lcore.db"
    execute(db, "CREATE TABLE data_submissions (id INTEGER PRIMARY KEY, device_id TEXT, data BLOB)")
    for _ in range(2):  # the failed start released its lock: same error, not "in use"
        with pytest.raises(errors.StorageError, match="lacks columns"):
            async with LcoreNode(make_config(tmp_path)):
                pass
