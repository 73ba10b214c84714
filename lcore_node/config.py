"""Explicit configuration of one lcore node (no globals; env read only on request)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from utils.errors import ConfigError

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _env_bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(name, f"must be true or false, got {raw!r}")


@dataclass(frozen=True, slots=True)
class NodeConfig:
    """Everything an :class:`lcore_node.node.LcoreNode` needs besides hub and committer.

    ``key_env`` holds the env mapping the key store reads ``LCORE_STAGE1_KEY`` /
    ``LCORE_STAGE2_KEY`` / ``LCORE_KEY_ID`` from (empty: keys come from ``key_dir``).
    """

    db_path: Path
    key_dir: Path | None = None
    key_env: Mapping[str, str] = field(default_factory=dict)
    max_data_bytes: int = 64 * 1024
    max_clock_skew: float = 300.0
    require_signatures: bool = True
    node_id: bytes | None = None  # None: random, persisted in the database
    writer_batch_max: int = 512
    writer_linger: float = 0.0  # seconds the writer waits to grow a small batch
    outbox_enabled: bool = True
    commit_concurrency: int = 64
    retry_base: float = 1.0
    retry_max: float = 60.0
    max_commit_attempts: int = 0  # 0: retry retryable failures forever
    outbox_poll_interval: float = 0.5
    commit_probe_interval: float = 0.5  # while the chain refuses: one probe this often
    drain_timeout: float = 10.0
    batch_size: int = 1024  # with a batch committer: records per commitBatch at most
    batch_wait: float = 1.0  # seconds the oldest record waits for its batch to fill
    inputbox_batch: int = 1  # with an InputBox committer: records per addInput at most
    device_auth: str = "ed25519"  # or "jws": devices sign ES256 compact JWS tokens (P-256)

    @classmethod
    def from_env(
        cls,
        db_path: Path,
        key_dir: Path | None,
        env: Mapping[str, str] | None = None,
        **overrides: object,
    ) -> NodeConfig:
        """Config from ``env`` (default ``os.environ``): keys and LCORE_REQUIRE_SIGNATURES."""
        env = dict(os.environ if env is None else env)
        values: dict[str, object] = {
            "key_env": {k: v for k, v in env.items() if k.startswith("LCORE_")},
            "require_signatures": _env_bool(env, "LCORE_REQUIRE_SIGNATURES", True),
        }
        values.update(overrides)
        return cls(db_path=db_path, key_dir=key_dir, **values)  # type: ignore[arg-type]
