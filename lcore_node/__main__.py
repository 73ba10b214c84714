"""Command line of the lcore node.

    python -m lcore_node serve [--host 127.0.0.1] [--port 3000] [--db PATH] [--key-dir DIR]
                               [--rpc-url URL]
    python -m lcore_node verify [--db PATH] [--key-dir DIR] [--record-id N] [--rpc-url URL]
    python -m lcore_node rotate-key [--key-dir DIR]

The chain is pluggable: with ``--rpc-url`` the committer comes from
``lcore_node.chain.open_committer(rpc_url)`` (an async context manager
yielding a :class:`lcore_node.types.ResultCommitter`); without it the node
accepts and stores records, which stay 'pending' until a node with a chain
runs on the same database. Env: LCORE_STAGE1_KEY / LCORE_STAGE2_KEY /
LCORE_KEY_ID (keys), LCORE_REQUIRE_SIGNATURES.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import logging
import signal
import sys
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

from lcore_node.api import ApiServer
from lcore_node.config import NodeConfig
from lcore_node.keys import KeyStore
from lcore_node.node import LcoreNode
from lcore_node.types import ResultCommitter
from utils.errors import KcStressError

log = logging.getLogger("lcore_node")

DEFAULT_DB = Path("lcore-data/lcore.db")
DEFAULT_KEY_DIR = Path("lcore-data/keys")


def open_committer(rpc_url: str | None) -> AbstractAsyncContextManager[ResultCommitter | None]:
    """The chain committer for ``rpc_url`` (None: no chain, the outbox stays off)."""
    if rpc_url is None:
        return contextlib.nullcontext(None)
    try:
        chain: Any = importlib.import_module("lcore_node.chain")
        factory = chain.open_committer
    except (ImportError, AttributeError) as exc:
        raise SystemExit(f"--rpc-url needs lcore_node.chain.open_committer: {exc}") from exc
    return factory(rpc_url)  # type: ignore[no-any-return,unused-ignore]


def _config(args: argparse.Namespace) -> NodeConfig:
    return NodeConfig.from_env(Path(args.db), Path(args.key_dir))


async def serve(args: argparse.Namespace) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    config = _config(args)
    async with (
        open_committer(args.rpc_url) as committer,
        LcoreNode(config, committer=committer) as node,
        ApiServer(node, args.host, args.port, config.max_data_bytes) as server,
    ):
        print(f"lcore node listening on {server.url} (db {config.db_path})", flush=True)
        if committer is None:
            log.warning("no --rpc-url: records are stored but not committed on chain")
        await stop.wait()
        print("shutting down", flush=True)
    return 0


async def verify(args: argparse.Namespace) -> int:
    bad = total = 0
    async with (
        open_committer(args.rpc_url) as committer,
        LcoreNode(_config(args), committer=committer) as node,
    ):
        if node.outbox is not None:
            await node.outbox.close()  # verify only: do not commit anything
            node.outbox = None
        if args.record_id is not None:
            reports = [await node.verify_record(args.record_id, on_chain=committer is not None)]
        else:
            reports = [r async for r in node.verify_all(on_chain=committer is not None)]
        for report in reports:
            total += 1
            if not report.ok:
                bad += 1
                print(
                    f"record {report.record_id}: decrypts={report.decrypts} "
                    f"proof={report.proof_matches} on_chain={report.on_chain} {report.error}"
                )
    print(f"verified {total} records: {total - bad} ok, {bad} bad")
    return 1 if bad else 0


def rotate_key(args: argparse.Namespace) -> int:
    keys = KeyStore.open(Path(args.key_dir))
    print(f"new current key id: {keys.rotate().key_id}")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m lcore_node", description="lcore IoT node")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("serve", "verify", "rotate-key"):
        cmd = sub.add_parser(name)
        cmd.add_argument("--key-dir", default=str(DEFAULT_KEY_DIR))
        if name == "rotate-key":
            continue
        cmd.add_argument("--db", default=str(DEFAULT_DB))
        cmd.add_argument("--rpc-url", default=None)
        if name == "serve":
            cmd.add_argument("--host", default="127.0.0.1")
            cmd.add_argument("--port", type=int, default=3000)
        else:
            cmd.add_argument("--record-id", type=int, default=None)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        if args.command == "rotate-key":
            return rotate_key(args)
        return asyncio.run(serve(args) if args.command == "serve" else verify(args))
    except KcStressError as exc:  # LcoreError included
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
