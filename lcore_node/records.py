"""Reading and verifying stored records (the ``verify`` command's helpers)."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator

from lcore_node.batch_verify import batch_position, batch_reader_for, check_in_batch
from lcore_node.encryption import DualCipher
from lcore_node.errors import DecryptionError, NotFoundError
from lcore_node.inputbox_chain import InputBoxReader
from lcore_node.inputbox_store import input_position
from lcore_node.inputbox_verify import check_in_input
from lcore_node.storage import Storage, SubmissionRow
from lcore_node.types import ResultReader, StoredRecord, VerifyReport


class RecordReader:
    """Decrypts records and checks them against their proof hash and the chain."""

    def __init__(
        self, storage: Storage, cipher: DualCipher, committer: ResultReader | None = None,
        inputs: InputBoxReader | None = None,
    ) -> None:
        self._storage = storage
        self._cipher = cipher
        self._committer = committer
        self._inputs = inputs  # records committed as InputBox inputs are checked there

    async def row(self, record_id: int) -> SubmissionRow:
        row = await self._storage.submission(record_id)
        if row is None:
            raise NotFoundError(f"record {record_id} does not exist")
        return row

    async def get(self, record_id: int) -> StoredRecord:
        """The decrypted record; :class:`DecryptionError` if its envelope is not authentic."""
        row = await self.row(record_id)
        plaintext = self._cipher.open(row.envelope, row.device_id, row.record_id)
        return StoredRecord(
            record_id=row.record_id,
            device_id=row.device_id,
            data=plaintext.decode("utf-8"),
            submission_date=row.submission_date,
            task_id="0x" + row.task_id.hex(),
            proof_hash="0x" + row.proof_hash.hex(),
            key_id=row.key_id,
            commit_status=row.commit_status,
            transaction_hash=row.transaction_hash,
            block_number=row.block_number,
            attempts=row.attempts,
            last_error=row.last_error,
        )

    async def verify(self, record_id: int, *, on_chain: bool = False) -> VerifyReport:
        """Decrypts? sha256(envelope) == proof_hash? and, for committed records when asked
        and a committer is known, does the chain hold the same envelope and proof?"""
        row = await self.row(record_id)
        error = ""
        try:
            self._cipher.open(row.envelope, row.device_id, row.record_id)
            decrypts = True
        except DecryptionError as exc:
            decrypts, error = False, exc.message
        proof_ok = hashlib.sha256(row.envelope).digest() == row.proof_hash
        chain_ok: bool | None = None
        missing = False
        in_input = await input_position(self._storage, record_id) \
            if on_chain and self._inputs is not None else None
        batched = await batch_position(self._storage, record_id) if on_chain else None
        batches = batch_reader_for(self._committer) if batched is not None else None
        if in_input is not None and self._inputs is not None \
                and row.commit_status == "committed":
            chain_ok, missing, chain_error = await check_in_input(self._inputs, in_input, row)
            error = error or chain_error
        elif batched is not None and batches is not None and row.commit_status == "committed":
            chain_ok, missing, chain_error = await check_in_batch(
                batches, batched, row.task_id, row.envelope)
            error = error or chain_error
        elif on_chain and self._committer is not None and row.commit_status == "committed":
            result = await self._committer.get_result(row.task_id)
            missing = result is None
            chain_ok = (
                result is not None
                and result.envelope == row.envelope
                # a legacy deployment stores no proof hash: nothing to compare then
                and (not result.proof_hash or result.proof_hash == row.proof_hash)
            )
            if missing:
                error = error or "nothing on chain under the task id"
            elif not chain_ok:
                error = error or "chain holds another envelope or proof under the task id"
        return VerifyReport(
            row.record_id, decrypts, proof_ok, row.commit_status, chain_ok, error, missing
        )

    async def verify_all(self, *, on_chain: bool = False) -> AsyncIterator[VerifyReport]:
        """Verify every record, in id order."""
        after = 0
        while ids := await self._storage.record_ids(after):
            for record_id in ids:
                yield await self.verify(record_id, on_chain=on_chain)
            after = ids[-1]
