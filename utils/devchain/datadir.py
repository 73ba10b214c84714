"""A dev chain's data directory (``--data-dir DIR``): what the chain keeps across restarts.

::

    DIR/chain.json    what the chain is, written once its genesis is on disk: format, chain
                      id, gas limit, funder address and genesis balance, genesis hash, Stylus
    DIR/funder.key    the funder's private key, hex, mode 0600 (not written when PRIVATE_KEY
                      gave the key of a new chain: then PRIVATE_KEY gives it again)
    DIR/chain.sqlite  the chain's key-value store (utils.devchain.kvstore, durable: WAL, one
                      fsync'd transaction per sealed block; with its -wal and -shm files): state,
                      the blocks of the history window with their receipts and look-ups, the
                      head, the pruner's counts and window, the L1 prices by block
    DIR/lock          locked (flock) by the process serving the chain: one at a time

A start on a directory with a ``chain.json`` continues its chain from its head; a flag that
contradicts the record (another chain id, gas limit, genesis balance, funder, or
``--no-stylus`` for a chain that ran Stylus) is refused with the directory and the flag named.
A ``chain.sqlite`` without ``chain.json`` is a first start that did not finish: it is
started again. Light module (no py-evm): the managing parent reads the funder key here too.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from utils.errors import DevChainError

logger = logging.getLogger(__name__)

CHAIN_FILE = "chain.json"
KEY_FILE = "funder.key"
STORE_FILE = "chain.sqlite"
LOCK_FILE = "lock"
FORMAT = 1


@dataclass(frozen=True)
class ChainRecord:
    """What ``chain.json`` says the chain is."""

    chain_id: int
    gas_limit: int
    funder_address: str
    funder_balance_wei: int
    genesis_hash: str
    stylus: bool
    format: int = FORMAT


def write_key_file(path: Path, key: bytes) -> None:
    """Write ``key`` as hex to ``path``, readable by the owner only (0600), fsync'd."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, ("0x" + key.hex() + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def read_key_file(path: Path) -> bytes:
    try:
        key = bytes.fromhex(path.read_text().strip().removeprefix("0x"))
    except ValueError:
        raise DevChainError(f"{path} does not hold a hex key") from None
    if len(key) != 32:
        raise DevChainError(f"{path} must hold a 32-byte key, got {len(key)} bytes")
    return key


class ChainDir:
    """One data directory; :meth:`lock` it before opening its store."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.chain_file = path / CHAIN_FILE
        self.key_file = path / KEY_FILE
        self.store_file = path / STORE_FILE
        self._lock_fd: int | None = None

    def record(self) -> ChainRecord | None:
        """The chain this directory holds (None: no chain yet)."""
        try:
            data: dict[str, Any] = json.loads(self.chain_file.read_text())
            record = ChainRecord(**data)
        except FileNotFoundError:
            return None
        except (ValueError, TypeError) as exc:
            raise DevChainError(f"{self.chain_file} is not a chain record: {exc}") from None
        if record.format != FORMAT:
            raise DevChainError(f"{self.chain_file} has format {record.format}; this version "
                                f"reads format {FORMAT}")
        return record

    def write_record(self, record: ChainRecord) -> None:
        """Write ``chain.json`` atomically (temporary file, fsync, rename, fsync the dir)."""
        temporary = self.chain_file.with_suffix(".json.tmp")
        temporary.write_text(json.dumps(asdict(record), indent=2) + "\n")
        with open(temporary, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, self.chain_file)
        self._fsync_dir()

    def _fsync_dir(self) -> None:
        fd = os.open(self.path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def lock(self) -> None:
        """Hold the directory's lock for the life of this process (or :meth:`unlock`)."""
        self.path.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise DevChainError(f"{self.path} is in use by another dev chain (pid {holder}); "
                                "stop it, or give another --data-dir") from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._lock_fd = fd

    def unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def discard_unfinished(self) -> None:
        """A store without ``chain.json`` is from a first start that did not finish."""
        for suffix in ("", "-wal", "-shm"):
            path = Path(f"{self.store_file}{suffix}")
            if path.exists():
                logger.warning("%s: no %s, starting the chain anew", path, CHAIN_FILE)
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()

    def funder_key(self, env_key: bytes | None) -> tuple[bytes, str]:
        """The funder key of this directory's chain and where it is from: ``funder.key``; for a
        new chain ``env_key`` (PRIVATE_KEY, not written) or a new key written there."""
        if self.key_file.exists():
            key = read_key_file(self.key_file)
            if env_key is not None and env_key != key:
                raise DevChainError(f"PRIVATE_KEY is not the funder key of {self.path} (kept in "
                                    f"{self.key_file}); unset it, or give another --data-dir")
            return key, f"kept in {self.key_file}"
        if env_key is not None:
            return env_key, "env PRIVATE_KEY (not stored: give it again at every start)"
        if self.record() is not None:
            raise DevChainError(f"{self.path} holds a chain whose funder key came from "
                                "PRIVATE_KEY: set it again")
        self.path.mkdir(parents=True, exist_ok=True)
        key = secrets.token_bytes(32)
        write_key_file(self.key_file, key)
        return key, f"generated, kept in {self.key_file} (mode 0600)"


def check_record(
    directory: Path, record: ChainRecord, given: dict[str, int | bool | None], funder: str
) -> None:
    """Refuse what contradicts ``record``: ``given`` maps a flag to its value (None: not
    given; for ``--stylus`` the Stylus setting), ``funder`` is the key's address."""
    recorded: dict[str, int | bool] = {
        "--chain-id": record.chain_id,
        "--gas-limit": record.gas_limit,
        "--funder-balance-wei": record.funder_balance_wei,
    }
    for flag, value in given.items():
        if flag in recorded and value is not None and value != recorded[flag]:
            raise DevChainError(
                f"{directory} holds a chain with {flag} {recorded[flag]}; {flag} {value} "
                "contradicts it (leave the flag out, or give another --data-dir)")
    if given.get("--stylus") is False and record.stylus:
        raise DevChainError(f"{directory} holds a chain that ran Stylus programs; --no-stylus "
                            "would leave them unrunnable (leave it out, or give another "
                            "--data-dir)")
    if funder.lower() != record.funder_address.lower():
        raise DevChainError(f"{directory} holds a chain funded by {record.funder_address}; the "
                            f"key given is of {funder} (PRIVATE_KEY, or {KEY_FILE} replaced)")
