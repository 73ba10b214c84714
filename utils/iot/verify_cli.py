"""``python main.py verify``: check every record of an lcore database against the chain."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from contextlib import AsyncExitStack
from pathlib import Path

from lcore_node.binding import ChainBinding, read_binding
from lcore_node.chain import ProcessorReader
from lcore_node.config import NodeConfig
from lcore_node.inputbox_binding import read_inputbox
from lcore_node.inputbox_chain import InputBoxReader
from lcore_node.inputbox_verify import APP_DB_NAME, check_app_db
from lcore_node.jws_devices import registered_auth
from lcore_node.node import LcoreNode
from stylus_contracts import load_abi, load_artifact
from utils.chain.rpc import Rpc, hex_int
from utils.errors import ConfigError, KcStressError
from utils.iot.verify import VerifyCounts, verify_records


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python main.py verify",
        description="Check every IoT record: it decrypts, sha256(envelope) equals its proof "
        "hash, and getResult(taskId) on chain returns the same envelope and proof hash (a "
        "record sent to Cartesi's InputBox: its input's getInputHash is keccak of the input "
        "that carries it, and the application's database beside the node's holds it). "
        "Exit 1 on any mismatch or record missing on chain, 2 on bad arguments.",
    )
    p.add_argument("--db", type=Path, help="lcore database (default: LCORE_DB_PATH, else "
                   "<LOG_DIR|logs>/latest/lcore.db)")
    p.add_argument("--key-dir", type=Path, help="encryption keys (default: LCORE_KEY_DIR, else "
                   "the keys/ folder beside the run directory)")
    p.add_argument("--rpc-url", help="chain to compare with (env RPC_HTTP_URL); without it "
                   "only the offline checks run")
    p.add_argument("--contract-address", help="MVPIoTProcessor address (env "
                   "MVP_IOT_PROCESSOR_ADDRESS; default: the one the database records, else "
                   "the run's summary.json)")
    p.add_argument("--abi", type=Path, help="ABI file of the deployed contract (e.g. the "
                   "legacy uint8[] ABI; default: the built artifact's)")
    return p


def _contract_address(args: argparse.Namespace, db: Path, binding: ChainBinding | None) -> str:
    address = args.contract_address or os.environ.get("MVP_IOT_PROCESSOR_ADDRESS")
    if address:
        return str(address)
    if binding is not None:
        return binding.processor_address
    summary = db.parent / "summary.json"
    if summary.exists():
        contract = json.loads(summary.read_text()).get("contract") or {}
        if contract.get("address"):
            return str(contract["address"])
    raise ConfigError("--contract-address", "not given, not in MVP_IOT_PROCESSOR_ADDRESS and "
                      f"no summary.json with a contract beside {db}")


async def verify_command(argv: list[str]) -> tuple[VerifyCounts, bool]:
    """Runs the checks; returns the counts and whether the chain was compared."""
    args = build_parser().parse_args(argv)
    out = Path(os.environ.get("LOG_DIR") or "logs")
    env_db = os.environ.get("LCORE_DB_PATH")
    db = args.db or (Path(env_db) if env_db else out / "latest" / "lcore.db")
    if not db.exists():
        raise ConfigError("--db" if args.db or not env_db else "LCORE_DB_PATH",
                          f"no database at {db}")
    env_keys = os.environ.get("LCORE_KEY_DIR")
    key_dir = args.key_dir or (Path(env_keys) if env_keys else db.resolve().parent.parent / "keys")
    rpc_url = args.rpc_url or os.environ.get("RPC_HTTP_URL")
    config = NodeConfig.from_env(db, key_dir, outbox_enabled=False,  # its devices' auth
                                 device_auth=registered_auth(db) or "ed25519")
    async with AsyncExitStack() as stack:
        reader = None
        if rpc_url:
            rpc = await stack.enter_async_context(Rpc(rpc_url))
            binding = read_binding(db)
            if binding is not None:
                binding.check(db, hex_int(await rpc.call("eth_chainId")), args.contract_address)
            abi_file = args.abi or (Path(binding.processor_abi) if binding and
                                    binding.processor_abi else None)
            abi = load_abi(abi_file) if abi_file else load_artifact().abi
            reader = ProcessorReader(rpc, _contract_address(args, db, binding), abi)
        inputs = _input_reader(reader.rpc, db) if reader is not None else None
        node = await stack.enter_async_context(LcoreNode(config, reader=reader,
                                                         input_reader=inputs))
        counts = await verify_records(node, on_chain=reader is not None)
    app_db = db.parent / APP_DB_NAME
    if inputs is not None and app_db.exists():
        counts.app_compared, counts.app_problems = check_app_db(db, app_db)
    return counts, reader is not None


def _input_reader(rpc: Rpc, db: Path) -> InputBoxReader | None:
    """The InputBox and application a database in inputbox mode records (else None)."""
    recorded = read_inputbox(db)
    return None if recorded is None else InputBoxReader(rpc, *recorded)


def main(argv: list[str]) -> int:
    """Print problems and counts; 0 all good, 1 mismatch or missing, 2 bad arguments."""
    try:
        counts, _ = asyncio.run(verify_command(argv))
    except KcStressError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for report in counts.problems[:20]:
        print(f"record {report.record_id}: {report.error or 'mismatch'}")
    for problem in counts.app_problems[:20]:
        print(problem)
    print(counts.line())
    return 0 if counts.passed else 1
