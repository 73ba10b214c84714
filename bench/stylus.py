"""Benchmark: submitResult through the Stylus program vs. its Solidity twin.

    .venv/bin/python bench/stylus.py [--seconds 3] [--payload 400]

One in-process py-evm chain with the Stylus host (eth-tester, one block per transaction,
as the embedded dev chain mines). Each contract gets signed-and-mined submitResult
transactions with fresh task ids and a ``--payload``-byte payload for ``--seconds``
(bounded by --max-calls); prints calls/s and gas per call, side by side.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from eth_abi import encode
from eth_tester import EthereumTester
from eth_utils import keccak

from stylus_contracts import load_artifact
from tests.stylus_tester import deploy_program, new_stylus_tester
from utils.chain.stylus_code import default_program_wasm

SUBMIT = keccak(text="submitResult(bytes32,bytes,bytes32)")[:4]


@dataclass
class Result:
    name: str
    calls: int
    seconds: float
    gas: list[int]

    @property
    def rate(self) -> float:
        return self.calls / self.seconds if self.seconds else 0.0


def run(tester: EthereumTester, name: str, address: str, sender: str, seconds: float,
        payload: int, max_calls: int) -> Result:
    gas: list[int] = []
    start = time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline and len(gas) < max_calls:
        data = SUBMIT + encode(["bytes32", "bytes", "bytes32"],
                               [os.urandom(32), os.urandom(payload), os.urandom(32)])
        tx = tester.send_transaction(
            {"from": sender, "to": address, "data": "0x" + data.hex(), "gas": 1_500_000})
        receipt = tester.get_transaction_receipt(tx)
        if receipt["status"] != 1:
            raise SystemExit(f"{name}: submitResult failed in tx {tx}")
        gas.append(receipt["gas_used"])
    return Result(name, len(gas), time.perf_counter() - start, gas)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--payload", type=int, default=400)
    parser.add_argument("--max-calls", type=int, default=2000)
    args = parser.parse_args()

    tester = new_stylus_tester()
    sender = tester.get_accounts()[0]
    stylus = deploy_program(tester, default_program_wasm(), sender)
    tx = tester.send_transaction(
        {"from": sender, "data": "0x" + load_artifact().bytecode.hex(), "gas": 3_000_000})
    evm = tester.get_transaction_receipt(tx)["contract_address"]
    print(f"Stylus program: deploy {stylus.deploy_gas} gas, activate {stylus.activate_gas} gas")
    results = [
        run(tester, "Stylus (WASM)", stylus.address, sender, args.seconds, args.payload,
            args.max_calls),
        run(tester, "EVM twin (solc)", evm, sender, args.seconds, args.payload, args.max_calls),
    ]
    print(f"submitResult, {args.payload}-byte payload, signed + mined one tx per block:")
    print(f"{'contract':<18}{'calls':>8}{'calls/s':>10}{'gas/call':>12}")
    for result in results:
        print(f"{result.name:<18}{result.calls:>8}{result.rate:>10.1f}"
              f"{statistics.median(result.gas):>12.0f}")
    ratio = statistics.median(results[0].gas) / statistics.median(results[1].gas)
    print(f"gas ratio Stylus/EVM: {ratio:.3f}")


if __name__ == "__main__":
    main()
