"""Each run writes into its own directory; ``<out>/latest`` points at the newest."""

from __future__ import annotations

import datetime as dt
import os
import secrets
import tempfile
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


def check_out_dir(out: Path, setting: str = "--out") -> None:
    """ConfigError (naming ``setting``, the option or variable ``out`` was given as) unless
    ``out`` is, or can be made, a directory this process can write in. Tried for real: a
    folder is made in the nearest existing one and removed (``os.access`` says yes to root on
    a read-only mount, /sys or an immutable folder); nothing is left behind."""
    probe = out
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise ConfigError(setting, f"{probe} is not a directory (for {out})")
    try:
        Path(tempfile.mkdtemp(prefix=".kcstress-probe-", dir=probe)).rmdir()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigError(setting, f"cannot write in {probe} (for {out}): {reason}") from None
    latest = out / "latest"
    if latest.exists() and not latest.is_symlink():
        raise ConfigError(setting, f"{latest} exists and is not a link (each run points "
                          "it at itself): move it away or choose another folder")
