"""Command line of ``python main.py capacity``: options -> (Settings, CapacityConfig).

Search options come from the command line, then a scenario's ``[capacity]`` table, then
defaults. The mix is ``--mix NAME=WEIGHT`` (repeatable), else ``[capacity] mix``, else the
scenario's ``[rates]`` used as weights, else payment alone.
"""

from __future__ import annotations

import argparse
import tomllib
from pathlib import Path
from typing import Any

from utils.errors import ConfigError
from utils.load.capacity import CapacityConfig
from utils.load.profiles import apply_profiles
from utils.load.slo import Slo, slo_set
from utils.settings import RATE_FIELDS, Settings, canonical_workload, load_settings
from utils.workload_names import check_rate

_SEARCH_KEYS = {  # [capacity] key / option -> CapacityConfig field
    "start_rate": "start_rate", "factor": "factor", "precision": "precision",
    "hold": "hold", "warmup": "warmup", "settle": "settle", "max_rate": "max_rate",
    "max_duration": "max_duration",
}  # fmt: skip
EXIT_STATUS = ("Exit status: 0 knee found, 1 the generator was the limit (capacity >= X), "
               "2 bad configuration, 3 no knee within --max-rate / --max-duration / before "
               "Ctrl-C, 4 the provider throttled the search (capacity >= X).")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python main.py capacity",
        description="Find the highest offered rate at which every SLO holds: step the rate up "
        "geometrically, then bisect to --precision; each step is held --warmup (not "
        "measured) + --hold seconds. Writes capacity.csv, summary.json (capacity block) "
        "and report.html (curves with the knee) in the run directory.",
        epilog="SLO metrics: p50, p95, p99 (latency from intended send time, s or ms), success, "
        "missed, backlog (in-flight growth per s as a share of the rate), basefee (growth "
        "over a step). Defaults: p95<=2s p99<=5s success>=99% missed<=1% backlog<=5% "
        "basefee<=10%. " + EXIT_STATUS,
    )
    p.add_argument("--mix", action="append", default=[], metavar="WORKLOAD=WEIGHT",
                   help="workload and its share of the offered rate, repeatable (default "
                   "payment=1); workloads: " + ", ".join(RATE_FIELDS))
    p.add_argument("--slo", action="append", default=[], metavar="SLO",
                   help="e.g. 'p95<2s', 'success>=99%%'; replaces that metric's default")
    p.add_argument("--start-rate", type=float, metavar="TX_PER_SECOND",
                   help="first step's rate (default 10)")
    p.add_argument("--factor", type=float, help="step-up factor (default 2)")
    p.add_argument("--precision", type=float, help="bisect until the bracket is this "
                   "close, relative (default 0.05)")
    p.add_argument("--hold", type=float, metavar="SECONDS", help="measured part of a step "
                   "(default 20)")
    p.add_argument("--warmup", type=float, metavar="SECONDS", help="unmeasured start of a "
                   "step (default 5)")
    p.add_argument("--settle", type=float, metavar="SECONDS", help="wait after a step for "
                   "its operations to finish (default 10)")
    p.add_argument("--max-rate", type=float, metavar="TX_PER_SECOND",
                   help="never offer more (default 100000)")
    p.add_argument("--max-duration", type=float, metavar="SECONDS",
                   help="bound of the whole search; 0 = none (default 1800)")
    for flag, kwargs in _RUN_OPTIONS:
        p.add_argument(flag, **kwargs)
    return p


_RUN_OPTIONS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("--scenario", {"type": Path, "metavar": "FILE.toml",
                    "help": "settings, [rates] (weights when no --mix) and [capacity]"}),
    ("--rpc-url", {"metavar": "URL", "help": "JSON-RPC endpoint (env RPC_HTTP_URL); none = "
                   "start the embedded chain"}),
    ("--seed", {"type": int, "metavar": "N"}),
    ("--out", {"type": Path, "metavar": "DIR", "help": "parent of the run directory"}),
    ("--host", {"metavar": "HOST"}),
    ("--port", {"type": int, "metavar": "PORT", "help": "/metrics port (0 = any free)"}),
    ("--interval", {"type": float, "metavar": "SECONDS"}),
    ("--contract", {"choices": ("stylus", "evm")}),
    ("--dapp", {"choices": ("stylus", "evm", "transfers"),
                "help": "what payment/merchant/lending run on (as for a benchmark run)"}),
    ("--chain", {"choices": ("embedded", "anvil"),
                 "help": "local chain without --rpc-url (as for a benchmark run)"}),
    ("--arrival", {"choices": ("constant", "poisson")}),
    ("--block-time", {"type": float, "metavar": "SECONDS"}),
    ("--tx-timeout", {"type": float, "metavar": "SECONDS"}),
    ("--log-level", {"default": "INFO", "choices": ("DEBUG", "INFO", "WARNING", "ERROR")}),
)


def _weights(specs: list[str], where: str) -> dict[str, float]:
    mix: dict[str, float] = {}
    for spec in specs:
        name, sep, value = str(spec).partition("=")
        if not sep:
            raise ConfigError(where, f"expected WORKLOAD=WEIGHT (>= 0), got {spec!r}")
        workload = canonical_workload(name, where)
        mix[workload] = check_rate(value, where, f"{spec!r}: weight")
    return mix


def _scenario(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError("--scenario", f"no such file: {path}") from None
    except OSError as exc:
        raise ConfigError("--scenario", f"cannot read {path}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError("--scenario", f"{path}: invalid TOML: {exc}") from None


def _table(scenario: dict[str, Any], path: Path | None) -> dict[str, Any]:
    table = scenario.get("capacity") or {}
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: capacity", "[capacity] must be a table")
    return dict(table)


def _mix(args: argparse.Namespace, scenario: dict[str, Any]) -> dict[str, float]:
    table, path = _table(scenario, args.scenario), args.scenario
    if args.mix:
        mix = _weights(args.mix, "--mix")
    elif isinstance(table.get("mix"), dict):
        mix = _weights([f"{k}={v}" for k, v in table["mix"].items()], f"{path}: [capacity] mix")
    elif isinstance(scenario.get("rates"), dict) and all(
            isinstance(v, int | float) for v in scenario["rates"].values()):
        mix = _weights([f"{k}={v}" for k, v in scenario["rates"].items()], f"{path}: [rates]")
    else:
        mix = {"payment_app": 1.0}
    mix = {k: v for k, v in mix.items() if v > 0}
    if not mix:
        raise ConfigError("--mix", "every weight is 0: nothing to offer")
    return mix


def capacity_config(args: argparse.Namespace, scenario: dict[str, Any]) -> CapacityConfig:
    table = _table(scenario, args.scenario)
    values: dict[str, Any] = {}
    names: dict[str, str] = {}  # CapacityConfig field -> the option or [capacity] key given
    for key, field in _SEARCH_KEYS.items():
        value, names[field] = getattr(args, key), f"--{key.replace('_', '-')}"
        if value is None and key in table:
            value, names[field] = table[key], f"{args.scenario}: [capacity] {key}"
        if value is not None:
            try:
                values[field] = float(value)
            except (TypeError, ValueError):
                raise ConfigError(names[field], f"{value!r} is not a number") from None
    config = CapacityConfig(mix=_mix(args, scenario), slos=_slos(args, table), **values)
    _check(config, names)
    return config


def _slos(args: argparse.Namespace, table: dict[str, Any]) -> tuple[Slo, ...]:
    """``--slo`` options, else the scenario's ``[capacity] slo`` list (errors name it)."""
    if args.slo or "slo" not in table:
        return slo_set(list(args.slo))
    where = f"{args.scenario}: [capacity] slo"
    if not isinstance(table["slo"], list):
        raise ConfigError(where, "must be a list of SLO strings such as \"p95<2s\"")
    try:
        return slo_set([str(s) for s in table["slo"]])
    except ConfigError as exc:
        raise ConfigError(where, str(exc).removeprefix(f"{exc.setting}: ")) from None


def _check(cfg: CapacityConfig, names: dict[str, str]) -> None:
    problems = [
        ("start_rate", cfg.start_rate > 0, "must be > 0"),
        ("factor", cfg.factor > 1, "must be > 1"),
        ("precision", 0 < cfg.precision < 1, "must be between 0 and 1"),
        ("hold", cfg.hold > 0, "must be > 0"),
        ("warmup", cfg.warmup >= 0, "must be >= 0"),
        ("settle", cfg.settle >= 0, "must be >= 0"),
        ("max_rate", cfg.max_rate >= cfg.start_rate,
         f"must be >= the start rate ({cfg.start_rate:g})"),
        ("max_duration", cfg.max_duration >= 0, "must be >= 0"),
    ]
    for field, ok, text in problems:
        if not ok:
            raise ConfigError(names[field], text)
    if 0 < cfg.max_duration < cfg.step_seconds + cfg.settle:
        raise ConfigError(names["max_duration"], f"shorter than one step "
                          f"({cfg.step_seconds:g} s + {cfg.settle:g} s settle)")


def capacity_settings(args: argparse.Namespace) -> tuple[Settings, CapacityConfig]:
    """The run's settings (rates: the mix's weights; others 0) and the search config."""
    scenario = _scenario(args.scenario)
    config = capacity_config(args, scenario)
    cli: dict[str, Any] = {
        key: getattr(args, key)
        for key in ("rpc_url", "seed", "out", "host", "port", "interval", "contract",
                    "dapp", "chain", "arrival", "block_time", "tx_timeout")
    }
    for name, field in RATE_FIELDS.items():
        cli[field] = config.mix.get(name, 0.0)
    cli["duration"] = 0.0
    cli["rate_profiles"] = {}
    names = {field: "--mix" for field in RATE_FIELDS.values()}
    settings = load_settings(cli, args.scenario, names)
    apply_profiles(settings)  # the scenario's [rates] profiles checked, naming file and key
    return settings, config
