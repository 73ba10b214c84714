"""The input reader is reorg-safe (issue 24.3), on a real anvil with the real InputBox.

Inputs are added, the reader hands them to the application; ``anvil_reorg`` replaces the
blocks holding the last of them (anvil does not put their transactions back), other inputs
take their indexes (and the engine sends the removed transactions again: they land after);
the reader sees the changed block hashes in its confirmation window,
the application forgets the replaced inputs and processes what the chain holds now: its
records are exactly those of the inputs on chain, each input once.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from pathlib import Path

import pytest
from eth_account import Account

from lcore_node.config import NodeConfig
from lcore_node.inputbox_app import InputApp
from lcore_node.inputbox_chain import EngineInputBoxCommitter
from lcore_node.inputbox_payload import decode_payload
from lcore_node.inputbox_reader import InputReader
from lcore_node.inputbox_store import form_input
from lcore_node.node import LcoreNode
from stylus_contracts import CARTESI_DIR, load_artifact
from utils.chain.connect import deploy
from utils.chain.fees import FeePolicy
from utils.chain.rpc import Rpc, hex_int
from utils.chain.tx_engine import TxEngine
from utils.chain.wallets import Wallet
from utils.clock import Clock
from utils.devchain.anvil import AnvilChain
from utils.iot.devices import DeviceFleet
from utils.observe.stats import StatsHub

pytestmark = pytest.mark.asyncio(loop_scope="module")
APP = "0x" + "c4" * 20


async def add_inputs(node: LcoreNode, committer: EngineInputBoxCommitter, fleet: DeviceFleet,
                     n: int) -> list[int]:
    """n one-record inputs of fresh records; the blocks that hold them."""
    now, blocks = time.time(), []
    for i in range(n):
        sub = fleet.pick().make_submission(now - 60 + i + len(blocks) * 0.01)
        await node.submit_data(sub.device_id, sub.data, sub.timestamp, sub.signature)
        unit, _ = await form_input(node.storage, 1, 0.0, time.time())
        assert unit is not None
        sent = await committer.add_input(unit.payload.payload, lambda _h: None)
        assert sent.ok and sent.block_number is not None
        blocks.append(sent.block_number)
    return blocks


def app_rows(db: Path) -> list[tuple[int, int]]:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return conn.execute("SELECT input_index, record_id FROM app_records"
                            " ORDER BY input_index").fetchall()


async def test_reader_rolls_back_replaced_inputs(
    anvil: AnvilChain, anvil_rpc: Rpc, tmp_path: Path
) -> None:
    rpc = anvil_rpc
    fees = await FeePolicy.detect(rpc)
    inputbox, _ = await deploy(rpc, anvil.funder_key, anvil.chain_id, fees,
                               load_artifact("InputBox", CARTESI_DIR).bytecode)
    funder = Wallet("funder", 0, Account.from_key(anvil.funder_key))
    fleet = DeviceFleet(3, 11)
    config = NodeConfig(db_path=tmp_path / "lcore.db", key_dir=tmp_path / "keys",
                        outbox_enabled=False)
    async with TxEngine(rpc, StatsHub(), Clock(), fees, anvil.chain_id) as engine, \
            LcoreNode(config) as node:
        committer = EngineInputBoxCommitter(engine, rpc, inputbox, APP, [funder])
        await committer.load_deployment_block()
        await committer.calibrate()
        for device in fleet:
            await node.register_device(device.device_id, device.public_key_hex,
                                       device.device_type)
        app = InputApp(tmp_path / "app.db", node.cipher, node.device_known)
        app.open()
        reader = InputReader(committer, app, window=32, poll=0.1)
        blocks = await add_inputs(node, committer, fleet, 5)
        assert await reader.catch_up(5, 30)
        before = app_rows(tmp_path / "app.db")
        assert [r[0] for r in before] == [0, 1, 2, 3, 4]

        head = hex_int(await rpc.call("eth_blockNumber"))
        depth = head - blocks[3] + 1  # the blocks of inputs 3 and 4 (and after)
        await rpc.call("anvil_reorg", depth, [])
        assert await committer.number_of_inputs() == 3
        await add_inputs(node, committer, fleet, 3)  # new inputs from index 3 on
        # the engine sends the 2 removed transactions again (same bytes): they land too
        for _ in range(100):
            if await committer.number_of_inputs() == 8:
                break
            await asyncio.sleep(0.1)
        assert await committer.number_of_inputs() == 8
        assert await reader.catch_up(8, 30)
        assert reader.reorgs >= 1
        on_chain = []
        for item in await committer.logs(committer.deployment_block,
                                         hex_int(await rpc.call("eth_blockNumber"))):
            (record,) = decode_payload(item.advance.payload)
            on_chain.append((item.index, record.record_id))
        after = app_rows(tmp_path / "app.db")
        assert after == on_chain and [r[0] for r in after] == list(range(8))
        assert after[:3] == before[:3]
        assert sorted(r[1] for r in after) == sorted({r[1] for r in after})  # each once
        app.close()
