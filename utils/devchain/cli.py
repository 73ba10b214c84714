"""Command line of the dev chain process: ``python -m utils.devchain --help``."""

from __future__ import annotations

import argparse
import importlib
import logging
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
from utils.devchain.datadir import ChainDir, check_record
from utils.devchain.funder import standalone_funder_key
from utils.devchain.nitro.options import (
    DEFAULT_L1_BASE_FEE_WEI,
    add_batch_arguments,
    batch_policy,
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
            "Prints the funder address, then one JSON line with the port, chain id and funder "
            "address when ready, then a line with its URL and where the funder key is. "
            "Funder: the account of env PRIVATE_KEY (hex) if set, else a fresh random key "
            "written to --funder-key-file, or DIR/funder.key with --data-dir (mode 0600); "
            "the key itself is never printed. With --data-dir DIR the chain is kept in DIR "
            "(chain.json, funder.key, chain.sqlite) and a later start continues it from its "
            "head; without it the chain ends with the process."
        ),
    )
    parser.add_argument(
        "--data-dir", type=Path, default=None, metavar="DIR",
        help="keep the chain (state, blocks of the history window, head, chain id, funder "
        "key, L1 prices) in DIR and continue it at the next start; a flag contradicting what "
        "DIR holds (--chain-id, --gas-limit, --funder-balance-wei, --no-stylus) is refused "
        "(default: none, the chain ends with the process)",
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
        "--chain-id", type=int, default=None,
        help=f"chain id (default: DIR's, else {DEFAULT_CHAIN_ID})",
    )
    parser.add_argument(
        "--gas-limit", type=int, default=None,
        help=f"block gas limit, constant from genesis (default: DIR's, else {DEFAULT_GAS_LIMIT})",
    )
    parser.add_argument(
        "--funder-balance-wei", type=int, default=None,
        help=f"genesis balance of the funder account (default: DIR's, else "
        f"{DEFAULT_FUNDER_BALANCE_WEI})",
    )
    parser.add_argument(
        "--funder-key-file", type=Path, default=None,
        help="where a generated funder key is written when PRIVATE_KEY is unset "
        f"(default ./{DEFAULT_KEY_FILE}; with --data-dir always DIR/funder.key)",
    )
    parser.add_argument(
        "--stylus", action=argparse.BooleanOptionalAction, default=None,
        help="run Stylus (WASM) programs through utils.devchain.stylus.host (default: on; "
        "a kept chain: as it ran)",
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
        "SQLite temporary file (DIR/chain.sqlite with --data-dir) behind an in-memory cache "
        "of this many MB; 0 = keep all of it in memory (with --data-dir: the default "
        "cache) (default %(default)s)",
    )
    parser.add_argument(
        "--l1-base-fee-wei",
        type=int,
        default=None,
        help="L1 base fee estimate in wei per calldata unit: every transaction is charged "
        "16 units per byte of its brotli-compressed bytes at this price, as on Nitro; "
        "0 = no L1 charge ('L1 data cost not modelled'); it starts there and moves as Nitro "
        "moves it at each batch posted; changeable with kcdev_setL1BaseFee; a kept chain keeps "
        "its price unless this is given (default 50 gwei, Nitro's DefaultInitialL1BaseFee)",
    )
    add_batch_arguments(parser)
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


def apply_record(args: argparse.Namespace, chain_dir: ChainDir | None, funder: str) -> None:
    """Check the flags against the chain ``chain_dir`` holds, then fill in what was not given:
    the recorded values, else the defaults (Stylus on)."""
    record = chain_dir.record() if chain_dir is not None else None
    if chain_dir is not None and record is not None:
        given = {"--chain-id": args.chain_id, "--gas-limit": args.gas_limit,
                 "--funder-balance-wei": args.funder_balance_wei, "--stylus": args.stylus}
        check_record(chain_dir.path, record, given, funder)
    defaults = {"chain_id": DEFAULT_CHAIN_ID, "gas_limit": DEFAULT_GAS_LIMIT,
                "funder_balance_wei": DEFAULT_FUNDER_BALANCE_WEI, "stylus": True}
    for name, default in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, getattr(record, name) if record is not None else default)
    if args.l1_base_fee_wei is None and record is None:  # a kept chain keeps its price
        args.l1_base_fee_wei = DEFAULT_L1_BASE_FEE_WEI


def chain_options(args: argparse.Namespace, key_origin: str = "") -> ChainOptions:
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
        batches=batch_policy(args),
        data_dir=args.data_dir,
        key_origin=key_origin,
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

    if args.managed:  # py-evm imports while the parent gets ready (a prestarted child)
        importlib.import_module("utils.devchain.child")
    if args.prestarted:  # most runs want Stylus: its host imports while the options come
        importlib.import_module("utils.devchain.stylus.host")
    try:
        origin = "from the managing process"
        if args.managed:
            from utils.devchain.child import start_managed

            key, more = start_managed()
            if more:  # a child spawned before its options were known: they came just now
                args = build_parser().parse_args([*argv, *more])
                logging.getLogger().setLevel(args.log_level)
        chain_dir = ChainDir(args.data_dir) if args.data_dir is not None else None
        if chain_dir is not None:
            chain_dir.lock()  # held until the process ends
        if not args.managed:
            key, origin = standalone_funder_key(args.funder_key_file, chain_dir)
            print(f"funder address: {Signer(key).address} (key: {origin})", flush=True)
        apply_record(args, chain_dir, Signer(key).address)  # a refusal comes before py-evm
        from utils.devchain.child import run

        return run(chain_options(args, origin), key, managed=args.managed, chain_dir=chain_dir)
    except (DevChainError, OSError) as exc:  # OSError: the port cannot be bound
        logger.error("dev chain failed: %s", exc)
        return 2
