"""Benchmark: validate + encrypt + store through LcoreNode vs. a bare loop of the same calls.

    .venv/bin/python bench/iot_pipeline.py [--records 3000] [--concurrency 256] [--rounds 3]

For signed submissions, then unsigned ones: the node (no chain,
outbox disabled) fed by ``concurrency`` concurrent submitters, then a bare
synchronous loop doing the same work (JSON parse, Ed25519 verify, AES-256-GCM
+ ChaCha20-Poly1305, sha256 proof and task id, INSERT) committing in batches
of the node's measured mean batch size; best of ``rounds`` alternating runs.
Prints records/s and the ratio. Bounded: a few seconds in total.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import struct
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

from lcore_node import schema
from lcore_node.config import NodeConfig
from lcore_node.node import LcoreNode
from lcore_node.signing import signing_message
from utils.observe.stats import StatsHub

DEVICES = 16


@dataclass(frozen=True)
class Sample:
    device_id: str
    data: str
    timestamp: int
    signature: str | None


def make_workload(records: int, signed: bool) -> tuple[dict[str, Ed25519PrivateKey], list[Sample]]:
    keys = {f"bench-{i:03d}": Ed25519PrivateKey.generate() for i in range(DEVICES)}
    ids = list(keys)
    now = int(time.time())
    samples = []
    for n in range(records):
        device_id = ids[n % DEVICES]
        reading = {
            "device_id": device_id,
            "seq": n,
            "temperature": 20.0 + n % 10 / 10,
            "humidity": 40 + n % 7,
            "pressure": 1013.25,
            "battery": 0.87,
            "location": {"lat": 48.8566, "lon": 2.3522},
            "note": "x" * 200,
        }
        data = json.dumps(reading)
        sig = keys[device_id].sign(signing_message(device_id, now, data)).hex() if signed else None
        samples.append(Sample(device_id, data, now, sig))
    return keys, samples


def public_hex(key: Ed25519PrivateKey) -> str:
    return key.public_key().public_bytes_raw().hex()


async def run_node(
    workdir: Path,
    keys: dict[str, Ed25519PrivateKey],
    samples: list[Sample],
    signed: bool,
    concurrency: int,
) -> tuple[float, float]:
    hub = StatsHub()
    events = [0]
    hub.tap(lambda _e: events.__setitem__(0, events[0] + 1))
    config = NodeConfig(
        db_path=workdir / "node.db", key_dir=workdir / "keys", require_signatures=signed
    )
    async with LcoreNode(config, hub=hub) as node:
        for device_id, key in keys.items():
            await node.register_device(device_id, public_hex(key), "bench")
        queue = iter(samples)

        async def submitter() -> None:
            for s in queue:
                await node.submit_data(s.device_id, s.data, s.timestamp, s.signature)

        start = time.perf_counter()
        await asyncio.gather(*(submitter() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
        writer = node.storage.writer
        mean_batch = writer.rows / max(1, writer.batches)
    return len(samples) / elapsed, mean_batch


def run_bare(
    workdir: Path, keys: dict[str, Ed25519PrivateKey], samples: list[Sample], batch: int
) -> float:
    conn = schema.connect(workdir / "bare.db")
    schema.create_schema(conn)
    now = time.time()
    conn.executemany(
        "INSERT INTO devices VALUES (?, ?, ?, 'bench')",
        [(d, public_hex(k), now) for d, k in keys.items()],
    )
    pubs = {d: k.public_key() for d, k in keys.items()}
    aes, chacha = AESGCM(os.urandom(32)), ChaCha20Poly1305(os.urandom(32))
    node_id, u64 = os.urandom(16), struct.Struct(">Q")
    rows: list[tuple[object, ...]] = []
    start = time.perf_counter()
    for record_id, s in enumerate(samples, 1):
        json.loads(s.data)
        if s.signature is not None:
            pubs[s.device_id].verify(
                bytes.fromhex(s.signature), signing_message(s.device_id, s.timestamp, s.data)
            )
        plaintext = s.data.encode()
        nonces = os.urandom(24)
        ad = b"lcore-record\x00\x01\x00\x01" + u64.pack(record_id) + s.device_id.encode()
        env = (
            b"\x01\x00\x01"
            + nonces
            + chacha.encrypt(nonces[12:], aes.encrypt(nonces[:12], plaintext, ad), ad)
        )
        task = hashlib.sha256(
            b"lcore-task\x00" + node_id + u64.pack(record_id) + s.device_id.encode()
        ).digest()
        ts = time.time()
        rows.append(
            (
                record_id,
                s.device_id,
                env,
                ts,
                task,
                hashlib.sha256(env).digest(),
                1,
                ts,
                s.signature,
                len(plaintext),
            )
        )
        if len(rows) >= batch:
            _flush(conn, rows)
    _flush(conn, rows)
    elapsed = time.perf_counter() - start
    conn.close()
    return len(samples) / elapsed


def _flush(conn: object, rows: list[tuple[object, ...]]) -> None:
    if rows:
        conn.execute("BEGIN")  # type: ignore[attr-defined]
        conn.executemany(schema.INSERT_SUBMISSION, rows)  # type: ignore[attr-defined]
        conn.execute("COMMIT")  # type: ignore[attr-defined]
        rows.clear()


def compare(records: int, concurrency: int, rounds: int, signed: bool) -> tuple[float, ...]:
    """Best of ``rounds`` alternating runs of each (the machine is shared: noise only slows)."""
    keys, samples = make_workload(records, signed)
    node_best = bare_best = batch = 0.0
    for _ in range(rounds):
        with tempfile.TemporaryDirectory() as tmp:
            node_rate, mean_batch = asyncio.run(
                run_node(Path(tmp), keys, samples, signed, concurrency)
            )
            bare_rate = run_bare(Path(tmp), keys, samples, max(1, round(mean_batch)))
        node_best, bare_best = max(node_best, node_rate), max(bare_best, bare_rate)
        batch = mean_batch
    return node_best, bare_best, batch


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--records", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(f"{'mode':<9}{'node rec/s':>12}{'bare rec/s':>12}{'ratio':>8}{'mean batch':>12}")
    for signed in (True, False):
        node_rate, bare_rate, batch = compare(args.records, args.concurrency, args.rounds, signed)
        mode = "signed" if signed else "unsigned"
        print(
            f"{mode:<9}{node_rate:>12,.0f}{bare_rate:>12,.0f}{node_rate / bare_rate:>8.2f}"
            f"{batch:>12.1f}"
        )


if __name__ == "__main__":
    main()
