"""Legacy mode: the original system's device clients, unchanged.

The original lcore node (Rust, axum) took ``{device_id, public_key}`` to register
and ``{device_id, data, timestamp}`` without a signature to submit, and answered a
submission only once it had sent the record's commit transaction:
``{"success": true, "message": "Data submitted; tx 0x…"}``, or, when sending failed,
still 200 with ``"Data stored locally; KC-Chain dispatch failed: …"``. Its client
(``utils/lcore_client.py``) counts an on-chain commitment when the answer holds
``tx 0x``.

Here the record is stored and committed by the outbox exactly as in the default
mode; :class:`SentNotifier` wraps the committer so a legacy answer can wait (at
most ``wait`` seconds) for the moment the outbox has sent that record's
``submitResult``. Off by default (``serve --legacy-api`` or ``LCORE_LEGACY_API``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Callable, Sequence

from lcore_node.types import CommitOutcome, OnChainResult, ResultCommitter

log = logging.getLogger(__name__)

DEFAULT_WAIT = 10.0
_SENT_MEMORY = 4096  # task ids whose tx hash is kept for a waiter that comes late


class DispatchFailed(Exception):
    """The commit transaction of a record was not sent (reason in the message)."""


class SentNotifier:
    """A :class:`ResultCommitter` that tells waiters when a task's transaction is sent."""

    def __init__(self, inner: ResultCommitter) -> None:
        self._inner = inner
        self._waiters: dict[bytes, list[asyncio.Future[str]]] = {}
        self._sent: OrderedDict[bytes, str] = OrderedDict()

    async def commit(
        self,
        task_id: bytes,
        envelope: bytes,
        proof_hash: bytes,
        on_sent: Callable[[str], None],
    ) -> CommitOutcome:
        sent = False

        def sent_now(tx_hash: str) -> None:
            nonlocal sent
            sent = True
            on_sent(tx_hash)
            self._resolve(task_id, tx_hash)

        try:
            outcome = await self._inner.commit(task_id, envelope, proof_hash, sent_now)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if not sent:
                self._fail(task_id, f"{type(exc).__name__}: {exc}")
            raise
        if not sent:
            if outcome.tx_hash and outcome.ok:
                self._resolve(task_id, outcome.tx_hash)
            else:
                self._fail(task_id, outcome.error or "the transaction was not sent")
        return outcome

    async def get_result(self, task_id: bytes) -> OnChainResult | None:
        return await self._inner.get_result(task_id)

    async def find_commit(
        self, task_id: bytes, candidates: Sequence[str] = ()
    ) -> tuple[str, int] | None:
        finder = getattr(self._inner, "find_commit", None)
        return None if finder is None else await finder(task_id, candidates)

    async def wait_sent(self, task_id: bytes, timeout: float) -> str:
        """The tx hash of the task's commit once sent; DispatchFailed if not in time."""
        if task_id in self._sent:
            return self._sent[task_id]
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(task_id, []).append(future)
        try:
            async with asyncio.timeout(timeout):
                return await future
        except TimeoutError:
            raise DispatchFailed(f"no commit transaction sent within {timeout:g} s") from None
        finally:
            self._forget(task_id, future)

    def _resolve(self, task_id: bytes, tx_hash: str) -> None:
        self._sent[task_id] = tx_hash
        self._sent.move_to_end(task_id)
        while len(self._sent) > _SENT_MEMORY:
            self._sent.popitem(last=False)
        for future in self._waiters.pop(task_id, []):
            if not future.done():
                future.set_result(tx_hash)

    def _fail(self, task_id: bytes, reason: str) -> None:
        for future in self._waiters.pop(task_id, []):
            if not future.done():
                future.set_exception(DispatchFailed(reason))

    def _forget(self, task_id: bytes, future: asyncio.Future[str]) -> None:
        waiters = self._waiters.get(task_id)
        if waiters is not None:
            with contextlib.suppress(ValueError):
                waiters.remove(future)
            if not waiters:
                del self._waiters[task_id]


def submitted_message(tx_hash: str) -> str:
    return f"Data submitted; tx {tx_hash}"


def dispatch_failed_message(reason: str) -> str:
    # never contains "tx 0x": the original client would count a commitment
    return f"Data stored locally; KC-Chain dispatch failed: {reason.replace('tx 0x', 'tx ')}"


async def dispatch_answer(notifier: SentNotifier | None, task_id: str, wait: float) -> str:
    """The legacy message for one stored record: its commit tx, or why it was not sent."""
    if notifier is None:
        return dispatch_failed_message("the node runs without a chain (--no-chain)")
    try:
        return submitted_message(await notifier.wait_sent(bytes.fromhex(task_id[2:]), wait))
    except DispatchFailed as exc:
        return dispatch_failed_message(str(exc))


def warn_legacy_on(wait: float) -> None:
    log.warning(
        "legacy API on: unsigned submissions are accepted and /device/data waits up to %g s"
        " for the commit transaction (original lcore-node answers); do not expose this node",
        wait,
    )
