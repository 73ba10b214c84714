"""The dApp differential test at a larger scale (the test suite runs 1,000 sequences each).

    .venv/bin/python bench/dapp_differential.py [--sequences 10000] [--seed 1]

Same three worlds as ``tests/test_dapp_differential.py`` (every contract WASM; every
contract its Solidity twin; WASM router and pool calling the EVM token) and the same
checks after every call and sequence (status, return data, logs, storage roots, balances);
stops at the first difference with the call that caused it.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.test_dapp_differential import (
    differential,
    make_twins,
    pool_call,
    router_call,
    token_call,
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequences", type=int, default=10_000, help="per contract")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    twins = make_twins()
    for name, make in (("stablecoin", token_call), ("router", router_call), ("pool", pool_call)):
        started = time.perf_counter()
        seen = differential(twins, make, args.seed, args.sequences)
        took = time.perf_counter() - started
        print(f"{name:<10} {args.sequences} sequences identical in 3 worlds: {seen['success']} "
              f"succeeded, {seen['revert']} reverted, {seen['logs']} logs ({took:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
