"""Cost of the embedded chain's disk store (utils.devchain.kvstore) on its throughput.

In process, no RPC: the same pre-signed blocks (``--txs`` transfers to fresh accounts plus
``--writes`` storage writes to fresh slots, the growth an IoT run gives the state) are executed
and sealed by a :class:`DevNode` whose store is the in-memory dict (``--state-cache-mb 0``) and
by one on SQLite behind a cache, rounds alternating so machine load hits both alike. Prints
transactions/s of each and their ratio (disk / memory), the CPU time per transaction (less
disturbed by other processes than wall time on a shared machine), the cache hits and misses.

    flock /tmp/kc/bench.lock .venv/bin/python bench/devchain_store.py
    .venv/bin/python bench/devchain_store.py --blocks 300 --cache-mb 4 --rounds 3
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import time
from typing import Any

from eth_account import Account
from eth_utils import keccak, to_canonical_address

from utils.devchain.backend import DevNode
from utils.devchain.genesis import build_chain
from utils.devchain.retention import Retention

GWEI = 10**9
STORE_RUNTIME = "6020356000355500"  # SSTORE(calldata[0:32], calldata[32:64])
STORE_INIT = "6008600c60003960086000f3" + STORE_RUNTIME


def signed_blocks(
    key: bytes, blocks: int, txs: int, writes: int
) -> tuple[bytes, list[list[bytes]]]:
    """The deploy transaction and ``blocks`` lists of raw transactions, all from one key."""
    base = {"chainId": 1337, "maxFeePerGas": 100 * GWEI, "maxPriorityFeePerGas": GWEI}
    deploy = Account.sign_transaction({**base, "nonce": 0, "gas": 100_000, "value": 0,
                                       "data": bytes.fromhex(STORE_INIT)}, key)  # fmt: skip
    contract = keccak(b"\xd6\x94" + to_canonical_address(Account.from_key(key).address) + b"\x80")
    nonce, out = 1, []
    for b in range(blocks):
        raws = []
        for i in range(txs + writes):
            if i < txs:
                fields = {"to": Account.create().address, "value": 1, "gas": 21_000}
            else:
                slot = (b * writes + i).to_bytes(32, "big")
                fields = {"to": contract[12:], "value": 0, "gas": 60_000,
                          "data": slot + secrets.token_bytes(32)}  # fmt: skip
            signed = Account.sign_transaction({**base, **fields, "nonce": nonce}, key)
            raws.append(bytes(signed.raw_transaction))
            nonce += 1
        out.append(raws)
    return bytes(deploy.raw_transaction), out


def run_once(
    key: bytes, deploy: bytes, blocks: list[list[bytes]], cache_mb: float
) -> dict[str, Any]:
    chain = build_chain(1337, 10**9, Account.from_key(key).address, 10**30)
    node = DevNode(chain, retention=Retention(state_cache_mb=cache_mb))
    node.send_raw(deploy)
    node.seal()
    t0, cpu0 = time.perf_counter(), time.process_time()
    for raws in blocks:
        for raw in raws:
            node.send_raw(raw)
        node.seal()
    seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    count = sum(len(raws) for raws in blocks)
    store = node.store.stats() if node.store is not None else {}
    return {"tx_s": count / seconds, "seconds": seconds, "cpu_us": cpu / count * 1e6, **store}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--blocks", type=int, default=200)
    p.add_argument("--txs", type=int, default=25, help="transfers per block (default 25)")
    p.add_argument("--writes", type=int, default=10, help="fresh storage slots per block")
    p.add_argument("--cache-mb", type=float, default=Retention().state_cache_mb)
    p.add_argument("--rounds", type=int, default=2)
    args = p.parse_args()
    key = secrets.token_bytes(32)
    deploy, blocks = signed_blocks(key, args.blocks, args.txs, args.writes)
    results: dict[str, list[float]] = {"memory": [], "disk": []}
    cpu: dict[str, list[float]] = {"memory": [], "disk": []}
    for r in range(args.rounds):
        for name, cache in (("memory", 0.0), ("disk", args.cache_mb))[:: 1 if r % 2 == 0 else -1]:
            got = run_once(key, deploy, blocks, cache)
            results[name].append(got["tx_s"])
            cpu[name].append(got["cpu_us"])
            print(f"round {r + 1} {name:6s}: {got['tx_s']:7.1f} tx/s ({got['seconds']:.2f} s), "
                  f"CPU {got['cpu_us']:.0f} us/tx"
                  + (f", cache hits {got['cacheHits']} misses {got['cacheMisses']}"
                     if "cacheHits" in got else ""))  # fmt: skip
    memory, disk = statistics.median(results["memory"]), statistics.median(results["disk"])
    print(f"median: memory {memory:.1f} tx/s, disk (cache {args.cache_mb} MB) {disk:.1f} tx/s, "
          f"ratio disk/memory {disk / memory:.3f}")
    cpu_memory, cpu_disk = statistics.median(cpu["memory"]), statistics.median(cpu["disk"])
    print(f"median CPU per tx: memory {cpu_memory:.0f} us, disk {cpu_disk:.0f} us, "
          f"throughput by CPU disk/memory {cpu_memory / cpu_disk:.3f}")


if __name__ == "__main__":
    main()
