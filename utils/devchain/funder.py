"""Where the dev chain's funder key comes from (light: the managing parent uses it too).

* ``python -m utils.devchain``: env PRIVATE_KEY; with ``--data-dir`` the key the directory
  keeps (:mod:`utils.devchain.datadir`); else a new key written to ``--funder-key-file``.
* A managed chain (:class:`utils.devchain.DevChain`): the key its data dir keeps, else a new
  one, handed to the child on its stdin.

The key itself is never printed or logged; only where it is.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from utils.devchain.datadir import ChainDir, write_key_file
from utils.errors import DevChainError

DEFAULT_KEY_FILE = "devchain-funder.key"


def env_funder_key() -> bytes | None:
    """The key of env PRIVATE_KEY (hex), None when unset."""
    text = os.environ.get("PRIVATE_KEY", "").strip()
    if not text:
        return None
    try:
        key = bytes.fromhex(text.removeprefix("0x"))
    except ValueError:
        raise DevChainError("PRIVATE_KEY is not hex") from None
    if len(key) != 32:
        raise DevChainError(f"PRIVATE_KEY must be 32 bytes, got {len(key)}")
    return key


def standalone_funder_key(key_file: Path | None, chain_dir: ChainDir | None) -> tuple[
        bytes, str]:
    """The funder key (PRIVATE_KEY, the data dir's, else generated into ``key_file``) and
    where it is."""
    if chain_dir is not None:
        if key_file is not None:
            raise DevChainError(f"--funder-key-file: with --data-dir the key is kept in "
                                f"{chain_dir.key_file}")
        return chain_dir.funder_key(env_funder_key())
    key = env_funder_key()
    if key is not None:
        return key, "env PRIVATE_KEY"
    key_file = key_file or Path(DEFAULT_KEY_FILE)
    key = secrets.token_bytes(32)
    write_key_file(key_file, key)
    return key, f"generated, written to {key_file} (mode 0600)"


def managed_funder_key(data_dir: Path | None) -> bytes:
    """The funder key of a managed chain: the one ``data_dir`` keeps (PRIVATE_KEY for a chain
    ``python -m utils.devchain`` made with it), else a new one."""
    if data_dir is None:
        return secrets.token_bytes(32)
    chain_dir = ChainDir(data_dir)
    from_env = not chain_dir.key_file.exists() and chain_dir.record() is not None
    key, _origin = chain_dir.funder_key(env_funder_key() if from_env else None)
    return key
