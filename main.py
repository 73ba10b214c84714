"""kcstress: stress-test KC-Chain (or the embedded dev chain) and its IoT data pipeline.

Usage:
  python main.py [options]            run a benchmark (default: embedded chain, until stopped)
  python main.py capacity [options]   search for the highest rate every SLO holds at (the knee)
  python main.py verify [options]     check every IoT record against the chain
  python main.py report RUN_DIR       rebuild RUN_DIR/report.html from its CSV files
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path
from typing import Any

from utils.errors import ConfigError, KcStressError
from utils.load.profiles import apply_profiles, cli_profiles
from utils.run.run_dir import make_run_dir, new_run_id
from utils.settings import RATE_FIELDS, environment_names, load_settings, parse_rate

EXIT_CONFIG = 2


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python main.py",
        description="Drive payment, merchant, lending and IoT-data workloads at chosen rates "
        "against KC-Chain or an embedded dev chain, and measure everything. Settings: "
        "CLI over environment over --scenario file over defaults. "
        "Second thing to try, after 'make run': 'python main.py capacity' searches for the "
        "highest rate at which the SLOs hold (the knee) and says whether the chain or this "
        "generator was the limit ('python main.py capacity --help').",
        epilog="Environment: " + ", ".join(environment_names()) + " (PRIVATE_KEY is the "
        "funder's key, required with --rpc-url). "
        "Subcommands: 'python main.py verify --help', 'python main.py report RUN_DIR'. "
        "Exit status: 0 targets met, 1 targets missed, 2 bad configuration.",
    )
    p.add_argument("--duration", type=float, metavar="SECONDS",
                   help="how long to offer load; 0 = until stopped (default: 0)")
    p.add_argument("--rpc-url", metavar="URL",
                   help="JSON-RPC endpoint (env RPC_HTTP_URL); none = start the embedded chain")
    p.add_argument("--rate", action="append", default=[], metavar="WORKLOAD=TX_PER_SECOND",
                   help="target rate, repeatable; workloads: " + ", ".join(RATE_FIELDS)
                   + " (defaults 2, 1, 1, 0.1, 0.2; short names payment, merchant, lending, iot)")
    p.add_argument("--scenario", type=Path, metavar="FILE.toml",
                   help="TOML file of settings (same names as the options, [rates] table)")
    p.add_argument("--seed", type=int, metavar="N",
                   help="seed for wallets, amounts and devices (default: random, recorded)")
    p.add_argument("--out", type=Path, metavar="DIR",
                   help="parent of the run directory (env LOG_DIR; default: logs)")
    p.add_argument("--host", metavar="HOST",
                   help="address of /health and /metrics (default 127.0.0.1; 0.0.0.0 in a "
                   "container)")
    p.add_argument("--port", type=int, metavar="PORT",
                   help="port of /health and /metrics (env HEALTHCHECK_PORT; default 8000; "
                   "0 = any free port)")
    p.add_argument("--interval", type=float, metavar="SECONDS",
                   help="KPI interval of kpi_intervals.csv and the progress line (default 10)")
    p.add_argument("--contract", choices=("stylus", "evm"),
                   help="MVPIoTProcessor deployed on the embedded chain: the Stylus WASM program "
                   "or its EVM twin (default stylus)")
    p.add_argument("--dapp", choices=("stylus", "evm", "transfers"),
                   help="what payment_app, merchant_app and lending_app run on: the stablecoin, "
                   "payment router and lending pool as Stylus programs or as their Solidity "
                   "twins, or plain value transfers (default stylus on a chain with Stylus, "
                   "else evm; env KCSTRESS_DAPP)")
    p.add_argument("--iot-commit", choices=("record", "batch"),
                   help="how the lcore node commits records: one submitResult each (default) or "
                   "one commitBatch of a Merkle root per batch (env KCSTRESS_IOT_COMMIT)")
    p.add_argument("--iot-batch-size", type=int, metavar="N",
                   help="records per batch commitment at most (default 1024)")
    p.add_argument("--iot-batch-wait", type=float, metavar="SECONDS",
                   help="longest a record waits for its batch to fill (default 1)")
    p.add_argument("--l1-base-fee-gwei", type=float, metavar="GWEI",
                   help="embedded chain: the L1 base fee estimate it prices every transaction's "
                   "brotli-compressed bytes with, as Nitro (default 0 = no L1 charge; note that "
                   "fixed 21,000-gas transfers are refused when it is above 0, as on Nitro)")
    p.add_argument("--arrival", choices=("constant", "poisson"),
                   help="spacing of firings: constant or Poisson arrivals (default constant)")
    p.add_argument("--chain", choices=("embedded", "anvil"),
                   help="local chain started when there is no --rpc-url: the embedded py-evm "
                   "chain (Stylus; default) or anvil (installed from npm into .tools/ by "
                   "scripts/install_anvil.sh; EVM twins only; env KCSTRESS_CHAIN)")
    p.add_argument("--block-time", type=float, metavar="SECONDS",
                   help="embedded chain block interval (default 0.25; 0 = a block per tx)")
    p.add_argument("--chain-history-blocks", type=int, metavar="N",
                   help="embedded chain keeps the last N blocks (older ones answer 'pruned "
                   "history unavailable'; state of the last 128; 0 = keep all; default 512; "
                   "env KCSTRESS_CHAIN_HISTORY_BLOCKS)")
    p.add_argument("--drain-timeout", type=float, metavar="SECONDS",
                   help="how long to wait for in-flight transactions at the end (default 30)")
    p.add_argument("--tx-timeout", type=float, metavar="SECONDS",
                   help="a transaction without receipt after this long is a timeout (default 60)")
    p.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    return p


def cli_settings(args: argparse.Namespace) -> dict[str, Any]:
    values: dict[str, Any] = {
        key: getattr(args, key)
        for key in ("duration", "rpc_url", "seed", "out", "host", "port", "interval",
                    "contract", "arrival", "block_time", "drain_timeout", "tx_timeout", "chain",
                    "dapp", "iot_commit", "iot_batch_size", "iot_batch_wait", "l1_base_fee_gwei",
                    "chain_history_blocks")
    }
    for spec in args.rate:
        _, _, value = spec.partition("=")
        if _is_number(value):  # a profile (ramp:..., stages:..., ...:poisson): apply_profiles
            workload, rate = parse_rate(spec)
            values[RATE_FIELDS[workload]] = rate
    return values


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def setup_logging(level: str, log_file: Path | None = None) -> None:
    """One set-up: the console (WARNING and up on a terminal, where the live display
    shows progress) and, for a run, ``run.log`` at ``level``."""
    console = logging.StreamHandler(sys.stderr)
    if sys.stderr.isatty() and log_file is not None:
        console.setLevel(max(logging.WARNING, logging.getLevelName(level)))
    handlers: list[logging.Handler] = [console]
    if log_file is not None:
        handlers.append(logging.FileHandler(log_file))
    logging.basicConfig(
        level=level, handlers=handlers, force=True,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
    )
    for noisy in ("web3", "urllib3", "asyncio", "aiohttp.access", "werkzeug"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def run_benchmark(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings(cli_settings(args), args.scenario)
        settings = apply_profiles(settings, cli_profiles(args.rate))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    from utils.run.run import Run

    run_id = new_run_id()
    run_dir = make_run_dir(settings.out, run_id)
    setup_logging(args.log_level, run_dir / "run.log")
    run = Run(settings, run_id=run_id, run_dir=run_dir)
    try:
        return asyncio.run(run.execute())
    except (ConfigError, KcStressError) as exc:
        logging.getLogger("main").error("%s", exc)
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG


def run_capacity(argv: list[str]) -> int:
    from utils.run.capacity_cli import build_parser as capacity_parser
    from utils.run.capacity_cli import capacity_settings

    args = capacity_parser().parse_args(argv)
    try:
        settings, config = capacity_settings(args)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    from utils.run.capacity_run import CapacityRun

    run_id = new_run_id()
    run_dir = make_run_dir(settings.out, run_id)
    setup_logging(args.log_level, run_dir / "run.log")
    run = CapacityRun(settings, run_id=run_id, run_dir=run_dir, capacity=config)
    try:
        return asyncio.run(run.execute())
    except (ConfigError, KcStressError) as exc:
        logging.getLogger("main").error("%s", exc)
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG


def run_verify(argv: list[str]) -> int:
    from utils.iot.verify_cli import main as verify_main

    setup_logging("WARNING")
    return verify_main(argv)


def run_report(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python main.py report",
        description="Rebuild RUN_DIR/report.html from the run's CSV files (and summary.json).",
    )
    parser.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    args = parser.parse_args(argv)
    from utils.report.html import build_report

    setup_logging("WARNING")
    try:
        path = build_report(args.run_dir)
    except (OSError, KcStressError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    print(path)
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["verify"]:
        return run_verify(argv[1:])
    if argv[:1] == ["report"]:
        return run_report(argv[1:])
    if argv[:1] == ["capacity"]:
        return run_capacity(argv[1:])
    return run_benchmark(argv)


if __name__ == "__main__":
    sys.exit(main())
