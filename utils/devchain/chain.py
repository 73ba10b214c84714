"""The embedded dev chain, run in a child process and spoken to over JSON-RPC like a real node.

Parent side::

    with DevChain.start() as chain:           # free 127.0.0.1 port, chain id 1337
        w3 = AsyncWeb3(AsyncHTTPProvider(chain.url))
        ...                                    # chain.funder_key / chain.funder_address

Standalone: ``python -m utils.devchain --port 8545`` (``--help`` lists every option).

The funder key is made in the parent (``secrets``) and handed to the child on its stdin pipe,
never through argv, env or a file; ``repr()`` does not show it. The child never outlives the
parent: ``stop()``, an ``atexit`` hook, ``prctl(PR_SET_PDEATHSIG)`` and EOF on its stdin each
end it. PR_SET_PDEATHSIG fires when the *thread* that started the child exits: start the chain
from the main thread (or one that lives as long as the chain); the stdin route covers the rest.
The child ignores SIGINT and runs in its own session, so a Ctrl-C reaches the parent only.

Chain behaviour (details in ``utils.devchain.backend`` and ``utils.devchain.rpc``): Prague
rules (EIP-1559 base fee; legacy, EIP-2930 and EIP-1559 transactions; blob transactions are
refused); a block every ``block_time`` seconds holding every pending transaction (0 = one block
per transaction); receipts are null until the block is sealed; a gapped nonce is held until
the gap fills; refusals use geth's wording. py-evm needs each block's timestamp to exceed its
parent's by at least 1 s, so under sustained load with 0.25 s blocks the chain clock runs
ahead of wall time. Fault injection: ``pause()``/``resume()`` and the admin methods
``kcdev_setAcceptingTransactions(bool)`` and ``kcdev_mine()``.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import logging
import os
import signal
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Any

from utils.chain.signer import Signer
from utils.devchain.funder import DEFAULT_KEY_FILE as DEFAULT_KEY_FILE
from utils.devchain.funder import managed_funder_key
from utils.devchain.nitro.options import BatchPolicy
from utils.devchain.process import (
    await_ready,
    child_argv,
    kill,
    send_handshake,
    spawn,
    stderr_tail,
)
from utils.devchain.retention import (
    DEFAULT_HISTORY_BLOCKS,
    DEFAULT_STATE_BLOCKS,
    DEFAULT_STATE_CACHE_MB,
)
from utils.errors import DevChainError

# Measured on the 2-core dev machine, 3000 signed EIP-1559 transfers from 8 senders, 64 requests
# in flight, until the last one is in a block: one block per tx (block time 0) 240-250 tx/s;
# block time 0.1 s 600 tx/s, 0.25 s 750-760 tx/s, 0.5 s 670-680 tx/s, 1 s 600 tx/s.
DEFAULT_BLOCK_TIME = 0.25
DEFAULT_CHAIN_ID = 1337
DEFAULT_GAS_LIMIT = 1_000_000_000
DEFAULT_FUNDER_BALANCE_WEI = 10**30

logger = logging.getLogger(__name__)


def stylus_flags(stylus: bool, data_dir: Path | None) -> list[str]:
    """``--stylus`` / ``--no-stylus``; nothing for a kept chain without Stylus wanted (it keeps
    what it ran: a chain's Stylus programs are not turned off)."""
    if stylus:
        return ["--stylus"]
    return [] if data_dir is not None else ["--no-stylus"]


class DevChain:
    """A running dev chain child process. Context manager; ``stop()`` is idempotent."""

    def __init__(
        self,
        process: subprocess.Popen[bytes],
        info: dict[str, Any],
        *,
        funder_key: bytes,
        log_path: Path,
        owns_log: bool,
    ) -> None:
        self._process = process
        self.host: str = info["host"]
        self.port: int = int(info["port"])
        self.chain_id: int = int(info["chain_id"])
        self.pid: int = process.pid
        self.funder_key = funder_key
        self.funder_address: str = info["funder_address"]
        self.log_path = log_path
        self._owns_log = owns_log
        self._stopped = False
        netloc = f"[{self.host}]" if ":" in self.host else self.host
        self.url = f"http://{netloc}:{self.port}"

    def __repr__(self) -> str:
        return (
            f"DevChain(url={self.url!r}, pid={self.pid}, chain_id={self.chain_id}, "
            f"funder_address={self.funder_address!r})"
        )

    @classmethod
    def start(
        cls,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        block_time: float = DEFAULT_BLOCK_TIME,
        chain_id: int = DEFAULT_CHAIN_ID,
        gas_limit: int = DEFAULT_GAS_LIMIT,
        funder_balance_wei: int = DEFAULT_FUNDER_BALANCE_WEI,
        stylus: bool = False,
        log_path: Path | None = None,
        startup_timeout: float = 60,
        l1_base_fee_wei: int | None = 0,
        history_blocks: int = DEFAULT_HISTORY_BLOCKS,
        state_blocks: int = DEFAULT_STATE_BLOCKS,
        state_cache_mb: float = DEFAULT_STATE_CACHE_MB,
        batches: BatchPolicy | None = None,
        data_dir: Path | None = None,
    ) -> DevChain:
        """Spawn the chain and wait until it serves; raise :class:`DevChainError` otherwise.

        ``l1_base_fee_wei``: the L1 base fee estimate (price per calldata unit) the chain
        charges every transaction's data with, as Nitro does, at the start (0, the default
        here: no L1 charge, "L1 data cost not modelled"; Nitro starts at 50 gwei, the default
        of a run and of ``python -m utils.devchain``); it moves as Nitro's does each time the
        emulated batch poster posts; the admin method ``kcdev_setL1BaseFee`` sets it. None:
        a kept chain (``data_dir``) goes on at the price it had.

        ``batches``: the emulated batch poster and parent chain (``utils.devchain.nitro.
        options.BatchPolicy``: batch delay and size, parent base fee and block time).

        ``history_blocks`` / ``state_blocks``: how many recent blocks keep their history and
        their state; older ones are pruned (``utils.devchain.pruning``); 0 keeps all.

        ``state_cache_mb``: the chain's store lives on disk (``utils.devchain.kvstore``) behind
        a cache of this size; 0 keeps it all in memory.

        ``data_dir``: keep the chain in this directory (``utils.devchain.datadir``) and continue
        it at the next start, with the funder key kept there; ``stylus=False`` then leaves a
        chain that ran Stylus as it is. None: the chain ends with the child."""
        if stylus and importlib.util.find_spec("utils.devchain.stylus.host") is None:
            raise DevChainError(
                "stylus=True needs the Stylus WASM host module utils.devchain.stylus.host, "
                "which is not available"
            )
        owns_log = log_path is None
        if log_path is None:
            fd, name = tempfile.mkstemp(prefix="kcdev-", suffix=".log")
            os.close(fd)
            log_path = Path(name)
        key = managed_funder_key(data_dir)
        address = Signer(key).address
        argv = child_argv(host, port, block_time, chain_id, gas_limit, funder_balance_wei)
        fee = [] if l1_base_fee_wei is None else ["--l1-base-fee-wei", str(l1_base_fee_wei)]
        argv += [*fee, *(batches or BatchPolicy()).argv()]
        argv += ["--history-blocks", str(history_blocks), "--state-blocks", str(state_blocks),
                 "--state-cache-mb", str(state_cache_mb)]
        argv += stylus_flags(stylus, data_dir)
        argv += ["--data-dir", str(data_dir)] if data_dir is not None else []
        process = spawn(argv, log_path)
        try:
            send_handshake(process, key)
            info = await_ready(process, startup_timeout)
            if info.get("funder_address") != address:
                raise DevChainError(f"dev chain reported funder {info.get('funder_address')}")
        except DevChainError as exc:
            kill(process)
            tail = stderr_tail(log_path)
            if owns_log:
                log_path.unlink(missing_ok=True)
            raise DevChainError(f"{exc}; last stderr lines:\n{tail}") from exc
        except BaseException:  # e.g. KeyboardInterrupt while waiting: leave no child behind
            kill(process)
            raise
        chain = cls(process, info, funder_key=key, log_path=log_path, owns_log=owns_log)
        atexit.register(chain.stop)
        return chain

    def is_alive(self) -> bool:
        return self._process.poll() is None

    def raise_if_dead(self) -> None:
        """Raise :class:`DevChainError` (with stderr) if the child died without ``stop()``."""
        code = self._process.poll()
        if code is not None and not self._stopped:
            raise DevChainError(
                f"dev chain pid {self.pid} exited with code {code}; "
                f"last stderr lines:\n{stderr_tail(self.log_path)}"
            )

    def pause(self) -> None:
        """SIGSTOP the chain: it stops answering (connections hang) until :meth:`resume`."""
        os.kill(self.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.pid, signal.SIGCONT)

    def stop(self, timeout: float = 10) -> None:
        """SIGTERM (then SIGKILL after ``timeout``) and reap the child. Idempotent."""
        atexit.unregister(self.stop)
        if self._stopped:
            return
        self._stopped = True
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGCONT)  # a paused child must see its SIGTERM
            try:
                self._process.wait(timeout)
            except subprocess.TimeoutExpired:
                kill(self._process)
        if self._process.stdin is not None:
            with contextlib.suppress(OSError):
                self._process.stdin.close()
        if self._process.returncode == 0:
            if self._owns_log:
                self.log_path.unlink(missing_ok=True)
        else:
            logger.warning(
                "dev chain pid %s ended with code %s; its log: %s",
                self.pid,
                self._process.returncode,
                self.log_path,
            )

    def __enter__(self) -> DevChain:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
