"""Command line of the lcore node.

    python -m lcore_node serve [--host 127.0.0.1] [--port 3000] [--db PATH] [--key-dir DIR]
                               [--rpc-url URL | --devchain-data-dir DIR | --no-chain]
                               [--access-log]
                               [--legacy-api [--legacy-wait SECONDS]]
    python -m lcore_node verify [--db PATH] [--key-dir DIR] [--rpc-url URL]
                                [--contract-address ADDR] [--abi FILE]
    python -m lcore_node rotate-key [--key-dir DIR]

``serve`` and ``rotate-key`` read the environment ``main.py`` reads, through the same
settings (flags win): LCORE_DB_PATH (``--db``), LCORE_KEY_DIR (``--key-dir``), RPC_HTTP_URL
(``--rpc-url``), PRIVATE_KEY, CHAIN_ID, MVP_IOT_PROCESSOR_ADDRESS (+ MVP_IOT_PROCESSOR_ABI),
KCSTRESS_CONTRACT, DEFAULT_GAS_LIMIT, FIXED_GAS_PRICE_WEI, KCSTRESS_SEED (committer wallets),
LCORE_REQUIRE_SIGNATURES and the LCORE_*_KEY variables; without either, ``lcore-data/``.
HEALTHCHECK_HOST/PORT are the address of a run's /health server, not of this API, whose
address is ``--host``/``--port`` only (127.0.0.1:3000 by default).
``serve`` commits records through :func:`lcore_node.chain.open_committer`: to the chain at
the RPC URL (PRIVATE_KEY funds the committer wallets; MVP_IOT_PROCESSOR_ADDRESS selects
a deployed contract, else one is deployed) or, without one, to an embedded dev chain started
for the node, as ``main.py`` does, but kept: in ``--devchain-data-dir`` (or
KCSTRESS_DEVCHAIN_DATA_DIR), by default ``devchain/`` beside the database, so the next
``serve`` in the same folder continues that chain and finds its contract and its records.
Its log and errors show URLs as scheme://host:port.
``--no-chain`` stores records only; they stay 'pending' until a node with a chain runs on
the same database. ``verify`` is ``main.py verify``.
``--legacy-api`` (or LCORE_LEGACY_API=true) answers the original system's clients as the
original node did (:mod:`lcore_node.legacy`): unsigned submissions, ``"Data submitted; tx
0x…"``. ``--access-log`` logs one line per request (off by default).
Env of the node alone: LCORE_STAGE1_KEY / LCORE_STAGE2_KEY / LCORE_KEY_ID (keys),
LCORE_LEGACY_API.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import logging
import os
import signal
import sys
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import TYPE_CHECKING

from lcore_node.api import ApiServer, LegacyMode
from lcore_node.config import NodeConfig, _env_bool
from lcore_node.keys import KeyStore
from lcore_node.legacy import DEFAULT_WAIT, SentNotifier, warn_legacy_on
from lcore_node.node import LcoreNode
from lcore_node.types import ResultCommitter
from utils.errors import KcStressError
from utils.redact import RedactFilter, Redactor

if TYPE_CHECKING:
    from utils.settings import Settings

log = logging.getLogger("lcore_node")

DEFAULT_DB = Path("lcore-data/lcore.db")
DEFAULT_KEY_DIR = Path("lcore-data/keys")


#: the flags that set a Settings field, as load_settings names them in its errors
_FLAGS = {"rpc_url": "--rpc-url", "lcore_db_path": "--db", "lcore_key_dir": "--key-dir",
          "devchain_data_dir": "--devchain-data-dir"}


def load_node_settings(args: argparse.Namespace) -> Settings:
    """The settings main.py reads (CLI over environment over defaults): the flags given win
    over LCORE_DB_PATH, LCORE_KEY_DIR and RPC_HTTP_URL; the rest comes from the environment."""
    from utils.settings import load_settings

    cli = {"lcore_key_dir": args.key_dir}
    if args.command == "serve":
        cli |= {"lcore_db_path": args.db, "rpc_url": args.rpc_url,
                "devchain_data_dir": args.devchain_data_dir}
    settings = load_settings(cli, names=_FLAGS)
    if args.command == "serve" and settings.rpc_url is None and not args.no_chain:
        return settings.model_copy(update={"devchain_data_dir": chain_dir(settings)})
    return settings


def chain_dir(settings: Settings) -> Path:
    """Where serve keeps its embedded chain: the one given, else devchain/ beside the db."""
    return settings.devchain_data_dir or db_path(settings).parent / "devchain"


def db_path(settings: Settings) -> Path:
    return settings.lcore_db_path or DEFAULT_DB


def key_dir(settings: Settings) -> Path:
    return settings.lcore_key_dir or DEFAULT_KEY_DIR


def open_committer(
    settings: Settings, no_chain: bool
) -> AbstractAsyncContextManager[ResultCommitter | None]:
    """The chain committer (None with ``--no-chain``: the outbox stays off)."""
    if no_chain:
        return contextlib.nullcontext(None)
    from lcore_node.chain import open_committer as chain_committer

    return chain_committer(settings, db=db_path(settings))


def _config(args: argparse.Namespace, settings: Settings) -> NodeConfig:
    config = NodeConfig.from_env(db_path(settings), key_dir(settings))
    if args.legacy_api:  # the original clients send no signature
        config = dataclasses.replace(config, require_signatures=False)
    return config


def _legacy(args: argparse.Namespace, committer: ResultCommitter | None) -> LegacyMode | None:
    if not args.legacy_api:
        return None
    warn_legacy_on(args.legacy_wait)
    return LegacyMode(committer if isinstance(committer, SentNotifier) else None,
                      args.legacy_wait)


async def serve(args: argparse.Namespace, settings: Settings) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    args.legacy_api = args.legacy_api or _env_bool(os.environ, "LCORE_LEGACY_API", False)
    config = _config(args, settings)
    async with open_committer(settings, args.no_chain) as chain_committer:
        committer = SentNotifier(chain_committer) if (
            args.legacy_api and chain_committer is not None) else chain_committer
        legacy = _legacy(args, committer)
        async with (
            LcoreNode(config, committer=committer) as node,
            ApiServer(node, args.host, args.port, config.max_data_bytes, legacy=legacy,
                      access_log=args.access_log) as server,
        ):
            kept = committer is not None and not settings.rpc_url and settings.chain == "embedded"
            await _serve_until(stop, server.url, config, committer,
                               settings.devchain_data_dir if kept else None)
    return 0


async def _serve_until(
    stop: asyncio.Event, url: str, config: NodeConfig, committer: ResultCommitter | None,
    chain: Path | None,
) -> None:
    print(f"lcore node listening on {url} (db {config.db_path})", flush=True)
    if chain is not None:
        log.info("embedded chain kept in %s (funder key in %s/funder.key)", chain, chain)
    if committer is None:
        log.warning("--no-chain: records are stored but not committed on chain")
    await stop.wait()
    print("shutting down", flush=True)


def verify(argv: list[str]) -> int:
    from utils.iot.verify_cli import main as verify_main

    return verify_main(argv)


def rotate_key(settings: Settings) -> int:
    keys = KeyStore.open(key_dir(settings))
    print(f"new current key id: {keys.rotate().key_id}")
    return 0


_HELP = {
    "serve": "serve the device API (POST /device/register, POST /device/data, GET /status)",
    "rotate-key": "make a new encryption key pair current; older records stay readable",
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m lcore_node", description="lcore IoT node")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("verify", add_help=False, help="same as `python main.py verify`")
    for name in ("serve", "rotate-key"):
        cmd = sub.add_parser(name, help=_HELP[name])
        cmd.add_argument("--key-dir", default=None,
                         help=f"encryption key directory (default: LCORE_KEY_DIR, else "
                         f"{DEFAULT_KEY_DIR})")
        if name == "rotate-key":
            continue
        cmd.add_argument("--db", default=None,
                         help=f"SQLite database (default: LCORE_DB_PATH, else {DEFAULT_DB})")
        chain = cmd.add_mutually_exclusive_group()
        chain.add_argument("--rpc-url", default=None,
                           help="chain to commit to (default: RPC_HTTP_URL, else start the "
                           "embedded chain)")
        chain.add_argument("--devchain-data-dir", type=Path, default=None, metavar="DIR",
                           help="the embedded chain's directory: it is kept there and the "
                           "next serve continues it (default: KCSTRESS_DEVCHAIN_DATA_DIR, else "
                           "devchain/ beside the database)")
        chain.add_argument("--no-chain", action="store_true", help="store records only")
        cmd.add_argument("--host", default="127.0.0.1", help="address (default: %(default)s)")
        cmd.add_argument("--port", type=int, default=3000,
                         help="port, 0 = any free one (default: %(default)s)")
        cmd.add_argument("--access-log", action="store_true",
                         help="log one line per request (default: off)")
        cmd.add_argument("--legacy-api", action="store_true",
                         help="answer the original system's clients as the original node did:"
                         " unsigned submissions accepted, 'Data submitted; tx 0x...' (also"
                         " LCORE_LEGACY_API=true; default: off)")
        cmd.add_argument("--legacy-wait", type=float, default=DEFAULT_WAIT, metavar="SECONDS",
                         help="legacy mode: longest wait for the commit transaction to be sent"
                         " before answering 'dispatch failed' (default: %(default)s)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["verify"]:
        return verify(argv[1:])
    args = _parser().parse_args(argv)
    redactor = Redactor()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactFilter(redactor))
    try:
        settings = load_node_settings(args)
        redactor.add(settings.rpc_url)
        if args.command == "rotate-key":
            return rotate_key(settings)
        return asyncio.run(serve(args, settings))
    except KcStressError as exc:  # LcoreError included
        print(f"error: {redactor.text(str(exc))}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
