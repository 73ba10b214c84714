"""The dev chain process body: build the chain, serve it, and never outlive a managing parent.

Started by :class:`utils.devchain.DevChain` with ``--managed``: the funder key and the parent's
pid arrive as one JSON line on stdin, SIGINT is ignored (the parent stops the chain after it
has drained its receipts), and the process ends when the parent goes away, by two routes:
``prctl(PR_SET_PDEATHSIG, SIGTERM)`` and a thread that sees EOF on stdin.
"""

from __future__ import annotations

import asyncio
import ctypes
import importlib
import json
import logging
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from utils.chain.signer import Signer
from utils.devchain.backend import DevNode
from utils.devchain.datadir import ChainDir
from utils.devchain.durable import open_node
from utils.devchain.genesis import VmConfiguration, default_vm_configuration
from utils.devchain.nitro.l1pricing import L1Pricing
from utils.devchain.nitro.options import BatchPolicy
from utils.devchain.nitro.poster_runtime import attach_batch_poster
from utils.devchain.nitro.vm import nitro_vm_configuration
from utils.devchain.retention import Retention
from utils.devchain.server import serve
from utils.errors import DevChainError

logger = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1
ORPHAN_EXIT_GRACE_S = 5.0


@dataclass(frozen=True)
class ChainOptions:
    host: str
    port: int
    block_time: float
    chain_id: int
    gas_limit: int
    funder_balance_wei: int
    stylus: bool
    l1_base_fee_wei: int | None = 0  # None: a re-opened chain keeps its price
    retention: Retention = field(default_factory=Retention)
    batches: BatchPolicy = field(default_factory=BatchPolicy)  # batch poster, parent chain
    data_dir: Path | None = None  # keep the chain there (utils.devchain.datadir)
    key_origin: str = ""  # where the funder key is, for the standalone banner


def vm_configuration(stylus: bool, chain_owner: str | None = None) -> VmConfiguration | None:
    """The VM schedule: default, or wrapped by the Stylus WASM host when ``stylus`` (whose
    ArbWasmCache lets ``chain_owner``, the funder, cache programs)."""
    if not stylus:
        return None
    try:
        host = importlib.import_module("utils.devchain.stylus.host")
    except ImportError as exc:
        raise DevChainError(
            "--stylus needs the Stylus WASM host (utils.devchain.stylus.host), "
            f"not available: {exc}"
        ) from exc
    owners = (bytes.fromhex(chain_owner.removeprefix("0x")),) if chain_owner else ()
    runtime = host.StylusRuntime(chain_owners=owners)
    configuration: VmConfiguration = host.stylus_vm_configuration(
        default_vm_configuration(), runtime)
    return configuration


def read_handshake(fd: int) -> tuple[bytes, int, list[str]]:
    """Funder key, parent pid and more command-line options (those of a child spawned before
    they were known; none otherwise) from the parent's first stdin line (read unbuffered)."""
    line = b""
    while not line.endswith(b"\n"):
        byte = os.read(fd, 1)
        if not byte:
            break
        line += byte
    try:
        message = json.loads(line)
        options = [str(a) for a in message.get("argv", [])]
        return bytes.fromhex(message["funder_key"]), int(message["parent_pid"]), options
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise DevChainError("malformed handshake on stdin (expected one JSON line)") from exc


def die_with_parent(parent_pid: int) -> None:
    """Ask Linux for SIGTERM when the parent dies; exit now if it is already gone."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
            logger.warning("prctl(PR_SET_PDEATHSIG) failed: errno %s", ctypes.get_errno())
    if os.getppid() != parent_pid:
        logger.error("parent %s is gone before start-up finished", parent_pid)
        os._exit(1)


def watch_stdin(fd: int, loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
    """Thread body: at EOF on stdin (parent gone) stop the loop, then force the exit.

    Reads the raw fd: a daemon thread blocked inside a buffered reader would abort the
    interpreter's shutdown.
    """
    while os.read(fd, 4096):
        pass
    logger.warning("stdin closed: the managing parent is gone, stopping")
    loop.call_soon_threadsafe(stop.set)
    time.sleep(ORPHAN_EXIT_GRACE_S)
    os._exit(1)


def announce(info: dict[str, Any], *, managed: bool) -> None:
    """Print the readiness line; a managed child then points stdout at stderr."""
    sys.stdout.write(json.dumps(info) + "\n")
    sys.stdout.flush()
    if managed:
        os.dup2(sys.stderr.fileno(), sys.stdout.fileno())


def run(options: ChainOptions, funder_key: bytes, *, managed: bool,
        chain_dir: ChainDir | None = None) -> int:
    """Build (or re-open, with ``chain_dir``, locked) the chain and serve it until SIGTERM
    (or SIGINT when standalone)."""
    funder = Signer(funder_key).address
    price = options.l1_base_fee_wei
    pricing = L1Pricing(price_per_unit=0 if price is None else price)
    schedule = vm_configuration(options.stylus, funder) or default_vm_configuration()
    node = open_node(options, funder, pricing, nitro_vm_configuration(schedule, pricing),
                     chain_dir)
    attach_batch_poster(pricing, options.batches, node.head(), funder, node.store, node.pruner)
    if chain_dir is not None and price is not None and pricing.price_per_unit != price:
        node.set_l1_base_fee(price)  # a re-opened chain: the price given, from the next block
    try:
        asyncio.run(_serve_until_stopped(node, options, funder, managed=managed))
    finally:
        close_node(node)
    return 0


def banner(options: ChainOptions, port: int, funder: str) -> str:
    """The standalone chain's line for people: where it serves, and where its key is."""
    netloc = f"[{options.host}]" if ":" in options.host else options.host
    kept = f"; chain kept in {options.data_dir}" if options.data_dir else ""
    return (f"dev chain at http://{netloc}:{port}, chain id {options.chain_id}, "
            f"Stylus {'on' if options.stylus else 'off'}{kept}; funder {funder}, key: "
            f"{options.key_origin or 'given'}")


def close_node(node: DevNode) -> None:
    """Seal the open block (a kept chain loses nothing on SIGTERM) and close the store."""
    if node.store is None or not node.store.durable:
        return
    if node.pending_count():
        node.seal()
    node.store.close()


async def _serve_until_stopped(
    node: DevNode, options: ChainOptions, funder: str, *, managed: bool
) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    if managed:
        threading.Thread(
            target=watch_stdin, args=(sys.stdin.fileno(), loop, stop), daemon=True
        ).start()
    else:
        loop.add_signal_handler(signal.SIGINT, stop.set)

    def ready(port: int) -> None:
        info = {
            "host": options.host,
            "port": port,
            "chain_id": options.chain_id,
            "funder_address": funder,
            "block_time": options.block_time,
            "pid": os.getpid(),
        }
        logger.info(  # logged before the parent is told: its log then always has the line
            "dev chain serving on http://%s:%s (chain id %s)", options.host, port, options.chain_id
        )
        announce(info, managed=managed)
        if not managed:
            print(banner(options, port, funder), flush=True)

    await serve(
        node,
        host=options.host,
        port=options.port,
        block_time=options.block_time,
        stop=stop,
        on_ready=ready,
    )
    logger.info("dev chain stopped at block %s", node.head().block_number)


def start_managed() -> tuple[bytes, list[str]]:
    """In a managed child: ignore SIGINT, read the handshake, arm the parent-death signal;
    the funder key and the options the handshake adds."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    key, parent_pid, options = read_handshake(sys.stdin.fileno())
    die_with_parent(parent_pid)
    return key, options
