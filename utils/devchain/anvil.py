"""anvil (Foundry's dev node) as a run's local chain: ``--chain anvil``.

    with AnvilChain.start(block_time=1.0) as chain:   # a free 127.0.0.1 port
        ...                                            # chain.url, chain.funder_key

The binary comes from the npm package ``@foundry-rs/anvil-linux-amd64`` installed by
``scripts/install_anvil.sh`` into ``.tools/anvil/`` (run here when it is missing; needs npm);
``KCSTRESS_ANVIL`` names another binary. anvil listens on port 0 and the port is read back
from the kernel's socket table, so no port is guessed. The funder is a key generated here
(``secrets``) and given a balance with ``anvil_setBalance``; anvil's own dev accounts are off
(``--accounts 0``). The child dies with the parent (``PR_SET_PDEATHSIG``), has its own session
(a Ctrl-C reaches the run only) and is stopped by its pid. Use a block time (the default 1 s):
anvil's automine mode collapses under pipelined load. No Stylus: a run deploys the EVM twin.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import json
import logging
import os
import secrets
import signal
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

from utils.chain.signer import Signer
from utils.errors import DevChainError

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[2]
INSTALL_SCRIPT = PROJECT_ROOT / "scripts" / "install_anvil.sh"
DEFAULT_BINARY = (PROJECT_ROOT / ".tools" / "anvil" / "node_modules" / "@foundry-rs"
                  / "anvil-linux-amd64" / "bin" / "anvil")
DEFAULT_BLOCK_TIME = 1.0
DEFAULT_CHAIN_ID = 31337
DEFAULT_GAS_LIMIT = 1_000_000_000  # as the embedded chain (anvil's 30M: 1,428 transfers a block)
FUNDER_BALANCE_WEI = 10**30
PR_SET_PDEATHSIG = 1


def anvil_binary() -> Path:
    """The anvil to run: ``KCSTRESS_ANVIL``, else the project's copy (installed if missing)."""
    if os.environ.get("KCSTRESS_ANVIL"):
        return Path(os.environ["KCSTRESS_ANVIL"])
    if not DEFAULT_BINARY.exists():
        log.info("anvil not installed yet: running %s", INSTALL_SCRIPT)
        done = subprocess.run(["bash", str(INSTALL_SCRIPT)], capture_output=True, text=True,
                              check=False, timeout=300)
        if done.returncode != 0:
            raise DevChainError(f"installing anvil failed ({done.returncode}): "
                                f"{done.stderr.strip()[-500:]}")
    return DEFAULT_BINARY


def _die_with_parent() -> None:  # runs in the forked child before exec
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def listening_port(pid: int) -> int | None:
    """The TCP port process ``pid`` listens on (IPv4), from /proc; None if not yet."""
    try:
        inodes = {os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")}
        lines = Path(f"/proc/{pid}/net/tcp").read_text().splitlines()[1:]
    except OSError:
        return None
    for line in lines:
        cols = line.split()
        if cols[3] == "0A" and f"socket:[{cols[9]}]" in inodes:  # 0A: LISTEN
            return int(cols[1].split(":")[1], 16)
    return None


def rpc_call(url: str, method: str, *params: Any, timeout: float = 5.0) -> Any:
    """One blocking JSON-RPC call (start-up only)."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
    request = urllib.request.Request(url, body.encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        reply = json.loads(response.read())
    if "error" in reply:
        raise DevChainError(f"anvil {method}: {reply['error']}")
    return reply["result"]


class AnvilChain:
    """A running anvil child. Context manager; ``stop()`` is idempotent."""

    embedded = False  # a local chain, but not the embedded py-evm one (no Stylus)

    def __init__(self, process: subprocess.Popen[bytes], port: int, chain_id: int,
                 funder_key: bytes, log_path: Path) -> None:
        self._process = process
        self.pid = process.pid
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.chain_id = chain_id
        self.funder_key = funder_key
        self.funder_address = Signer(funder_key).address
        self.log_path = log_path
        self._stopped = False

    def __repr__(self) -> str:  # never the key
        return f"AnvilChain(url={self.url!r}, pid={self.pid}, chain_id={self.chain_id})"

    @classmethod
    def start(cls, *, block_time: float = DEFAULT_BLOCK_TIME, chain_id: int = DEFAULT_CHAIN_ID,
              gas_limit: int = DEFAULT_GAS_LIMIT, startup_timeout: float = 30.0) -> AnvilChain:
        """Spawn anvil, wait until it answers, fund a fresh funder; DevChainError otherwise."""
        binary = anvil_binary()
        fd, name = tempfile.mkstemp(prefix="kc-anvil-", suffix=".log")
        os.close(fd)
        log_path = Path(name)
        argv = [str(binary), "--host", "127.0.0.1", "--port", "0", "--chain-id", str(chain_id),
                "--gas-limit", str(gas_limit), "--accounts", "0", "--silent",
                "--no-request-size-limit"]
        if block_time > 0:
            argv += ["--block-time", f"{block_time:g}"]
        with open(log_path, "ab") as err:
            process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                                       start_new_session=True, preexec_fn=_die_with_parent)
        try:
            port = cls._await_port(process, startup_timeout)
            key = secrets.token_bytes(32)
            chain = cls(process, port, chain_id, key, log_path)
            chain._await_rpc(startup_timeout)
            rpc_call(chain.url, "anvil_setBalance", chain.funder_address, hex(FUNDER_BALANCE_WEI))
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            process.wait()
            raise
        atexit.register(chain.stop)
        log.info("anvil pid %d at %s (chain id %d, block time %g s)", chain.pid, chain.url,
                 chain_id, block_time)
        return chain

    @staticmethod
    def _await_port(process: subprocess.Popen[bytes], timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise DevChainError(f"anvil exited during start-up (code {process.returncode})")
            port = listening_port(process.pid)
            if port is not None:
                return port
            time.sleep(0.02)
        raise DevChainError(f"anvil did not listen within {timeout:g} s")

    def _await_rpc(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if int(rpc_call(self.url, "eth_chainId"), 16) != self.chain_id:
                    raise DevChainError(f"anvil at {self.url} reports another chain id")
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise DevChainError(f"anvil at {self.url} did not answer") from None
                time.sleep(0.02)

    def is_alive(self) -> bool:
        return self._process.poll() is None

    def pause(self) -> None:
        os.kill(self.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.pid, signal.SIGCONT)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (SIGKILL after ``timeout``) by pid, then reap. Idempotent."""
        atexit.unregister(self.stop)
        if self._stopped:
            return
        self._stopped = True
        if self._process.poll() is None:
            os.kill(self.pid, signal.SIGTERM)
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGCONT)
            try:
                self._process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self._process.wait()
        self.log_path.unlink(missing_ok=True)

    def __enter__(self) -> AnvilChain:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
