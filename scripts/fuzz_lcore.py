"""Bounded HTTP fuzzing of a real ``python -m lcore_node serve`` (embedded chain).

    .venv/bin/python scripts/fuzz_lcore.py [--requests 10500] [--max-seconds 600] [--seed N]

Starts the node in a temporary directory, sends ``--requests`` hypothesis-drawn requests
(the strategies of ``tests/fuzz_http.py``: every route and method, broken bodies, deep
nesting, huge integers, lone surrogates, mixed with valid signed submissions and their
replays), stops early at ``--max-seconds``, then checks that the node is alive, that no
answer was a 5xx, and that every valid submission is stored once and committed on chain.
Prints the counts by status; exit 0 when everything held, 1 otherwise.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hypothesis import HealthCheck, Phase, given, seed, settings

from tests.fuzz_http import (
    Device,
    Sender,
    Tally,
    check_malformed_http,
    check_stored_once_and_committed,
    plan,
    register,
    run_step,
    start_serve,
)


class _TimeUp(Exception):
    pass


def fuzz(port: int, requests: int, max_seconds: float, rng_seed: int, tally: Tally) -> None:
    device = Device("fuzz_dev-1")
    sender = Sender(port)
    register(sender, device)
    base_register = {"device_id": "fuzz_reg", "public_key": device.public_hex}
    deadline = time.monotonic() + max_seconds

    @seed(rng_seed)
    @settings(max_examples=requests, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(plan(base_register, device.submission('{"t": 1}')))
    def one_request(step: object) -> None:
        if time.monotonic() > deadline:
            raise _TimeUp
        run_step(step, sender, device, tally)

    try:
        one_request()
    except _TimeUp:
        print(f"stopped at --max-seconds {max_seconds:g}")
    finally:
        sender.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=10_500)
    parser.add_argument("--max-seconds", type=float, default=600.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    tally = Tally()
    with tempfile.TemporaryDirectory(prefix="fuzz-lcore-") as tmp:
        serve = start_serve(Path(tmp))
        started = time.monotonic()
        try:
            fuzz(serve.port, args.requests, args.max_seconds, args.seed, tally)
            elapsed = time.monotonic() - started
            malformed = check_malformed_http(serve.port)
            alive = serve.process.poll() is None
            checked = check_stored_once_and_committed(serve, tally.accepted)
        finally:
            code = serve.stop()
    print(f"{tally.requests} requests in {elapsed:.1f} s ({tally.requests / elapsed:.0f}/s)")
    print("by status: " + ", ".join(f"{s}: {n}" for s, n in sorted(tally.statuses.items())))
    print(f"by kind: {dict(tally.kinds)}; malformed HTTP: {dict(malformed)}")
    print(f"valid submissions stored once and committed on chain: {checked}")
    print(f"node alive at the end: {alive}; exit code after SIGTERM: {code}")
    failed = [s for s in tally.statuses if s >= 500] or not alive
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
