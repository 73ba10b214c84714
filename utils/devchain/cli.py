"""Command line of the dev chain process: ``python -m utils.devchain --help``."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import secrets
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from utils.devchain.chain import (
    DEFAULT_BLOCK_TIME,
    DEFAULT_CHAIN_ID,
    DEFAULT_FUNDER_BALANCE_WEI,
    DEFAULT_GAS_LIMIT,
    DEFAULT_KEY_FILE,
)
from utils.devchain.retention import (
    DEFAULT_HISTORY_BLOCKS,
    DEFAULT_STATE_BLOCKS,
    DEFAULT_STATE_CACHE_MB,
    Retention,
)
from utils.errors import DevChainError

if TYPE_CHECKING:
    from utils.devchain.child import ChainOptions

logger = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m utils.devchain",
        description=(
            "Embedded dev chain: Ethereum JSON-RPC over HTTP backed by py-evm. "
            "Prints one JSON line with the port, chain id and funder address when ready. "
            "Funder: the account of env PRIVATE_KEY (hex) if set, else a fresh random key "
            "written to --funder-key-file (mode 0600); the key itself is never printed."
        ),
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default %(default)s)")
    parser.add_argument(
        "--port",
        type=int,
        default=8545,
        help="port to bind, 0 for any free port (default %(default)s)",
    )
    parser.add_argument(
        "--block-time",
        type=float,
        default=DEFAULT_BLOCK_TIME,
        help="seconds between blocks holding all pending transactions; "
        "0 seals one block per transaction (default %(default)s)",
    )
    parser.add_argument(
        "--chain-id", type=int, default=DEFAULT_CHAIN_ID, help="chain id (default %(default)s)"
    )
    parser.add_argument(
        "--gas-limit",
        type=int,
        default=DEFAULT_GAS_LIMIT,
        help="block gas limit, constant from genesis (default %(default)s)",
    )
    parser.add_argument(
        "--funder-balance-wei",
        type=int,
        default=DEFAULT_FUNDER_BALANCE_WEI,
        help="genesis balance of the funder account (default %(default)s)",
    )
    parser.add_argument(
        "--funder-key-file",
        type=Path,
        default=Path(DEFAULT_KEY_FILE),
        help="where a generated funder key is written when PRIVATE_KEY is unset "
        "(default ./%(default)s)",
    )
    parser.add_argument(
        "--stylus", action="store_true",
        help="run Stylus (WASM) programs through utils.devchain.stylus.host",
    )
    parser.add_argument(
        "--history-blocks",
        type=int,
        default=DEFAULT_HISTORY_BLOCKS,
        help="recent blocks whose headers, bodies, receipts and transaction look-ups are kept; "
        "older ones answer 4444 'pruned history unavailable'; 0 = keep all (default %(default)s)",
    )
    parser.add_argument(
        "--state-blocks",
        type=int,
        default=DEFAULT_STATE_BLOCKS,
        help="recent blocks whose state is kept (older: 'missing trie node'); "
        "0 = keep all (default %(default)s)",
    )
    parser.add_argument(
        "--state-cache-mb",
        type=float,
        default=DEFAULT_STATE_CACHE_MB,
        help="the chain's key-value store (state tries, blocks, receipts) lives in a private "
        "SQLite temporary file behind an in-memory cache of this many MB; "
        "0 = keep all of it in memory (default %(default)s)",
    )
    parser.add_argument(
        "--l1-base-fee-wei",
        type=int,
        default=0,
        help="L1 base fee estimate in wei per calldata unit: every transaction is charged "
        "16 units per byte of its brotli-compressed bytes at this price, as on Nitro; "
        "0 = no L1 charge; changeable with kcdev_setL1BaseFee (default %(default)s)",
    )
    parser.add_argument(
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="log level of the stderr log (default %(default)s)",
    )
    parser.add_argument(
        "--managed",
        action="store_true",
        help="internal, used by utils.devchain.DevChain: read the funder key "
        "from stdin, ignore SIGINT, exit when the parent process exits",
    )
    parser.add_argument(
        "--prestarted",
        action="store_true",
        help="internal, with --managed (utils.devchain.prestart): spawned before its options "
        "were known; they come with the funder key on stdin, the Stylus host imports meanwhile",
    )
    return parser


def write_key_file(path: Path, key: bytes) -> None:
    """Write ``key`` as hex to ``path``, readable by the owner only (0600)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, ("0x" + key.hex() + "\n").encode())
    finally:
        os.close(fd)


def standalone_funder_key(key_file: Path) -> tuple[bytes, str]:
    """The funder key (env PRIVATE_KEY, else generated into ``key_file``) and where it is from."""
    text = os.environ.get("PRIVATE_KEY", "").strip()
    if text:
        try:
            key = bytes.fromhex(text.removeprefix("0x"))
        except ValueError:
            raise DevChainError("PRIVATE_KEY is not hex") from None
        if len(key) != 32:
            raise DevChainError(f"PRIVATE_KEY must be 32 bytes, got {len(key)}")
        return key, "env PRIVATE_KEY"
    key = secrets.token_bytes(32)
    write_key_file(key_file, key)
    return key, f"generated, written to {key_file} (mode 0600)"


def chain_options(args: argparse.Namespace) -> ChainOptions:
    from utils.devchain.child import ChainOptions

    return ChainOptions(
        host=args.host,
        port=args.port,
        block_time=args.block_time,
        chain_id=args.chain_id,
        gas_limit=args.gas_limit,
        funder_balance_wei=args.funder_balance_wei,
        stylus=args.stylus,
        l1_base_fee_wei=args.l1_base_fee_wei,
        retention=Retention(args.history_blocks, args.state_blocks, args.state_cache_mb),
    )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    if args.managed:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # before the slow imports below
    logging.basicConfig(
        level=args.log_level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from utils.chain.signer import Signer
    from utils.devchain.child import run, start_managed

    if args.prestarted:  # most runs want Stylus: its host imports while the options come
        importlib.import_module("utils.devchain.stylus.host")
    try:
        if args.managed:
            key, more = start_managed()
            if more:  # a child spawned before its options were known: they came just now
                args = build_parser().parse_args([*argv, *more])
                logging.getLogger().setLevel(args.log_level)
        else:
            key, origin = standalone_funder_key(args.funder_key_file)
            print(f"funder address: {Signer(key).address} (key: {origin})", flush=True)
        return run(chain_options(args), key, managed=args.managed)
    except (DevChainError, OSError) as exc:  # OSError: the port cannot be bound
        logger.error("dev chain failed: %s", exc)
        return 2
