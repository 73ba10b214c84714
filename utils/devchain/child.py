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
from typing import Any

from utils.chain.signer import Signer
from utils.devchain.backend import DevNode
from utils.devchain.genesis import VmConfiguration, build_chain, default_vm_configuration
from utils.devchain.nitro.l1pricing import L1Pricing
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
    l1_base_fee_wei: int = 0
    retention: Retention = field(default_factory=Retention)


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


def run(options: ChainOptions, funder_key: bytes, *, managed: bool) -> int:
    """Build the chain and serve it until SIGTERM (or SIGINT when standalone)."""
    funder = Signer(funder_key).address
    pricing = L1Pricing(price_per_unit=options.l1_base_fee_wei)
    schedule = vm_configuration(options.stylus, funder) or default_vm_configuration()
    chain = build_chain(
        options.chain_id,
        options.gas_limit,
        funder,
        options.funder_balance_wei,
        nitro_vm_configuration(schedule, pricing),
    )
    node = DevNode(chain, nitro=pricing, retention=options.retention)
    pricing.genesis_timestamp = int(node.head().timestamp)
    asyncio.run(_serve_until_stopped(node, options, funder, managed=managed))
    return 0


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
