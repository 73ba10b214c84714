"""The garbage collector while the load runs.

A process offering thousands of transactions a second allocates about a million objects a
second; with CPython's default thresholds (700, 10, 10) its collector ran every 700
allocations and a full collection, over every object of the set-up (modules, the wallet
pool, the engine), many times a second: measured in a worker at 8,800 tx/s, 27 % of its CPU
(bench/README.md, workers_scaling). :func:`tune_for_load`, called once just before a
process starts firing (a worker, and the run itself: both sides of the workers bench):
collects once, freezes what survives (the set-up's objects, never garbage now, leave the
collector's generations) and raises the youngest threshold, so collections run every
50,000 allocations and a full one every ten million or so. Cyclic garbage is still found,
a little later: memory stays bounded.
"""

from __future__ import annotations

import gc

#: (youngest, middle, oldest): a collection per 50,000 allocations, a full one per ~10 M
LOAD_THRESHOLDS = (50_000, 20, 10)


def tune_for_load(thresholds: tuple[int, int, int] = LOAD_THRESHOLDS) -> None:
    gc.collect()
    gc.freeze()
    gc.set_threshold(*thresholds)
