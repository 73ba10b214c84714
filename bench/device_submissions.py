"""Benchmark: simulated devices' signed submissions (reading, JSON, Ed25519) per second.

    .venv/bin/python bench/device_submissions.py [--submissions 2000] [--devices 30] [--rounds 3]

A ``DeviceFleet`` of ``--devices`` (EV, greenhouse and till models in turn) makes
``--submissions`` signed submissions a tenth of a second apart in simulated time, as the IoT
workload does; best of ``--rounds``. Prints submissions/s and microseconds per submission: the
ceiling of the IoT workload's offered load on one core, before the node or the chain.
Bounded: well under a second per round.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from utils.iot.devices import DeviceFleet

T0 = 1_700_000_000.0


def one_round(submissions: int, devices: int, seed: int) -> float:
    fleet = DeviceFleet(devices, seed=seed)
    started = time.perf_counter()
    for k in range(submissions):
        fleet.pick().make_submission(T0 + k * 0.1)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=2000)
    parser.add_argument("--devices", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    best = min(one_round(args.submissions, args.devices, seed) for seed in range(args.rounds))
    print(f"device submissions: {args.submissions / best:,.0f}/s "
          f"({best / args.submissions * 1e6:.0f} us each; {args.devices} devices, "
          f"best of {args.rounds})")


if __name__ == "__main__":
    main()
