"""The outbox state machine against an in-memory chain that goes down, comes back, loses receipts.

The outbox, storage and node are the real ones; only the chain is a stand-in
(tests/test_lcore_support.FlakyChain).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from lcore_node.node import LcoreNode
from lcore_node.types import CommitOutcome, OnChainResult
from tests.test_lcore_support import (
    ChainDown,
    DeviceKey,
    FlakyChain,
    count,
    execute,
    make_config,
    query,
    reading,
    wait_until,
)
from utils.observe.events import CommitStatusEvent, IotEvent
from utils.observe.stats import StatsHub

FAST = {"retry_base": 0.02, "retry_max": 0.1, "outbox_poll_interval": 0.02, "drain_timeout": 5.0,
        "commit_probe_interval": 0.05}


async def _submit(node: LcoreNode, key: DeviceKey, n: int) -> list[int]:
    await node.register_device(key.device_id, key.public_hex)
    now, ids = int(time.time()), []
    for i in range(n):
        data = reading(i)
        ids.append(
            (await node.submit_data(key.device_id, data, now, key.sign(now, data))).record_id
        )
    return ids


def _statuses(db: Path) -> Counter[str]:
    return Counter(status for (status,) in query(db, "SELECT commit_status FROM data_submissions"))


def _hub() -> tuple[StatsHub, list[object]]:
    hub, events = StatsHub(), list[object]()
    hub.tap(events.append)
    return hub, events


def _assert_each_committed_once(db: Path, chain: FlakyChain, total: int) -> None:
    assert _statuses(db) == Counter({"committed": total})
    rows = query(db, "SELECT task_id, data, proof_hash, transaction_hash FROM data_submissions")
    assert Counter(chain.included) == Counter(bytes(task) for task, *_ in rows)  # exactly once
    for task, envelope, proof, tx_hash in rows:
        on_chain = chain.results[bytes(task)]
        assert (on_chain.envelope, on_chain.proof_hash) == (envelope, proof)
        assert tx_hash and tx_hash.startswith("0x")


async def test_commit_happy_path(tmp_path: Path) -> None:
    chain, (hub, events) = FlakyChain(), _hub()
    db = tmp_path / "lcore.db"
    async with LcoreNode(make_config(tmp_path, **FAST), hub=hub, committer=chain) as node:
        ids = await _submit(node, DeviceKey("dev-1"), 5)
        await wait_until(lambda: count(db, where="commit_status = 'committed'") == 5)
        _assert_each_committed_once(db, chain, 5)
        reports = [await node.verify_record(i, on_chain=True) for i in ids]
        assert all(r.ok and r.on_chain is True for r in reports)
        first_task = chain.included[0]
        chain.results[first_task] = OnChainResult(b"forged", b"\x00" * 32, 1, "0xother")
        forged = await node.verify_record(ids[0], on_chain=True)
        assert forged.on_chain is False and not forged.ok
    blocks = [b for (b,) in query(db, "SELECT block_number FROM data_submissions")]
    assert all(b > 100 for b in blocks)
    status = [(e.record_id, e.status) for e in events if isinstance(e, CommitStatusEvent)]
    for record_id in ids:
        assert [s for r, s in status if r == record_id] == ["pending", "submitted", "committed"]
    commits = [e for e in events if isinstance(e, IotEvent) and e.stage == "commit"]
    assert len(commits) == 5 and all(e.success and e.tx_hash for e in commits)


class SlowRefusal(FlakyChain):
    """While down, a commit takes a moment to be refused: concurrent sends would overlap."""

    async def commit(
        self, task_id: bytes, envelope: bytes, proof_hash: bytes, on_sent: Callable[[str], None]
    ) -> CommitOutcome:
        if self.up:
            return await super().commit(task_id, envelope, proof_hash, on_sent)
        self.commit_calls += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(0.01)
        finally:
            self.in_flight -= 1
        raise ChainDown("connection refused")


async def test_chain_down_then_up_commits_each_record_once(tmp_path: Path) -> None:
    """A record's own backoff is an hour here: while the chain is down only the breaker's
    probes reach it, one at a time, and once it is up the first probe that commits releases
    the whole backlog (nothing else could commit it before the hour is over)."""
    chain, (hub, events) = SlowRefusal(up=False), _hub()
    db = tmp_path / "lcore.db"
    config = make_config(tmp_path, **{**FAST, "retry_base": 3600.0, "retry_max": 7200.0})
    async with LcoreNode(config, hub=hub, committer=chain) as node:
        await _submit(node, DeviceKey("dev-1"), 8)
        await wait_until(lambda: count(db, where="attempts >= 1") == 8)  # each tried once
        assert count(db, where="next_attempt_at > 0") == 8  # and backed off for long
        burst = chain.commit_calls
        chain.max_in_flight = 0
        await wait_until(lambda: chain.commit_calls >= burst + 10)  # probes go on meanwhile
        assert chain.max_in_flight == 1  # one probe at a time, never the whole backlog
        assert _statuses(db) == Counter({"pending": 8})  # never reported as committed
        assert chain.included == []
        (error,) = {e for (e,) in query(db, "SELECT last_error FROM data_submissions"
                                         " WHERE last_error IS NOT NULL")}
        assert "connection refused" in error
        chain.up = True
        await wait_until(lambda: count(db, where="commit_status = 'committed'") == 8)
    _assert_each_committed_once(db, chain, 8)
    assert not [e for e in events if isinstance(e, CommitStatusEvent) and e.status == "failed"]


async def test_lost_receipt_is_settled_by_get_result(tmp_path: Path) -> None:
    """Included on chain but the receipt was lost: get_result finds it, nothing is re-sent."""
    chain = FlakyChain(lose_receipts=3)
    db = tmp_path / "lcore.db"
    async with LcoreNode(make_config(tmp_path, **FAST), committer=chain) as node:
        await _submit(node, DeviceKey("dev-1"), 3)
        await wait_until(lambda: count(db, where="commit_status = 'committed'") == 3)
    _assert_each_committed_once(db, chain, 3)
    assert chain.lose_receipts == 0 and chain.commit_calls == 3


async def test_revert_because_already_on_chain_means_committed(tmp_path: Path) -> None:
    """Receipt lost and the chain unreadable for a moment: the record goes back to pending,
    its re-send reverts (task id taken by the same envelope), which counts as committed."""
    chain = FlakyChain(lose_receipts=1, failed_reads=1)
    db = tmp_path / "lcore.db"
    async with LcoreNode(make_config(tmp_path, **FAST), committer=chain) as node:
        await _submit(node, DeviceKey("dev-1"), 1)
        await wait_until(lambda: count(db, where="commit_status = 'committed'") == 1)
    _assert_each_committed_once(db, chain, 1)
    assert chain.commit_calls == 2
    ((attempts, error),) = query(db, "SELECT attempts, last_error FROM data_submissions")
    assert attempts == 2 and error is None


async def test_not_retryable_failure_and_foreign_result(tmp_path: Path) -> None:
    chain = FlakyChain(reject="rejected: insufficient funds")
    db = tmp_path / "lcore.db"
    async with LcoreNode(make_config(tmp_path, **FAST), committer=chain) as node:
        await _submit(node, DeviceKey("dev-1"), 2)
        await wait_until(lambda: count(db, where="commit_status = 'failed'") == 2)
    assert {e for (e,) in query(db, "SELECT last_error FROM data_submissions")} == {
        "rejected: insufficient funds"
    }
    assert chain.included == []


async def test_restart_finishes_pending_and_submitted(tmp_path: Path) -> None:
    db, key = tmp_path / "lcore.db", DeviceKey("dev-1")
    async with LcoreNode(make_config(tmp_path, **FAST)) as node:  # no chain: all stay pending
        ids = await _submit(node, key, 6)
    assert _statuses(db) == Counter({"pending": 6})
    # a crash left two records 'submitted': one made it on chain, one did not
    chain = FlakyChain()
    landed, lost = ids[0], ids[1]
    ((task, envelope, proof),) = query(
        db, "SELECT task_id, data, proof_hash FROM data_submissions WHERE id = ?", (landed,)
    )
    chain.results[bytes(task)] = OnChainResult(envelope, proof, 1, "0xnode")
    chain.included.append(bytes(task))
    for record_id in (landed, lost):
        execute(
            db,
            "UPDATE data_submissions SET commit_status = 'submitted', transaction_hash = ?"
            " WHERE id = ?",
            (f"0x{record_id:064x}", record_id),
        )
    async with LcoreNode(make_config(tmp_path, **FAST), committer=chain) as node:
        await wait_until(lambda: count(db, where="commit_status = 'committed'") == 6)
        left = await node.close()
    assert left == 0
    _assert_each_committed_once(db, chain, 6)
    assert chain.commit_calls == 5  # the landed record was only checked, never re-sent


async def test_bounded_concurrency_and_drain(tmp_path: Path) -> None:
    chain = FlakyChain()
    db = tmp_path / "lcore.db"
    config = make_config(tmp_path, commit_concurrency=3, **FAST)
    async with LcoreNode(config, committer=chain) as node:
        await _submit(node, DeviceKey("dev-1"), 20)
        left = await node.close()  # drain: returns once all are committed
    assert left == 0 and chain.max_in_flight <= 3
    _assert_each_committed_once(db, chain, 20)


async def test_drain_deadline_leaves_records_pending(tmp_path: Path) -> None:
    chain = FlakyChain(up=False)
    db = tmp_path / "lcore.db"
    async with LcoreNode(make_config(tmp_path, **FAST), committer=chain) as node:
        await _submit(node, DeviceKey("dev-1"), 4)
        left = await node.close(drain_timeout=0.3)
        calls = chain.commit_calls
        assert left == 4 and calls >= 1  # tried, refused, still outstanding
        await asyncio.sleep(0.2)
        assert chain.commit_calls == calls  # stopped at the deadline: no commit after it
    assert _statuses(db) == Counter({"pending": 4})


async def test_task_id_taken_by_another_result_fails(tmp_path: Path) -> None:
    chain = FlakyChain(up=False)
    db = tmp_path / "lcore.db"
    async with LcoreNode(make_config(tmp_path, **FAST), committer=chain) as node:
        await _submit(node, DeviceKey("dev-1"), 1)
        ((task,),) = query(db, "SELECT task_id FROM data_submissions")
        chain.results[bytes(task)] = OnChainResult(b"someone else", b"\x00" * 32, 1, "0xother")
        chain.up = True
        await wait_until(lambda: count(db, where="commit_status = 'failed'") == 1)
    ((error,),) = query(db, "SELECT last_error FROM data_submissions")
    assert "different result" in error
