"""Each run writes into its own directory; ``<out>/latest`` points at the newest."""

from __future__ import annotations

import datetime as dt
import os
import secrets
from pathlib import Path

from utils.errors import ConfigError


def new_run_id(now: dt.datetime | None = None) -> str:
    """UTC time plus a short random suffix: sortable and unique."""
    now = now or dt.datetime.now(dt.UTC)
    return f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def make_run_dir(out: Path, run_id: str) -> Path:
    """Create ``out/run_id`` and point ``out/latest`` at it (atomically replaced)."""
    out.mkdir(parents=True, exist_ok=True)
    run_dir = out / run_id
    run_dir.mkdir()
    tmp = out / f".latest-{run_id}"
    tmp.symlink_to(run_id)
    os.replace(tmp, out / "latest")
    return run_dir


def check_out_dir(out: Path) -> None:
    """ConfigError unless ``out`` is (or can be made) a writable directory; creates nothing."""
    probe = out
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise ConfigError("--out / LOG_DIR", f"{probe} is not a directory (for {out})")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ConfigError("--out / LOG_DIR", f"{probe} is not writable (for {out})")
