"""kcstress: stress-test KC-Chain (or the embedded dev chain) and its IoT data pipeline.

Usage:
  python main.py [options]            run a benchmark (default: embedded chain, until stopped)
  python main.py capacity [options]   search for the highest rate every SLO holds at (the knee)
  python main.py console [options]    serve the live console; start runs from it (docs/console.md)
  python main.py verify [options]     check every IoT record against the chain
  python main.py report RUN_DIR       rebuild RUN_DIR/report.html from its CSV files
  python main.py compare BASE NEW...  compare runs: changes, confidence intervals, regressions
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import os
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

# light imports only: the chain's child is spawned before the heavy ones (pydantic, web3...)
from utils.errors import ConfigError, KcStressError
from utils.redact import Redactor, redact_text
from utils.run.log_setup import FILE_ONLY, RunLog, setup_logging
from utils.run.run_dir import new_run_id

if TYPE_CHECKING:
    from utils.devchain.prestart import PrestartedChain
    from utils.run.run import Run

EXIT_CONFIG = 2


def build_parser() -> argparse.ArgumentParser:
    from utils.settings import RATE_FIELDS, environment_names

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
        "Subcommands: 'python main.py capacity --help', 'python main.py console --help', "
        "'python main.py verify --help', "
        "'python main.py report RUN_DIR', 'python main.py merge DIR... --out DIR', "
        "'python main.py compare BASE NEW... (--help)'. "
        "Exit status: 0 targets met, 1 targets missed or a threshold crossed, 2 bad "
        "configuration.",
    )
    p.add_argument("--duration", type=float, metavar="SECONDS",
                   help="how long to offer load; 0 = until stopped (default: 0)")
    p.add_argument("--rpc-url", metavar="URL",
                   help="JSON-RPC endpoint (env RPC_HTTP_URL); none = start the embedded chain")
    p.add_argument("--rate", action="append", default=[], metavar="WORKLOAD=RATE|PROFILE",
                   help="target rate or rate profile, repeatable; workloads: "
                   + ", ".join(RATE_FIELDS) + " (defaults 2, 1, 1, 0.1, 0.2; short names "
                   "payment, merchant, lending, iot). Profiles: 'ramp:FROM-TO:SECONDS', "
                   "'stages:SECONDS@RATE,...' (k6 stages: each ramps from the previous rate), "
                   "any of them (or a rate) with ':poisson' for Poisson arrivals, e.g. "
                   "payment=ramp:10-200:60:poisson")
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
    p.add_argument("--no-stylus-cache", dest="stylus_cache", action="store_false", default=None,
                   help="leave the Stylus programs out of ArbOS's program cache (by default "
                   "the funder caches them when it is a chain owner or cache manager, as a "
                   "chain team would; env KCSTRESS_STYLUS_CACHE)")
    p.add_argument("--iot-commit", choices=("record", "batch", "inputbox"),
                   help="how the lcore node commits records: one submitResult each (default), "
                   "one commitBatch of a Merkle root per batch, or Cartesi InputBox inputs read "
                   "back by an in-process application (Milestone 2; env KCSTRESS_IOT_COMMIT; "
                   "CARTESI_INPUT_BOX_ADDRESS / CARTESI_APP_ADDRESS, else deployed)")
    p.add_argument("--device-auth", choices=("ed25519", "jws"),
                   help="how the simulated devices sign their submissions: Ed25519 signatures "
                   "(default) or ES256 compact JWS tokens with a per-device counter, as "
                   "Milestone 2's devices (env KCSTRESS_DEVICE_AUTH)")
    p.add_argument("--inputbox-batch", type=int, metavar="N",
                   help="records per InputBox input at most (default 1; as many as fit in "
                   "Cartesi's 64 KiB input; the oldest waits --iot-batch-wait for the rest)")
    p.add_argument("--iot-batch-size", type=int, metavar="N",
                   help="records per batch commitment at most (default 1024)")
    p.add_argument("--iot-batch-wait", type=float, metavar="SECONDS",
                   help="longest a record waits for its batch to fill (default 1)")
    p.add_argument("--l1-base-fee-gwei", type=float, metavar="GWEI",
                   help="embedded chain: the L1 base fee estimate it prices every transaction's "
                   "brotli-compressed bytes with, as Nitro (default 50, Nitro's initial price "
                   "per unit; 0 = L1 data cost not modelled); gas limits come from estimates, "
                   "see docs/nitro.md")
    p.add_argument("--finality-sample", type=float, metavar="SHARE",
                   help="share of the included transactions (0..1, chosen by hash) followed to "
                   "their batch posted and L1 confirmed, on a chain with NodeInterface (embedded "
                   "or an Orbit chain; default 0.1; 0 = none; env KCSTRESS_FINALITY_SAMPLE)")
    p.add_argument("--finality-confirmations", type=int, metavar="N",
                   help="parent-chain confirmations of its batch that make a sampled "
                   "transaction L1-confirmed (default 1)")
    p.add_argument("--finality-wait", type=float, metavar="SECONDS",
                   help="how long the end of a run follows sampled transactions still pending "
                   "a finality stage (default 10)")
    p.add_argument("--parent-base-fee-gwei", type=float, metavar="GWEI",
                   help="embedded chain: its emulated parent chain's base fee, paid by its batch "
                   "poster for every batch; the L1 price moves toward what that costs (default "
                   "1, go-ethereum's InitialBaseFee; env KCSTRESS_PARENT_BASE_FEE_GWEI)")
    p.add_argument("--batch-max-delay", type=float, metavar="SECONDS",
                   help="embedded chain: its batch poster posts a batch at the latest this long "
                   "after its first block, earlier when full (default 3; Nitro: 1 h)")
    p.add_argument("--batch-max-size", type=int, metavar="BYTES",
                   help="embedded chain: a batch is full at this many brotli-compressed bytes "
                   "(default 100000, Nitro's MaxCalldataBatchSize; env KCSTRESS_BATCH_MAX_SIZE)")
    p.add_argument("--parent-block-time", type=float, metavar="SECONDS",
                   help="embedded chain: seconds per block of its emulated parent chain "
                   "(default 1; Ethereum: 12)")
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
    p.add_argument("--devchain-data-dir", type=Path, metavar="DIR",
                   help="embedded chain: keep it in DIR and continue it at the next run given "
                   "DIR (state, head, chain id, funder key; see python -m utils.devchain "
                   "--help; default: none, the chain ends with the run; env "
                   "KCSTRESS_DEVCHAIN_DATA_DIR)")
    p.add_argument("--private-key-file", type=Path, metavar="FILE",
                   help="the funder's key, hex, read from FILE (e.g. the funder.key of "
                   "python -m utils.devchain) instead of PRIVATE_KEY; env PRIVATE_KEY_FILE")
    p.add_argument("--drain-timeout", type=float, metavar="SECONDS",
                   help="how long to wait for in-flight transactions at the end (default 30)")
    p.add_argument("--chain-grace", type=float, metavar="SECONDS",
                   help="a chain silent this long ends the run as 'chain unavailable' "
                   "(exit 1; default 30)")
    p.add_argument("--tx-timeout", type=float, metavar="SECONDS",
                   help="a transaction without receipt after this long is a timeout (default 60)")
    p.add_argument("--workers", metavar="N|auto",
                   help="worker processes offering the transfer load, each with its own event "
                   "loop and slice of the wallets; the parent keeps the chain, the IoT node and "
                   "the outputs (env KCSTRESS_WORKERS; default 1 = this process; auto = cores)")
    p.add_argument("--shard", metavar="I/N",
                   help="this process is shard I of N of a larger run: its slice of the wallets, "
                   "1/N of each rate, a shard label on its metrics; shard 0 funds all and "
                   "publishes the start (env KCSTRESS_SHARD, or JOB_COMPLETION_INDEX with "
                   "KCSTRESS_SHARD_COUNT); needs --rpc-url. Merge the runs with 'main.py merge'")
    p.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    from utils.report.gate import add_gate_options

    add_gate_options(p)
    return p


def cli_settings(args: argparse.Namespace) -> dict[str, Any]:
    from utils.settings import RATE_FIELDS, parse_rate

    values: dict[str, Any] = {
        key: getattr(args, key)
        for key in ("duration", "rpc_url", "seed", "out", "host", "port", "interval",
                    "contract", "arrival", "block_time", "drain_timeout", "tx_timeout", "chain",
                    "chain_grace", "chain_history_blocks", "devchain_data_dir",
                    "private_key_file",
                    "workers", "shard", "iot_commit", "iot_batch_size", "iot_batch_wait",
                    "inputbox_batch", "device_auth", "parent_base_fee_gwei", "batch_max_delay",
                    "parent_block_time", "batch_max_size",
                    "l1_base_fee_gwei", "dapp", "stylus_cache", "finality_sample",
                    "finality_confirmations", "finality_wait")
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


def execute(run: Run, log_level: str) -> int:
    """Run ``run``; its run.log is written once its directory exists. A configuration
    error is printed once and leaves no run directory (exit 2)."""
    redactor = Redactor([run.settings.rpc_url, run.settings.lcore_node_url])
    run_log = RunLog(log_level)
    setup_logging(log_level, run_log, redactor)
    run.on_run_dir = lambda run_dir: run_log.attach(run_dir / "run.log")
    try:
        return asyncio.run(run.execute())
    except (ConfigError, KcStressError) as exc:
        logging.getLogger("main").error("%s", exc, extra=FILE_ONLY)
        print(f"error: {redactor.text(str(exc))}", file=sys.stderr)
        return EXIT_CONFIG


def run_benchmark(argv: list[str]) -> int:
    chain = prestart_chain(argv)  # first thing: it imports while this process does
    importer = threading.Thread(target=importlib.import_module, args=("utils.run.run",),
                                name="import-run", daemon=True)
    importer.start()
    try:
        return benchmark(argv, chain, importer)
    finally:
        if chain is not None:
            chain.cancel()  # a no-op once the run took it


def benchmark(argv: list[str], prestarted: PrestartedChain | None,
              importer: threading.Thread) -> int:
    from utils.load.profiles import apply_profiles, cli_profiles
    from utils.report.gate import finish_junit, gated_settings
    from utils.settings import load_settings

    args = build_parser().parse_args(argv)
    try:
        settings = load_settings(cli_settings(args), args.scenario)
        settings = apply_profiles(settings, cli_profiles(args.rate))
        settings = gated_settings(settings, args)
        preflight(settings)
    except ConfigError as exc:
        print(f"error: {redact_text(str(exc))}", file=sys.stderr)
        return EXIT_CONFIG
    run_dir = settings.out / new_run_id()
    code = run_in(run_dir, settings, prestarted, importer, args.log_level)
    finish_junit(args.junit, run_dir, code)
    return code


def run_in(run_dir: Path, settings: Any, prestarted: PrestartedChain | None,
           importer: threading.Thread, log_level: str) -> int:
    try:
        chain = start_chain(settings, prestarted)
    except KcStressError as exc:
        print(f"error: {redact_text(str(exc))}", file=sys.stderr)
        return EXIT_CONFIG
    finally:
        importer.join()
    from utils.run.run import Run

    run = Run(settings, run_id=run_dir.name, run_dir=run_dir)
    if chain is None:
        return execute(run, log_level)
    run.launch = lambda _settings: chain
    try:
        return execute(run, log_level)
    finally:
        chain.stop()  # idempotent: the run stops it, unless it ended before taking it


def preflight(settings: Any) -> None:
    """What the user gave that can be checked before any chain starts: a writable output
    folder, a free port, a funder key for --rpc-url; ConfigError naming the option,
    variable or scenario key the value came from."""
    from server import check_port
    from utils.run.run_dir import check_out_dir

    check_out_dir(settings.out, settings.given_as("out"))
    if settings.port:
        check_port(settings.host, settings.port, settings.given_as("port"),
                   settings.given_as("host"))
    if settings.rpc_url and settings.private_key is None:
        raise ConfigError("PRIVATE_KEY", f"required with {settings.given_as('rpc_url')} "
                          "(the funder's key)")


def prestart_chain(argv: list[str]) -> PrestartedChain | None:
    """Start-up: spawn the embedded chain's child before anything heavy is imported (it boots
    in 1-2 s, as long as this process' own imports), unless the command line or the
    environment already says it is not wanted; the settings decide later (a scenario file
    may still say --rpc-url: the child is then stopped unused)."""
    flags = [a.split("=")[0] for a in argv]
    chain = argv[flags.index("--chain") + 1:][:1] if "--chain" in argv else []
    chain += [a.split("=", 1)[1] for a in argv if a.startswith("--chain=")]
    chain.append(os.environ.get("KCSTRESS_CHAIN") or "embedded")
    if {"-h", "--help", "--rpc-url"} & set(flags) or os.environ.get("RPC_HTTP_URL") or \
            chain[0] != "embedded":
        return None
    from utils.devchain.prestart import PrestartedChain

    return PrestartedChain.spawn()


def start_chain(settings: Any, prestarted: PrestartedChain | None) -> Any:
    """The local chain the run wants (None with --rpc-url): the prestarted child given its
    options, else one started now. From this, the main, thread: the child's PR_SET_PDEATHSIG
    is tied to the thread that starts it."""
    wanted = not settings.rpc_url and settings.chain == "embedded"
    if prestarted is not None and wanted:
        return prestarted.start(settings)
    if prestarted is not None:
        prestarted.cancel()
    if settings.rpc_url:
        return None
    from utils.devchain.launch import launch_embedded

    return launch_embedded(settings)


def run_console(argv: list[str]) -> int:
    from utils.run.console_cli import main as console_main
    from utils.settings import load_settings

    try:
        out = load_settings({}).out  # LOG_DIR, else the default
    except ConfigError as exc:
        print(f"error: {redact_text(str(exc))}", file=sys.stderr)
        return EXIT_CONFIG
    return console_main(argv, console_run, out)


def console_run(kind: str, argv: list[str], console: Any) -> Run:
    """A run the console starts (POST /api/runs): ``argv`` parsed as this command line's (or
    ``capacity``'s); ConfigError for bad options (argparse's messages included)."""
    from utils.load.profiles import apply_profiles, cli_profiles
    from utils.run.capacity_cli import build_parser as capacity_parser
    from utils.run.capacity_cli import capacity_settings
    from utils.run.capacity_run import CapacityLoad
    from utils.run.run import Run
    from utils.settings import load_settings

    parser = capacity_parser() if kind == "capacity" else build_parser()

    def refuse(message: str) -> None:
        raise ConfigError("args", message)

    parser.error = refuse  # type: ignore[method-assign,assignment]
    args = parser.parse_args(argv)
    load = None
    if kind == "capacity":
        settings, config = capacity_settings(args)
        load = CapacityLoad(config)
    else:
        settings = apply_profiles(load_settings(cli_settings(args), args.scenario),
                                  cli_profiles(args.rate))
    settings = settings.model_copy(update={"out": console.out})
    if settings.rpc_url and settings.private_key is None:
        raise ConfigError("PRIVATE_KEY", "required with --rpc-url (the funder's key)")
    run_id = new_run_id()
    return Run(settings, run_id=run_id, run_dir=console.out / run_id, load=load,
               console=console, kind=kind)


def run_capacity(argv: list[str]) -> int:
    from utils.report.gate import add_gate_options, finish_junit, gated_settings
    from utils.run.capacity_cli import build_parser as capacity_parser
    from utils.run.capacity_cli import capacity_settings

    parser = capacity_parser()
    add_gate_options(parser)
    args = parser.parse_args(argv)
    try:
        settings, config = capacity_settings(args)
        settings = gated_settings(settings, args)
        preflight(settings)
    except ConfigError as exc:
        print(f"error: {redact_text(str(exc))}", file=sys.stderr)
        return EXIT_CONFIG
    from utils.run.capacity_run import CapacityLoad
    from utils.run.run import Run

    run_id = new_run_id()
    run_dir = settings.out / run_id
    code = execute(Run(settings, run_id=run_id, run_dir=run_dir, load=CapacityLoad(config)),
                   args.log_level)
    finish_junit(args.junit, run_dir, code)
    return code


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


def run_merge(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python main.py merge",
        description="Build one run directory (CSVs, histograms.json, summary.json, "
        "report.html) from the run directories of the shards of one run; histograms are "
        "merged exactly, never averaged.",
    )
    parser.add_argument("run_dirs", type=Path, nargs="+", metavar="DIR")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR",
                        help="the merged run directory (created)")
    args = parser.parse_args(argv)
    from utils.report.merge import merge_runs

    setup_logging("WARNING")
    try:
        out = merge_runs(args.run_dirs, args.out)
    except (OSError, KcStressError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    print(out)
    return 0


def run_compare(argv: list[str]) -> int:
    from utils.report.compare_cli import compare_main

    setup_logging("WARNING")
    return compare_main(argv)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["verify"]:
        return run_verify(argv[1:])
    if argv[:1] == ["report"]:
        return run_report(argv[1:])
    if argv[:1] == ["capacity"]:
        return run_capacity(argv[1:])
    if argv[:1] == ["console"]:
        return run_console(argv[1:])
    if argv[:1] == ["merge"]:
        return run_merge(argv[1:])
    if argv[:1] == ["compare"]:
        return run_compare(argv[1:])
    return run_benchmark(argv)


def exit_now(code: int) -> None:
    """End the process once everything is written: the run's files, sinks, database and chain
    are closed by now, and the interpreter's own teardown (freeing the heap of web3, eth-*,
    matplotlib... objects) took 0.4-0.9 s of every run's wall time."""
    sys.stdout.flush()
    sys.stderr.flush()
    logging.shutdown()
    os._exit(code)


if __name__ == "__main__":
    exit_now(main())
