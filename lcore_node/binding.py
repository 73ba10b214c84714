"""A database knows its chain: the chain id and processor contract its records commit to.

The first run (or ``serve``) that commits from a database records the binding in its
``node_meta`` table. Every later one reads it before anything else happens: it uses the
recorded contract, or stops with a :class:`~utils.errors.ConfigError` (exit 2) when another
contract is configured or the chain id differs, so the records of one database are never
split across two contracts. ``main.py verify --db DB --rpc-url URL`` reads it too.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from lcore_node import schema
from utils.chain.processor import Processor, ensure_processor
from utils.chain.session import ChainSession
from utils.errors import ChainError, ConfigError
from utils.settings import Settings

log = logging.getLogger(__name__)

_KEYS = ("chain_id", "processor_address", "processor_flavour", "processor_abi")
#: the ways on when a database's chain is not the one at hand
WHAT_TO_DO = ("to go on with its records, give --rpc-url of the chain they are on, or "
              "--devchain-data-dir of the directory an embedded chain kept it in (serve's "
              "default: devchain/ beside the database); to start afresh, give another --db "
              "(LCORE_DB_PATH)")


@dataclass(frozen=True, slots=True)
class ChainBinding:
    chain_id: int
    processor_address: str
    processor_flavour: str  # "stylus", "evm" or "configured"
    processor_abi: str = ""  # an ABI file given for a legacy deployment; "" = the artifact's

    def check(self, db: Path, chain_id: int, configured: str | None) -> None:
        """Refuse a chain or a configured contract other than the recorded ones."""
        if chain_id != self.chain_id:
            raise ConfigError(
                "LCORE_DB_PATH", f"{db} holds records of chain {self.chain_id}, but the chain "
                f"of this run is {chain_id}; {WHAT_TO_DO}"
            )
        if configured and configured.lower() != self.processor_address.lower():
            raise ConfigError(
                "MVP_IOT_PROCESSOR_ADDRESS", f"{configured} is configured, but {db} commits to "
                f"{self.processor_address}; a database's records stay on one contract"
            )


def read_binding(db: Path) -> ChainBinding | None:
    """The recorded binding, or None (no database yet, or nothing committed from it)."""
    if not db.exists():
        return None
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10.0)
        try:
            rows = dict(conn.execute(
                "SELECT key, value FROM node_meta WHERE key IN (?, ?, ?, ?)", _KEYS
            ).fetchall())
        finally:
            conn.close()
    except sqlite3.Error as exc:
        if "no such table" in str(exc):
            return None
        raise ConfigError("LCORE_DB_PATH", f"cannot read {db}: {exc}") from None
    if "chain_id" not in rows or "processor_address" not in rows:
        return None
    return ChainBinding(int(_text(rows["chain_id"])), _text(rows["processor_address"]),
                        _text(rows.get("processor_flavour", b"configured")),
                        _text(rows.get("processor_abi", b"")))


async def write_binding(db: Path, binding: ChainBinding) -> None:
    """Record ``binding`` unless one is there (the first one stays)."""
    await asyncio.to_thread(_write_sync, db, binding)


def _write_sync(db: Path, binding: ChainBinding) -> None:
    db.parent.mkdir(parents=True, exist_ok=True)
    conn = schema.connect(db)
    try:
        schema.create_schema(conn)
        values = (str(binding.chain_id), binding.processor_address, binding.processor_flavour,
                  binding.processor_abi)
        conn.execute("BEGIN IMMEDIATE")
        present = conn.execute("SELECT 1 FROM node_meta WHERE key = 'chain_id'").fetchone()
        if present is None:
            conn.executemany("INSERT INTO node_meta (key, value) VALUES (?, ?)",
                             list(zip(_KEYS, values, strict=True)))
        conn.execute("COMMIT")
    finally:
        conn.close()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


async def bound_processor(session: ChainSession, settings: Settings, db: Path) -> Processor:
    """The processor the records of ``db`` commit to: the recorded one (checked against the
    chain and the configuration), else the configured one or a fresh deployment."""
    binding = read_binding(db)
    if binding is None:
        return await ensure_processor(session, settings)
    binding.check(db, session.info.chain_id, settings.contract_address)
    abi = Path(binding.processor_abi) if binding.processor_abi else settings.contract_abi
    recorded = settings.model_copy(
        update={"contract_address": binding.processor_address, "contract_abi": abi}
    )
    try:
        processor = await ensure_processor(session, recorded)
    except ChainError as exc:
        raise ConfigError("LCORE_DB_PATH", f"{db} commits to {binding.processor_address} on "
                          f"chain {binding.chain_id}, but the chain at {session.info.url} has "
                          f"no contract there (a new chain with the same id: {exc}); "
                          f"{WHAT_TO_DO}") from None
    log.info("database %s commits to %s (recorded)", db, processor.address)
    return Processor(processor.address, processor.abi, binding.processor_flavour)


async def bind(db: Path, chain_id: int, processor: Processor, settings: Settings) -> None:
    """Record the binding of a database that has none yet."""
    abi = str(settings.contract_abi) if settings.contract_abi else ""
    await write_binding(db, ChainBinding(chain_id, processor.address, processor.flavour, abi))
