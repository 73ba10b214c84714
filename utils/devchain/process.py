"""Spawning the dev chain's child process: argv, environment, the key handshake on stdin,
the readiness line, and the tail of stderr shown when it dies (used by :class:`DevChain`)."""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from utils.errors import DevChainError

PROJECT_ROOT = Path(__file__).resolve().parents[2]
STDERR_TAIL_LINES = 20


def stderr_tail(path: Path, lines: int = STDERR_TAIL_LINES) -> str:
    try:
        text = path.read_bytes()[-16384:].decode(errors="replace")
    except OSError:
        return "(no stderr log)"
    return "\n".join(text.splitlines()[-lines:])


def child_argv(
    host: str, port: int, block_time: float, chain_id: int, gas_limit: int, balance: int
) -> list[str]:
    options = {
        "--host": host,
        "--port": port,
        "--block-time": block_time,
        "--chain-id": chain_id,
        "--gas-limit": gas_limit,
        "--funder-balance-wei": balance,
    }
    argv = [sys.executable, "-m", "utils.devchain", "--managed"]
    for flag, value in options.items():
        argv += [flag, str(value)]
    return argv


def spawn(argv: list[str], log_path: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env.pop("PRIVATE_KEY", None)  # the managed child takes its key from stdin only
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PROJECT_ROOT), env.get("PYTHONPATH")) if p)
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            env=env,
            start_new_session=True,
            close_fds=True,
        )


def send_handshake(
    process: subprocess.Popen[bytes], key: bytes, options: list[str] | None = None
) -> None:
    """The funder key, this pid and (for a child spawned before they were known) its
    command-line ``options``, as one JSON line on the child's stdin."""
    assert process.stdin is not None
    body: dict[str, Any] = {"funder_key": key.hex(), "parent_pid": os.getpid()}
    if options is not None:
        body["argv"] = options
    message = json.dumps(body)
    try:
        process.stdin.write(message.encode() + b"\n")
        process.stdin.flush()
    except OSError as exc:
        raise DevChainError(f"dev chain exited before the handshake: {exc}") from exc


def await_ready(process: subprocess.Popen[bytes], timeout: float) -> dict[str, Any]:
    """Read the child's readiness line, failing fast if it exits first."""
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    buffer = b""
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while b"\n" not in buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise DevChainError(f"dev chain not ready after {timeout} s")
            if selector.select(min(remaining, 0.2)):
                chunk = os.read(process.stdout.fileno(), 4096)
                if not chunk:
                    raise DevChainError(f"dev chain exited during start-up (code {process.wait()})")
                buffer += chunk
            elif process.poll() is not None:
                raise DevChainError(f"dev chain exited during start-up (code {process.returncode})")
    process.stdout.close()
    try:
        info: dict[str, Any] = json.loads(buffer.split(b"\n", 1)[0])
    except ValueError as exc:
        raise DevChainError(f"bad readiness line from dev chain: {buffer[:200]!r}") from exc
    return info


def kill(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        process.kill()
    process.wait()
