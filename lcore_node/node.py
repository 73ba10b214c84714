"""The lcore node facade: register devices, accept sensor data, read and verify records.

``submit_data`` validates, seals the data (AES-256-GCM then ChaCha20-Poly1305,
bound to device and record id), stores the envelope in SQLite and returns only
once that row is committed; the outbox then commits it on chain. Each stage
is timed and emitted once to the stats hub, failures included.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from lcore_node import __version__
from lcore_node.batch_mode import BatchCommitter, BatchMode
from lcore_node.commit_mode import CommitMode
from lcore_node.config import NodeConfig
from lcore_node.encryption import DualCipher
from lcore_node.errors import LcoreError
from lcore_node.inputbox_chain import InputBoxReader
from lcore_node.inputbox_mode import InputBoxCommitter, InputBoxMode
from lcore_node.intake import Intake
from lcore_node.jws_devices import JwsDevices, check_auth, last_tokens
from lcore_node.keys import KeyStore
from lcore_node.measure import OperationTimer
from lcore_node.outbox import Outbox, OutboxSettings
from lcore_node.record_mode import RecordMode
from lcore_node.records import RecordReader
from lcore_node.storage import Storage
from lcore_node.types import (
    Accepted,
    Registered,
    ResultCommitter,
    ResultReader,
    StoredRecord,
    VerifyReport,
)
from lcore_node.validation import Device, SubmissionChecker, stored_device
from utils.observe.events import ReorgEvent
from utils.observe.stats import StatsHub


class LcoreNode:
    """One in-process node. ``async with LcoreNode(config, hub=hub, committer=c) as node``."""

    def __init__(
        self,
        config: NodeConfig,
        *,
        hub: StatsHub | None = None,
        committer: ResultCommitter | None = None,
        reader: ResultReader | None = None,
        clock: Callable[[], float] = time.time,
        batch_committer: BatchCommitter | None = None,
        inputbox: InputBoxCommitter | None = None,
        input_reader: InputBoxReader | None = None,
    ) -> None:
        self.config = config
        self._hub = hub
        self._committer = committer
        self._batch_committer = batch_committer  # set: records are committed in Merkle batches
        self._inputbox = inputbox  # set: records go to Cartesi's InputBox
        if input_reader is None and isinstance(inputbox, InputBoxReader):
            input_reader = inputbox
        self._input_reader = input_reader  # what verify reads InputBox inputs from
        self._reader = reader or committer  # what verify compares with
        self._clock = clock
        self.storage = Storage(
            config.db_path, batch_max=config.writer_batch_max, linger=config.writer_linger
        )
        self._cipher: DualCipher | None = None
        self._devices: dict[str, Device] = {}
        self._checker = SubmissionChecker(
            self._devices,
            max_data_bytes=config.max_data_bytes,
            max_clock_skew=config.max_clock_skew,
            require_signatures=config.require_signatures,
            jws=JwsDevices() if config.device_auth == "jws" else None,
        )
        self._records: RecordReader | None = None
        self.outbox: Outbox[Any] | None = None
        self._intake = Intake(self.storage, self._devices, self._checker, lambda: self.cipher,
                              clock)
        self._intake.input_limit = inputbox is not None

    async def __aenter__(self) -> LcoreNode:
        try:
            await self.start()
        except BaseException:
            await self.close(drain_timeout=0)
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def start(self, *, outbox: bool = True) -> None:
        """Open the keys and database, load the devices; start the outbox unless ``outbox``
        is False (then :meth:`start_outbox`: a run starts it once its committers are
        funded, or records left by an earlier process would go out from empty wallets)."""
        keys = await asyncio.to_thread(KeyStore.open, self.config.key_dir, self.config.key_env)
        self._cipher = DualCipher(keys)
        await self.storage.open(self.config.node_id)
        self._records = RecordReader(self.storage, self._cipher, self._reader,
                                     self._input_reader)
        jws = self._checker.jws
        tokens = await self.storage.read(last_tokens) if jws is not None else {}
        rows = await self.storage.devices()
        check_auth([(r.device_id, r.public_key) for r in rows], self.config.device_auth,
                   self.config.db_path)
        for row in rows:
            if jws is not None:
                jws.restore(row.device_id, row.public_key, tokens.get(row.device_id))
                self._devices[row.device_id] = Device(row.device_id, row.public_key, None,
                                                      row.device_type or "")
                continue
            self._devices[row.device_id] = stored_device(
                row.device_id, row.public_key, row.device_type
            )
        mode = self._commit_mode()
        if mode is not None and self.config.outbox_enabled:
            self.outbox = Outbox(self.storage, mode, _outbox_settings(self.config),
                                 hub=self._hub, device_type_of=self._device_type_of,
                                 clock=self._clock)
            if outbox:
                await self.outbox.start()

    async def start_outbox(self) -> None:
        """Start the outbox of a node started with ``outbox=False`` (idempotent)."""
        if self.outbox is not None and not self.outbox.started:
            await self.outbox.start()

    def _commit_mode(self) -> CommitMode[Any] | None:
        """InputBox inputs with an InputBox committer, Merkle batches with a batch committer,
        else a transaction per record (if any)."""
        if self._inputbox is not None:
            return InputBoxMode(self._inputbox, self.storage, self.config.inputbox_batch,
                                self.config.batch_wait, self._clock)
        if self._batch_committer is not None:
            return BatchMode(self._batch_committer, self.config.batch_size,
                             self.config.batch_wait)
        return None if self._committer is None else RecordMode(self._committer)

    def on_reorg(self, event: ReorgEvent) -> None:
        """A block follower's reorg listener: records committed from its fork block on are
        checked on chain again (:meth:`Outbox.on_reorg`)."""
        if self.outbox is not None:
            self.outbox.on_reorg(event.fork_block)

    async def close(self, drain_timeout: float | None = None) -> int:
        """Drain the outbox (up to the timeout), close the database; returns records left."""
        left = 0
        if self.outbox is not None:
            timeout = self.config.drain_timeout if drain_timeout is None else drain_timeout
            left = await self.outbox.drain(timeout)
            self.outbox = None
        await self.storage.close()
        return left

    @property
    def cipher(self) -> DualCipher:
        if self._cipher is None:
            raise LcoreError("node is not started")
        return self._cipher

    @property
    def node_id(self) -> bytes:
        return self.storage.node_id

    @property
    def jws_devices(self) -> JwsDevices | None:
        """The devices' P-256 keys and token counters (``--device-auth jws``), else None."""
        return self._checker.jws

    def device_known(self, device_id: str) -> bool:
        """Is ``device_id`` registered (what the Cartesi application checks a record's
        device against)?"""
        return device_id in self._devices

    def _device_type_of(self, device_id: str) -> str:
        device = self._devices.get(device_id)
        return device.device_type if device else ""

    async def register_device(
        self, device_id: str, public_key_hex: str, device_type: str | None = None
    ) -> Registered:
        """Register (idempotently) a device's Ed25519 key; another key -> ConflictError."""
        timer = OperationTimer(self._hub, "register", _name(device_id), clock=self._clock)
        try:
            result = await self._intake.register(timer, device_id, public_key_hex, device_type)
        except Exception as exc:
            timer.finish(exc)
            raise
        timer.finish()
        return result

    async def submit_data(
        self, device_id: str, data: str, timestamp: int, signature: str | None = None
    ) -> Accepted:
        """Validate, encrypt and durably store one reading; queue it for the chain."""
        timer = OperationTimer(self._hub, "submit", _name(device_id), clock=self._clock)
        try:
            accepted = await self._accept(timer, device_id, data, timestamp, signature)
        except Exception as exc:
            timer.finish(exc)
            raise
        timer.finish()
        return accepted

    async def _accept(
        self, timer: OperationTimer, device_id: str, data: str, timestamp: int,
        signature: str | None,
    ) -> Accepted:
        row = await self._intake.submit(timer, device_id, data, timestamp, signature)
        if self.outbox is not None:
            timer.record_id = row.record_id  # its commit event follows (iot_metrics.csv joins)
            self.outbox.notify(row.record_id)
        return Accepted(
            record_id=row.record_id,
            device_id=device_id,
            task_id="0x" + row.task_id.hex(),
            proof_hash="0x" + row.proof_hash.hex(),
            key_id=row.key_id,
            data_size=row.data_size,
        )

    @property
    def records(self) -> RecordReader:
        if self._records is None:
            raise LcoreError("node is not started")
        return self._records

    async def get_record(self, record_id: int) -> StoredRecord:
        """The decrypted record; DecryptionError if its envelope is not authentic."""
        return await self.records.get(record_id)

    async def verify_record(self, record_id: int, *, on_chain: bool = False) -> VerifyReport:
        """Decrypts? sha256(envelope) == proof_hash? and, if asked, same bytes on chain?"""
        return await self.records.verify(record_id, on_chain=on_chain)

    def verify_all(self, *, on_chain: bool = False) -> AsyncIterator[VerifyReport]:
        """Verify every record, in id order."""
        return self.records.verify_all(on_chain=on_chain)

    async def rotate_keys(self) -> int:
        """Make a new key pair current; returns its key id. Old records stay readable."""
        return await asyncio.to_thread(self.cipher.rotate)

    async def status(self) -> dict[str, Any]:
        counts = await self.storage.counts()
        return {
            "status": "ok",
            "version": __version__,
            "node_id": self.node_id.hex(),
            "key_id": self.cipher.current_key_id,
            "require_signatures": self.config.require_signatures,
            "outbox": "running" if self.outbox is not None else "disabled",
            **counts,
        }


def _name(device_id: object) -> str:
    return device_id if isinstance(device_id, str) else ""


def _outbox_settings(config: NodeConfig) -> OutboxSettings:
    return OutboxSettings(
        concurrency=config.commit_concurrency,
        retry_base=config.retry_base,
        retry_max=config.retry_max,
        max_attempts=config.max_commit_attempts,
        poll_interval=config.outbox_poll_interval,
        probe_interval=config.commit_probe_interval,
    )
