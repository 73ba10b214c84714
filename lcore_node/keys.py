"""Encryption keys of the lcore node: generated on first use, or given by env.

A key id names one *pair* of 32-byte keys (stage 1 AES-256-GCM, stage 2
ChaCha20-Poly1305). In a key directory each pair is one file
``key-NNNNN.bin`` (64 raw bytes, mode 0600) in a directory of mode 0700; a
file is written to a temporary name then hard-linked into place, so it
appears complete or not at all, and two processes never overwrite each other.
The highest id is current; :meth:`KeyStore.rotate` adds the next id.

``LCORE_STAGE1_KEY`` / ``LCORE_STAGE2_KEY`` (64 hex characters each) give the
current pair instead, under key id ``LCORE_KEY_ID`` (default 1); key files of
other ids in the key directory stay readable for older records.
"""

from __future__ import annotations

import logging
import os
import re
import stat
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from lcore_node.errors import KeyConfigError

log = logging.getLogger(__name__)

KEY_BYTES = 32
MAX_KEY_ID = 0xFFFF
ENV_STAGE1 = "LCORE_STAGE1_KEY"
ENV_STAGE2 = "LCORE_STAGE2_KEY"
ENV_KEY_ID = "LCORE_KEY_ID"
_FILE_RE = re.compile(r"^key-(\d{5})\.bin$")


@dataclass(frozen=True, slots=True)
class KeyPair:
    key_id: int
    stage1: bytes
    stage2: bytes

    def __repr__(self) -> str:  # never print key bytes
        return f"KeyPair(key_id={self.key_id})"


def _parse_hex_key(name: str, value: str) -> bytes:
    text = value.strip().removeprefix("0x")
    if len(text) != 2 * KEY_BYTES:
        raise KeyConfigError(f"{name} must be {2 * KEY_BYTES} hex characters, got {len(text)}")
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise KeyConfigError(f"{name} is not valid hex") from None


def _key_path(key_dir: Path, key_id: int) -> Path:
    return key_dir / f"key-{key_id:05d}.bin"


def _ensure_dir(key_dir: Path) -> None:
    if not key_dir.exists():
        key_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(key_dir, 0o700)  # mkdir's mode is filtered by the umask
    elif not key_dir.is_dir():
        raise KeyConfigError(f"key dir {key_dir} is not a directory")


def _read_pair(path: Path, key_id: int) -> KeyPair:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise KeyConfigError(f"key file {path} has mode {mode:o}; must not be group/other readable")
    raw = path.read_bytes()
    if len(raw) != 2 * KEY_BYTES:
        raise KeyConfigError(f"key file {path} holds {len(raw)} bytes, expected {2 * KEY_BYTES}")
    return KeyPair(key_id, raw[:KEY_BYTES], raw[KEY_BYTES:])


def _create_pair(key_dir: Path, key_id: int) -> bool:
    """Write a fresh random pair as key id ``key_id``; False if that id already exists."""
    fd, tmp = tempfile.mkstemp(dir=key_dir, prefix=".tmp-key-")  # mode 0600
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(os.urandom(2 * KEY_BYTES))
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, _key_path(key_dir, key_id))
        except FileExistsError:
            return False
    finally:
        os.unlink(tmp)
    dir_fd = os.open(key_dir, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    log.info("created encryption key id %s in %s", key_id, key_dir)
    return True


class KeyStore:
    """All key pairs the node can decrypt with, and the current one it encrypts with."""

    def __init__(
        self,
        pairs: Mapping[int, KeyPair],
        current_id: int,
        key_dir: Path | None,
        *,
        from_env: bool = False,
    ) -> None:
        self._pairs = dict(pairs)
        self._current_id = current_id
        self._key_dir = key_dir
        self._from_env = from_env

    @classmethod
    def open(cls, key_dir: Path | None, env: Mapping[str, str] | None = None) -> KeyStore:
        """Load keys from ``env`` and/or ``key_dir``; create the first pair if there is none."""
        env = {} if env is None else env
        pairs: dict[int, KeyPair] = {}
        if key_dir is not None:
            _ensure_dir(key_dir)
            pairs.update(cls._load_dir(key_dir))
        env_pair = cls._env_pair(env)
        if env_pair is not None:
            known = pairs.get(env_pair.key_id)
            if known is not None and known != env_pair:
                raise KeyConfigError(
                    f"env keys use key id {env_pair.key_id}, which a different key file holds"
                )
            pairs[env_pair.key_id] = env_pair
            return cls(pairs, env_pair.key_id, key_dir, from_env=True)
        if key_dir is None:
            raise KeyConfigError(f"no key dir given and {ENV_STAGE1}/{ENV_STAGE2} not set")
        if not pairs:
            _create_pair(key_dir, 1)
            pairs.update(cls._load_dir(key_dir))
        return cls(pairs, max(pairs), key_dir)

    @staticmethod
    def _env_pair(env: Mapping[str, str]) -> KeyPair | None:
        hex1, hex2 = env.get(ENV_STAGE1), env.get(ENV_STAGE2)
        if not hex1 and not hex2:
            return None
        if not hex1 or not hex2:
            raise KeyConfigError(f"set both {ENV_STAGE1} and {ENV_STAGE2}, or neither")
        raw_id = env.get(ENV_KEY_ID, "1")
        if not raw_id.isdigit() or not 1 <= int(raw_id) <= MAX_KEY_ID:
            raise KeyConfigError(f"{ENV_KEY_ID} must be an integer in 1..{MAX_KEY_ID}")
        return KeyPair(
            int(raw_id), _parse_hex_key(ENV_STAGE1, hex1), _parse_hex_key(ENV_STAGE2, hex2)
        )

    @staticmethod
    def _load_dir(key_dir: Path) -> dict[int, KeyPair]:
        pairs = {}
        for path in key_dir.iterdir():
            match = _FILE_RE.match(path.name)
            if match:
                key_id = int(match.group(1))
                pairs[key_id] = _read_pair(path, key_id)
        return pairs

    @property
    def current(self) -> KeyPair:
        return self._pairs[self._current_id]

    @property
    def key_ids(self) -> list[int]:
        return sorted(self._pairs)

    def get(self, key_id: int) -> KeyPair | None:
        return self._pairs.get(key_id)

    def rotate(self) -> KeyPair:
        """Create the next key pair in the key dir and make it current."""
        if self._from_env or self._key_dir is None:
            raise KeyConfigError("keys come from env; rotate by setting new env keys and key id")
        self._pairs.update(self._load_dir(self._key_dir))  # another process may have rotated
        key_id = max(self._pairs) + 1
        while key_id <= MAX_KEY_ID and not _create_pair(self._key_dir, key_id):
            key_id += 1
        if key_id > MAX_KEY_ID:
            raise KeyConfigError(f"key id space exhausted ({MAX_KEY_ID})")
        self._pairs.update(self._load_dir(self._key_dir))
        self._current_id = key_id
        return self._pairs[key_id]
