"""``main.py compare BASE NEW...``: each figure of a new run against the base run, with the
change, a 99 % confidence interval of it and a verdict (docs/compare.md).

A figure is *regressed* (or *improved*) only when its interval excludes no change AND the
change is practically significant: at least :data:`RELATIVE_FLOOR` (5 %) of the base value,
or for a share (success, missed firings) :data:`POINTS_FLOOR` (half a percentage point),
for a fee :data:`FEE_FLOOR` (25 %), for a transaction latency also one block interval.
5 % is above a latency histogram bucket (1/64 = 1.6 % wide), so a change within one bucket
is never a regression. Which way is worse is the figure's (latency up, throughput down).
"""

from __future__ import annotations

import math
import random
from dataclasses import asdict, dataclass
from typing import Any

from utils.observe.run_figures import HIGHER, OPERATION_GAS, SHARE, TX_METRICS, Figure, Metric
from utils.report.compare_data import RunData
from utils.report.compare_stats import (
    MIN_EVENTS,
    Stats,
    change,
    cost_stats,
    count_offsets,
    interval,
    latency_stats,
    resample,
    spread,
)

REGRESSED, IMPROVED, SAME = "regressed", "improved", "no significant change"
NOT_COMPARED = "not compared"
RELATIVE_FLOOR = 0.05
POINTS_FLOOR = 0.005
#: fees (wei) follow the chain's base fee, which moves with all of the chain's traffic and
#: idle time between runs (EIP-1559: up to 12.5 % a block): two blocks' worth is not a change
#: of what was run (gas per operation is)
FEE_FLOOR = 0.25
_COST_KEYS = ("l2_gas_per_op", "l1_gas_per_op", "fee_per_op")
_IOT_KEYS = {"iot.success": "success", "iot.p95": "p95"}


@dataclass(frozen=True, slots=True)
class Compared:
    name: str
    label: str
    unit: str
    better: str
    base: float | None
    new: float | None
    change: float | None  # relative (0.1 = +10 %), or points for a share
    points: bool
    low: float | None  # the interval of the change
    high: float | None
    method: str
    verdict: str

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for key in ("change", "low", "high"):
            if d[key] is not None and not math.isfinite(d[key]):
                d[key] = str(d[key])  # JSON has no infinity
        return d


@dataclass
class Draws:
    """Each run's bootstrap draws and undrawn figures, per block series."""

    base: dict[str, list[Stats]]
    new: dict[str, list[Stats]]
    base_all: dict[str, Stats]
    new_all: dict[str, Stats]


def judge(change_: float | None, ci: tuple[float, float] | None, better: str,
          points: bool, floor: float = RELATIVE_FLOOR, *, shift: float = 0.0,
          shift_floor: float = 0.0) -> str:
    """The verdict of a change; ``shift`` (seconds) under ``shift_floor`` (a block interval)
    is no significant change whatever its interval."""
    if change_ is None:
        return NOT_COMPARED
    if abs(change_) < (POINTS_FLOOR if points else floor) or abs(shift) < shift_floor:
        return SAME
    eps = 1e-9 * max(1.0, abs(change_)) if math.isfinite(change_) else 0.0  # float sums
    if ci is not None and ci[0] <= eps and ci[1] >= -eps:
        return SAME
    if ci is None and math.isfinite(change_):
        return SAME  # no spread known and a finite change: not shown to be real
    worse = change_ < 0 if better == HIGHER else change_ > 0
    return REGRESSED if worse else IMPROVED


def draw_all(base: RunData, new: RunData, rng: random.Random) -> Draws:
    draws = Draws({}, {}, {}, {})
    for key in sorted(set(base.blocks) | set(new.blocks)):
        b, n = base.blocks.get(key, []), new.blocks.get(key, [])
        draws.base[key], draws.new[key] = resample(b, latency_stats, rng), \
            resample(n, latency_stats, rng)
        draws.base_all[key], draws.new_all[key] = latency_stats(b), latency_stats(n)
    for key in sorted(set(base.costs) | set(new.costs)):
        b2, n2 = base.costs.get(key, []), new.costs.get(key, [])
        draws.base[f"cost:{key}"] = resample(b2, cost_stats, rng)
        draws.new[f"cost:{key}"] = resample(n2, cost_stats, rng)
        draws.base_all[f"cost:{key}"], draws.new_all[f"cost:{key}"] = cost_stats(b2), \
            cost_stats(n2)
    return draws


def _series_of(name: str) -> tuple[str, str] | None:
    """(series, statistic) a figure's spread is drawn from, or None."""
    if name in _IOT_KEYS:
        return "iot", _IOT_KEYS[name]
    if name == "iot.cost_per_record":
        return "cost:data_pipeline", "fee_per_op"
    if name in ("iot.l2_gas_per_record", "iot.l1_gas_per_record"):
        return "cost:data_pipeline", name.removeprefix("iot.").replace("record", "op")
    scope, _, key = name.rpartition(".")
    if key in _COST_KEYS or (key in OPERATION_GAS and scope.count(".") == 1):
        return f"cost:{scope}", key
    if key in TX_METRICS:
        return scope, key
    return None


def _counts(run: RunData, name: str) -> tuple[float, float] | None:
    """(events, seconds) of a count figure (goodput, IoT records/s), from the summary."""
    if name == "iot.records_per_sec":
        kpis = run.summary.get("kpis") or {}
        return float(kpis.get("successful_submissions") or 0), \
            float(kpis.get("load_window_sec") or 0)
    goodput = (run.summary.get("dapp") or {}).get("goodput") or {}
    ops = [(op, s) for per_wl in goodput.values() for op, s in per_wl.items()]
    wanted = [s for op, s in ops if name == "goodput" or name == f"goodput.{op}"]
    count = sum(float(s.get("count") or 0) for s in wanted)
    rate = sum(float(s.get("per_second") or 0) for s in wanted)
    return (count, count / rate) if wanted and rate > 0 else None


def _knee_bracket(run: RunData) -> tuple[float, float] | None:
    block = run.summary.get("capacity") or {}
    knee = block.get("capacity_tx_per_sec")
    if knee is None:
        return None
    upper = (block.get("next_step") or {}).get("offered")
    return float(knee), float(upper if upper is not None else knee)


def _offsets(name: str, points: bool, base: RunData, new: RunData, draws: Draws,
             rng: random.Random) -> tuple[list[float] | None, str]:
    series = _series_of(name)
    if series is not None:
        key, stat = series
        events = [d.get(key, {}).get("events") for d in (draws.base_all, draws.new_all)]
        if any(n is not None and n < MIN_EVENTS for n in events):
            return None, f"fewer than {MIN_EVENTS} outcomes"
        observed = change(draws.base_all.get(key, {}).get(stat),
                          draws.new_all.get(key, {}).get(stat), points)
        return spread(draws.base.get(key, []), draws.new.get(key, []), stat, points,
                      observed), "block bootstrap"
    counts_b, counts_n = _counts(base, name), _counts(new, name)
    if counts_b and counts_n and counts_n[1] > 0:
        return count_offsets(counts_b[0], counts_n[0], rng), "Poisson counts"
    return None, "none"


def compare_figure(name: str, base: RunData, new: RunData, draws: Draws,
                   rng: random.Random, floor: float) -> Compared:
    fb, fn = base.figures.get(name), new.figures.get(name)
    metric: Metric = (fb or fn).metric  # type: ignore[union-attr]
    vb, vn = (fb.value if fb else None), (fn.value if fn else None)
    points = metric.unit == SHARE
    delta = change(vb, vn, points)
    ci: tuple[float, float] | None = None
    method = "none"
    if name == "capacity.knee":
        bb, bn = _knee_bracket(base), _knee_bracket(new)
        if bb and bn and bb[0] > 0 and delta is not None:
            ci, method = (bn[0] / bb[1] - 1, bn[1] / bb[0] - 1), "search bracket"
    elif delta is not None and math.isfinite(delta):
        offsets, method = _offsets(name, points, base, new, draws, rng)
        ci = interval(delta, offsets, points) if offsets else None
    label = (fb or fn).label  # type: ignore[union-attr]
    block = block_floor(name, base, new)
    shift = (vn - vb) if vb is not None and vn is not None else 0.0
    return Compared(name, label, metric.unit, metric.better, vb, vn, delta, points,
                    ci[0] if ci else None, ci[1] if ci else None, method,
                    judge(delta, ci, metric.better, points,
                          max(floor, FEE_FLOOR) if metric.unit == "wei" else floor,
                          shift=shift, shift_floor=block))


def block_floor(name: str, base: RunData, new: RunData) -> float:
    """A transaction latency's floor: the shorter of the runs' block intervals (0 for other
    figures). Latency from a chain comes in steps of its blocks; where one run's firings
    fall against the block clock is chance, so a shift under one block is not a change
    one run can show. The shorter: a chain whose blocks came slower is the regression
    (1 s blocks against 3 s ones tripled p95, +1.95 s, under the longer run's block)."""
    scope, _, key = name.rpartition(".")
    if key not in ("p50", "p95", "p99") or scope not in base.blocks or scope == "iot":
        return 0.0
    known = [s for s in (base.block_seconds, new.block_seconds) if s]
    return min(known) if known else 0.0


def compare_runs(base: RunData, new: RunData, *, seed: int = 0,
                 floor: float = RELATIVE_FLOOR) -> list[Compared]:
    """Every figure either run measured, in the catalogue's order; ``seed`` makes the
    bootstrap repeatable."""
    rng = random.Random(seed)
    draws = draw_all(base, new, rng)
    names = [n for n in base.figures if _measured(base.figures.get(n))
             or _measured(new.figures.get(n))]
    names += [n for n in new.figures if n not in base.figures and _measured(new.figures[n])]
    return [compare_figure(n, base, new, draws, rng, floor) for n in names
            if not _idle(n, base, new) and not _search_path(n, base, new)]


def _measured(figure: Figure | None) -> bool:
    return figure is not None and figure.value is not None


#: a capacity search's figures that depend on the rates it chose to offer (not compared)
_PATH_METRICS = ("throughput", "success", "p50", "p95", "p99", "missed")


def _search_path(name: str, base: RunData, new: RunData) -> bool:
    """A rate, success or latency of a capacity search: over all its steps, so a figure of
    the rates the search happened to try; its knee and costs are what compare."""
    search = "capacity" in base.summary or "capacity" in new.summary
    return search and (name.rpartition(".")[2] in _PATH_METRICS
                       or name in ("iot.records_per_sec", "iot.p95", "iot.success")
                       or name.startswith("goodput"))


def _idle(name: str, base: RunData, new: RunData) -> bool:
    """A rate that is 0 in both runs (a workload neither ran): nothing to compare."""
    values = [r.figures[name].value if name in r.figures else None for r in (base, new)]
    rates = ("tx/s", "ops/s", "records/s")
    return all(v in (0, None) for v in values) and base.figures.get(name) is not None and \
        base.figures[name].metric.unit in rates
