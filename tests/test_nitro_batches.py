"""The embedded chain's batch poster, parent-chain clock and NodeInterface batch reads (issue
21.4, chain side), checked over JSON-RPC with the published ABIs, and the poster's rules on a
clock the test drives.

Nitro's answers (``execution/nodeinterface/node_interface.go``, ``arbnode/node.go``):
``findBatchContainingBlock`` reverts for a block no posted batch holds; ``getL1Confirmations``
is the parent chain's head minus the batch's parent block (0 while unposted) and reverts for
an unknown hash; ``blockL1Num`` is the L1 block in the header, the receipt's
``l1BlockNumber``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from eth_abi import decode, encode
from eth_account import Account
from eth_utils import keccak

from utils.chain.rpc import Rpc
from utils.devchain import DevChain
from utils.devchain.nitro.batch_poster import BatchPoster
from utils.devchain.nitro.l1pricing import L1Pricing
from utils.devchain.nitro.options import BatchPolicy
from utils.devchain.nitro.parent_chain import ParentClock
from utils.errors import RpcError

ABI_DIR = Path(__file__).resolve().parents[1] / "utils" / "devchain" / "nitro" / "abi"
NODE_INTERFACE = "0x00000000000000000000000000000000000000c8"
ARB_SYS = "0x0000000000000000000000000000000000000064"
ARB_GAS_INFO = "0x000000000000000000000000000000000000006c"
PARENT_BLOCK_TIME = 0.5
MAX_DELAY = 1.0


def abi_call(contract: str, name: str, *args: Any) -> tuple[str, list[str]]:
    """Calldata and output types of ``name`` from the stored ABI (the published one)."""
    entries = json.loads((ABI_DIR / f"{contract}.json").read_text())["abi"]
    entry = next(e for e in entries if e.get("name") == name)
    types = [i["type"] for i in entry["inputs"]]
    selector = keccak(text=f"{name}({','.join(types)})")[:4]
    outputs = [o["type"] for o in entry["outputs"]]
    return "0x" + (selector + encode(types, list(args))).hex(), outputs


async def eth_call(rpc: Rpc, to: str, contract: str, name: str, *args: Any) -> tuple[Any, ...]:
    data, outputs = abi_call(contract, name, *args)
    out = await rpc.call("eth_call", {"to": to, "data": data}, "latest")
    return tuple(decode(outputs, bytes.fromhex(out[2:])))


@pytest.fixture(scope="module")
def devchain() -> Iterator[DevChain]:
    policy = BatchPolicy(max_delay=MAX_DELAY, parent_block_time=PARENT_BLOCK_TIME)
    with DevChain.start(block_time=0.25, l1_base_fee_wei=10**9, batches=policy) as chain:
        yield chain


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def rpc(devchain: DevChain) -> AsyncIterator[Rpc]:
    async with Rpc(devchain.url) as client:
        yield client


async def send_transfers(rpc: Rpc, chain: DevChain, count: int) -> list[dict[str, Any]]:
    """``count`` transfers from the funder; their receipts."""
    account = Account.from_key(chain.funder_key)
    nonce = int(await rpc.call("eth_getTransactionCount", account.address, "pending"), 16)
    hashes = []
    for i in range(count):
        tx = account.sign_transaction({
            "to": "0x" + "22" * 20, "value": 1, "gas": 500_000, "maxFeePerGas": 10**10,
            "maxPriorityFeePerGas": 0, "nonce": nonce + i, "chainId": chain.chain_id,
            "type": 2, "data": bytes(range(200)),
        })
        hashes.append(await rpc.call("eth_sendRawTransaction", "0x" + tx.raw_transaction.hex()))
    receipts = []
    for tx_hash in hashes:
        for _ in range(200):
            receipt = await rpc.call("eth_getTransactionReceipt", tx_hash)
            if receipt is not None:
                receipts.append(receipt)
                break
            await asyncio.sleep(0.05)
    assert len(receipts) == count
    return receipts


@pytest.mark.asyncio(loop_scope="module")
async def test_batch_stages_over_node_interface(devchain: DevChain, rpc: Rpc) -> None:
    receipts = await send_transfers(rpc, devchain, 3)
    block = int(receipts[-1]["blockNumber"], 16)
    block_hash = receipts[-1]["blockHash"]
    # soft: in a block, no batch yet (the delay is 1 s, the parent block 0.5 s)
    with pytest.raises(RpcError, match="execution reverted"):
        await eth_call(rpc, NODE_INTERFACE, "NodeInterface", "findBatchContainingBlock", block)
    assert await eth_call(rpc, NODE_INTERFACE, "NodeInterface", "getL1Confirmations",
                          bytes.fromhex(block_hash[2:])) == (0,)
    batch = None
    for _ in range(100):  # posted within the delay plus a parent block
        try:
            (batch,) = await eth_call(rpc, NODE_INTERFACE, "NodeInterface",
                                      "findBatchContainingBlock", block)
            break
        except RpcError:
            await asyncio.sleep(0.1)
    assert batch is not None and batch >= 1  # batch 0 holds the genesis block
    assert await eth_call(rpc, NODE_INTERFACE, "NodeInterface", "findBatchContainingBlock",
                          0) == (0,)
    confirmations = []
    for _ in range(40):
        (count,) = await eth_call(rpc, NODE_INTERFACE, "NodeInterface", "getL1Confirmations",
                                  bytes.fromhex(block_hash[2:]))
        confirmations.append(count)
        if count >= 3:
            break
        await asyncio.sleep(0.1)
    assert confirmations == sorted(confirmations) and confirmations[-1] >= 3
    # every receipt's l1BlockNumber is its block's, as blockL1Num answers
    for receipt in receipts:
        number = int(receipt["blockNumber"], 16)
        (l1_block,) = await eth_call(rpc, NODE_INTERFACE, "NodeInterface", "blockL1Num", number)
        assert int(receipt["l1BlockNumber"], 16) == l1_block >= 20_000_000
        block_object = await rpc.call("eth_getBlockByNumber", hex(number), False)
        assert int(block_object["l1BlockNumber"], 16) == l1_block  # as Nitro's RPC adds it


@pytest.mark.asyncio(loop_scope="module")
async def test_unknown_blocks_revert(devchain: DevChain, rpc: Rpc) -> None:
    head = int(await rpc.call("eth_blockNumber"), 16)
    for name, arg in (("findBatchContainingBlock", head + 1000), ("blockL1Num", head + 1000),
                      ("getL1Confirmations", b"\x07" * 32)):  # fmt: skip
        with pytest.raises(RpcError, match="execution reverted"):
            await eth_call(rpc, NODE_INTERFACE, "NodeInterface", name, arg)
    assert await eth_call(rpc, ARB_SYS, "ArbSys", "arbChainID") == (devchain.chain_id,)
    (number,) = await eth_call(rpc, ARB_SYS, "ArbSys", "arbBlockNumber")
    assert number >= head


class FakeTime:
    """The test's clock for the poster and the parent chain (seconds, moved by hand)."""

    def __init__(self) -> None:
        self.t = 1_000.0

    def __call__(self) -> float:
        return self.t


class FakeBlock:
    def __init__(self, number: int, txs: list[bytes]) -> None:
        self.number = number
        self.transactions = [FakeTx(raw) for raw in txs]


class FakeTx:
    r = 1

    def __init__(self, raw: bytes) -> None:
        self.raw = raw

    def encode(self) -> bytes:
        return self.raw


def make_poster(**policy: Any) -> tuple[BatchPoster, FakeTime]:
    now = FakeTime()
    clock = ParentClock(block_time=12.0, start_block=100, start_time=now.t, now=now)
    pricing = L1Pricing(price_per_unit=0, clock=clock)
    return BatchPoster(pricing, BatchPolicy(**policy), clock, now=now), now


def test_batches_by_delay_land_in_the_next_parent_block() -> None:
    poster, now = make_poster(max_delay=5.0)
    assert poster.batch_of(0) == 0  # genesis: batch 0
    poster.on_mined(FakeBlock(1, [b"\x02" + bytes(100)]))
    now.t += 3
    poster.on_mined(FakeBlock(2, [b"\x02" + bytes(100)]))
    assert poster.log.count == 1 and poster.batch_of(1) is None
    now.t += 2.5  # 5.5 s after block 1: due
    poster.tick()
    assert poster.log.count == 2 and poster.log.ends[-1] == 3
    assert poster.batch_of(1) is None  # in parent block 101, not made yet (100 until t+12)
    now.t += 12
    assert poster.batch_of(1) == poster.batch_of(2) == 1 and poster.confirmations(2) == 0
    now.t += 24
    assert poster.confirmations(2) == 2 and poster.batch_of(3) is None


def test_batches_by_size_leave_the_overflowing_block_to_the_next() -> None:
    poster, now = make_poster(max_delay=3600.0, max_size=2_000)
    incompressible = [b"".join(keccak(bytes([i, j, k])) for k in range(8))  # 256 random bytes
                      for i in range(40) for j in range(2)]  # fmt: skip
    for number in range(1, 41):
        poster.on_mined(FakeBlock(number, incompressible[2 * number - 2: 2 * number]))
    ends = poster.log.ends
    # 40 blocks of ~520 incompressible bytes: 3 fit under 2,000 compressed bytes, the 4th
    # overflows and opens the next batch
    assert ends == list(range(1, 41, 3))
    now.t += 3600
    poster.tick()
    assert poster.log.ends[-1] == 41  # the rest went by delay


async def _batch_state(url: str, chain: DevChain, block: int) -> tuple[Any, ...]:
    async with Rpc(url) as client:
        batch = await eth_call(client, NODE_INTERFACE, "NodeInterface",
                               "findBatchContainingBlock", block)  # fmt: skip
        l1 = await eth_call(client, NODE_INTERFACE, "NodeInterface", "blockL1Num", block)
        pricer = [await eth_call(client, ARB_GAS_INFO, "ArbGasInfo", name) for name in (
            "getL1FeesAvailable", "getLastL1PricingSurplus", "getLastL1PricingUpdateTime")]
        return batch, l1, pricer


def test_a_kept_chain_keeps_its_batches_clock_and_pricer(tmp_path: Path) -> None:
    policy = BatchPolicy(max_delay=0.3, parent_block_time=PARENT_BLOCK_TIME)
    start = dict(block_time=0.25, l1_base_fee_wei=10**9, batches=policy, data_dir=tmp_path)

    async def first(chain: DevChain) -> tuple[int, tuple[Any, ...]]:
        async with Rpc(chain.url) as client:
            receipts = await send_transfers(client, chain, 2)
            block = int(receipts[-1]["blockNumber"], 16)
            for _ in range(100):
                try:
                    await eth_call(client, NODE_INTERFACE, "NodeInterface",
                                   "findBatchContainingBlock", block)  # fmt: skip
                    break
                except RpcError:
                    await asyncio.sleep(0.1)
        return block, await _batch_state(chain.url, chain, block)

    with DevChain.start(**start) as chain:  # type: ignore[arg-type]
        block, before = asyncio.run(first(chain))
    with DevChain.start(**start) as chain:  # type: ignore[arg-type]
        after = asyncio.run(_batch_state(chain.url, chain, block))

        async def later() -> tuple[int, int]:
            async with Rpc(chain.url) as client:
                receipts = await send_transfers(client, chain, 1)
                new_block = int(receipts[-1]["blockNumber"], 16)
                (l1,) = await eth_call(client, NODE_INTERFACE, "NodeInterface", "blockL1Num",
                                       new_block)  # fmt: skip
                return new_block, l1

        new_block, new_l1 = asyncio.run(later())
    assert after == before  # its batch, its L1 block and the pricer's state survive
    assert new_block > block and new_l1 >= before[1][0]  # the parent clock never goes back


def test_prices_out_of_the_history_window_are_dropped() -> None:
    pricing = L1Pricing(price_per_unit=100)
    for block, price in ((5, 90), (9, 80), (20, 70)):
        pricing.set_price(price, block)
    pricing.forget_before(10)  # the oldest block kept: 10
    assert pricing.changes == [(9, 80), (20, 70)]
    assert (pricing.price_at(10), pricing.price_at(19), pricing.price_at(25)) == (80, 80, 70)


def test_a_runs_batch_settings_reach_the_chain_command_line(tmp_path: Path) -> None:
    from utils.devchain.cli import build_parser
    from utils.devchain.nitro.options import batch_policy, run_batch_policy
    from utils.settings import load_settings

    settings = load_settings({"out": tmp_path, "parent_base_fee_gwei": 2.5,
                              "batch_max_delay": 0.5, "batch_max_size": 5_000,
                              "parent_block_time": 0.25}, None)  # fmt: skip
    policy = run_batch_policy(settings)
    assert (policy.parent_base_fee_wei, policy.max_delay, policy.max_size,
            policy.parent_block_time) == (2_500_000_000, 0.5, 5_000, 0.25)  # fmt: skip
    assert batch_policy(build_parser().parse_args(policy.argv())) == policy
    defaults = run_batch_policy(load_settings({"out": tmp_path}, None))
    assert defaults == BatchPolicy() == batch_policy(build_parser().parse_args([]))
