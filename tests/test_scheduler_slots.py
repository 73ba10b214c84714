"""The scheduler's in-flight bound counts steps not sent yet; a step waiting for its receipt
holds only a place under ``max_steps``. The engine releases the slot when the node answered."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest

from contracts.transfers import TransferWorkload
from utils.chain.fees import FeePolicy
from utils.chain.rpc import Rpc, hex_int
from utils.chain.send_slot import release_send_slot
from utils.chain.tx_engine import TxEngine, TxRequest
from utils.chain.wallets import WalletPool
from utils.clock import Clock
from utils.devchain.anvil import AnvilChain
from utils.load.scheduler import Scheduler
from utils.load.workload import Workload
from utils.observe.events import Event, FiringEvent
from utils.observe.stats import StatsHub


class Waiter(Workload):
    """Each step optionally "sends" (releases its slot), then waits until ``done``."""

    name = "payment_app"

    def __init__(self, sends: bool) -> None:
        self.sends = sends
        self.done = asyncio.Event()
        self.started = 0

    async def step(self, intended_at: float) -> None:
        self.started += 1
        if self.sends:
            await asyncio.sleep(0)  # in a child task too: the slot is the step's
            await asyncio.create_task(_release())
        await self.done.wait()


async def _release() -> None:
    release_send_slot()
    release_send_slot()  # idempotent


async def _run(sends: bool) -> tuple[Waiter, Scheduler, int]:
    hub, events = StatsHub(), list[Event]()
    hub.tap(events.append)
    scheduler = Scheduler(hub, Clock(), max_in_flight=5, max_steps=40)
    workload, stop = Waiter(sends), asyncio.Event()
    loop = asyncio.get_running_loop()
    started = loop.time()
    task = asyncio.create_task(scheduler.run(workload, 1000.0, stop))
    await asyncio.sleep(0.3)  # ~300 firings offered
    running = scheduler.running_steps
    stop.set()
    offered = 1000.0 * (loop.time() - started)
    await task
    workload.done.set()
    assert await scheduler.wait_steps(5.0) == 0
    fired = sum(e.fired for e in events if isinstance(e, FiringEvent))
    missed = sum(e.missed for e in events if isinstance(e, FiringEvent))
    assert fired == workload.started and missed == scheduler.missed_in_flight > 200
    # every offered firing is either fired or missed, also those passed while the loop waited
    # for a free slot (counted in one go when it woke)
    assert abs(fired + missed - offered) <= 0.03 * offered + 3, (fired, missed, offered)
    return workload, scheduler, running


async def test_unsent_steps_are_bounded_by_max_in_flight() -> None:
    workload, _, running = await _run(sends=False)
    assert workload.started == running == 5


async def test_sent_steps_are_bounded_by_max_steps_only() -> None:
    workload, _, running = await _run(sends=True)
    assert workload.started == running == 40


@pytest.mark.parametrize("path", ["task", "fire"])
async def test_the_engine_releases_the_slot_when_the_node_answered(
    anvil_installed: Path, path: str
) -> None:
    """Steps through the engine on an anvil that takes transactions but mines none: each
    step's slot is released once the node answered its send, so the scheduler runs up to
    max_steps steps with max_in_flight 3, every one of them sent and none finished. Both
    ways a step runs: ``step()`` in a task, and ``fire()`` (a transfer, no task)."""
    with AnvilChain.start(block_time=0) as chain:
        async with Rpc(chain.url) as rpc:
            fees = await FeePolicy.detect(rpc)
            pool = WalletPool.derive(chain.funder_key, 12, {"user": 1})
            funder, (user,) = pool.funder, pool.role("user")
            hub = StatsHub()
            async with TxEngine(rpc, hub, Clock(), fees, chain.chain_id, tx_timeout=30) as eng:
                await rpc.call("evm_setAutomine", False)

                class Pay(Workload):
                    name = "payment_app"

                    async def step(self, intended_at: float) -> None:
                        await eng.submit(TxRequest("payment_app", "payment", funder,
                                                   user.address, 1, intended_at=intended_at))

                workload: Workload = Pay() if path == "task" else TransferWorkload(
                    "payment_app", "payment", eng, [funder], [user], (1, 1), random.Random(1))
                scheduler = Scheduler(hub, Clock(), max_in_flight=3, max_steps=12)
                stop = asyncio.Event()
                task = asyncio.create_task(scheduler.run(workload, 200.0, stop))
                await asyncio.sleep(0.5)
                stop.set()
                await task
                assert scheduler.running_steps == eng.in_flight == 12
                status = await rpc.call("txpool_status")
                assert hex_int(status["pending"]) == 12  # all sent, none mined
                await rpc.call("evm_mine")
                assert await scheduler.wait_steps(20.0) == 0
            assert hex_int(await rpc.call("eth_getTransactionCount", funder.address,
                                          "latest")) == 12
