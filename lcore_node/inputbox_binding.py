"""A database in inputbox mode knows its InputBox and application (as
:mod:`lcore_node.binding` records its chain and processor): a second run on it (after a
kill -9, say) adds inputs to the same application of the same InputBox, and ``verify``
finds them. Kept in ``node_meta`` beside the chain binding; the first one stays.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from lcore_node import schema
from utils.chain.inputbox_deploy import InputBoxDeployment, ensure_inputbox
from utils.chain.session import ChainSession
from utils.errors import ConfigError

__all__ = ["bound_inputbox", "read_inputbox", "write_inputbox"]

_KEYS = ("inputbox_address", "inputbox_app", "inputbox_block")


def read_inputbox(db: Path) -> tuple[str, str, int] | None:
    """(InputBox, application, deployment block) recorded in ``db``, or None."""
    if not db.exists():
        return None
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10.0)
    try:
        rows = dict(conn.execute("SELECT key, value FROM node_meta WHERE key IN (?, ?, ?)",
                                 _KEYS).fetchall())
    except sqlite3.OperationalError:  # no node_meta yet
        return None
    finally:
        conn.close()
    if len(rows) < len(_KEYS):
        return None
    text = {k: v.decode() if isinstance(v, bytes) else str(v) for k, v in rows.items()}
    return text["inputbox_address"], text["inputbox_app"], int(text["inputbox_block"])


def _write_sync(db: Path, deployment: InputBoxDeployment) -> None:
    db.parent.mkdir(parents=True, exist_ok=True)
    conn = schema.connect(db)
    try:
        schema.create_schema(conn)
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany("INSERT OR IGNORE INTO node_meta (key, value) VALUES (?, ?)", list(zip(
            _KEYS, (deployment.address, deployment.app, str(deployment.deployment_block)),
            strict=True)))
        conn.execute("COMMIT")
    finally:
        conn.close()


async def write_inputbox(db: Path, deployment: InputBoxDeployment) -> None:
    await asyncio.to_thread(_write_sync, db, deployment)


async def bound_inputbox(
    session: ChainSession, db: Path, address: str | None, app: str | None
) -> InputBoxDeployment:
    """The InputBox and application ``db`` records (a configured other one is refused),
    else the configured ones or a fresh deployment; recorded in ``db``."""
    recorded = read_inputbox(db)
    if recorded is not None:
        for name, given, kept in (("CARTESI_INPUT_BOX_ADDRESS", address, recorded[0]),
                                  ("CARTESI_APP_ADDRESS", app, recorded[1])):
            if given and given.lower() != kept.lower():
                raise ConfigError(name, f"{given} is configured, but {db} adds its inputs to "
                                  f"{kept}; a database's inputs stay with one application")
        found = await ensure_inputbox(session, recorded[0], recorded[1])
        deployment = InputBoxDeployment(found.address, found.app, recorded[2], False)
    else:
        deployment = await ensure_inputbox(session, address, app)
    await write_inputbox(db, deployment)
    return deployment
