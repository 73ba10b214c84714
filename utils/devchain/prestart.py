"""The embedded chain's process spawned first thing, before the run's settings are read.

The chain child needs about 0.5-1 s to import py-evm and the Stylus host; the
parent about as long to import its own modules and read its settings. Spawned by
:meth:`PrestartedChain.spawn` (this module imports nothing heavy: no eth-account, no web3),
the child imports while the parent does, and waits for its options on stdin;
:meth:`PrestartedChain.start` sends them with the funder key, as :meth:`DevChain.start` puts
them on the command line (the same flags, from the same settings as
:func:`utils.devchain.launch.launch_embedded`), and returns the running :class:`DevChain`. A
run that turns out not to want it (``--rpc-url``, ``--chain anvil``, a bad configuration)
calls :meth:`cancel`. As with :meth:`DevChain.start`, spawn from the main thread (the child's
PR_SET_PDEATHSIG is tied to the spawning thread).
"""

from __future__ import annotations

import atexit
import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from utils.devchain.process import await_ready, kill, send_handshake, spawn, stderr_tail
from utils.errors import DevChainError

if TYPE_CHECKING:
    import subprocess

    from utils.devchain.chain import DevChain
    from utils.settings import Settings

STARTUP_TIMEOUT = 60.0


class PrestartedChain:
    """A chain child waiting for its options; :meth:`start` or :meth:`cancel` it once."""

    def __init__(self, process: subprocess.Popen[bytes], log_path: Path) -> None:
        self.process = process
        self.log_path = log_path
        self._taken = False

    @classmethod
    def spawn(cls) -> PrestartedChain:
        fd, name = tempfile.mkstemp(prefix="kcdev-", suffix=".log")
        os.close(fd)
        argv = [sys.executable, "-m", "utils.devchain", "--managed", "--prestarted"]
        return cls(spawn(argv, Path(name)), Path(name))

    def start(self, settings: Settings) -> DevChain:
        """Hand the child its options and the funder key; the chain once it serves."""
        from utils.chain.signer import Signer
        from utils.devchain.chain import DevChain  # after the spawn: it imports py-evm parts
        from utils.devchain.funder import managed_funder_key

        self._taken = True
        key = managed_funder_key(settings.devchain_data_dir)
        try:
            send_handshake(self.process, key, options(settings))
            info = await_ready(self.process, STARTUP_TIMEOUT)
            if info.get("funder_address") != Signer(key).address:
                raise DevChainError(f"dev chain reported funder {info.get('funder_address')}")
        except DevChainError as exc:
            kill(self.process)
            tail = stderr_tail(self.log_path)
            self.log_path.unlink(missing_ok=True)
            raise DevChainError(f"{exc}; last stderr lines:\n{tail}") from exc
        except BaseException:
            kill(self.process)
            self.log_path.unlink(missing_ok=True)
            raise
        chain = DevChain(self.process, info, funder_key=key, log_path=self.log_path,
                         owns_log=True)
        atexit.register(chain.stop)
        return chain

    def cancel(self) -> None:
        """Not wanted after all (or ended before its start): stop the child. Idempotent; a
        no-op once :meth:`start` took it."""
        if self._taken:
            return
        self._taken = True
        kill(self.process)
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.log_path.unlink(missing_ok=True)


def l1_base_fee_wei(settings: Settings) -> int | None:
    """The L1 price the chain starts at; None for a kept chain when it was not given (the
    chain keeps the price its pricer moved it to)."""
    given = "l1_base_fee_gwei" in settings.model_fields_set
    if settings.devchain_data_dir is not None and not given:
        return None
    return round(settings.l1_base_fee_gwei * 10**9)


def l1_flag(settings: Settings) -> list[str]:
    wei = l1_base_fee_wei(settings)
    return [] if wei is None else ["--l1-base-fee-wei", str(wei)]


def options(settings: Settings) -> list[str]:
    """The command-line options :meth:`DevChain.start` gives the child for what
    :func:`utils.devchain.launch.launch_embedded` asks of it."""
    from utils.devchain.chain import (
        DEFAULT_CHAIN_ID,
        DEFAULT_FUNDER_BALANCE_WEI,
        DEFAULT_GAS_LIMIT,
        stylus_flags,
    )
    from utils.devchain.nitro.options import run_batch_policy

    flags = ["--host", "127.0.0.1", "--port", "0", "--block-time", str(settings.block_time),
             "--chain-id", str(DEFAULT_CHAIN_ID), "--gas-limit", str(DEFAULT_GAS_LIMIT),
             "--funder-balance-wei", str(DEFAULT_FUNDER_BALANCE_WEI),
             *l1_flag(settings),
             "--history-blocks", str(settings.chain_history_blocks),
             "--state-blocks", str(settings.chain_state_blocks),
             "--state-cache-mb", str(settings.chain_state_cache_mb),
             *run_batch_policy(settings).argv()]
    data_dir = settings.devchain_data_dir
    flags += ["--data-dir", str(data_dir)] if data_dir is not None else []
    return [*flags, *stylus_flags("stylus" in (settings.contract, settings.dapp), data_dir)]
