"""Nitro's L1 pricer on the embedded chain (issue 21.3): the price path over several batches
against a reference written here from Nitro's Go code, not with the chain's modules.

Reference: OffchainLabs/nitro ``arbos/l1pricing/l1pricing.go`` ``UpdateForBatchPosterSpending``
(ArbOS >= 10), ``arbos/internal_tx.go`` (batch posting report: ``l1BaseFee x (perBatchGas +
batchDataGas)``), ``arbos/arbostypes/incomingmessage.go`` ``LegacyCostForStats``,
``arbos/tx_processor.go`` (units and poster fee per transaction). Go's ``big.Int.Div`` is
Euclidean division: for a positive divisor it floors, as Python's ``//`` does.
"""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import brotli
import pytest
import pytest_asyncio
import rlp
from eth_account import Account

from tests.test_nitro_batches import ARB_GAS_INFO, NODE_INTERFACE, eth_call
from utils.chain.rpc import Rpc
from utils.devchain import DevChain
from utils.devchain.nitro.options import BatchPolicy
from utils.devchain.nitro.pricer import PricerParams, update_for_batch
from utils.errors import RpcError

START_PRICE = 50 * 10**9  # arbostypes.DefaultInitialL1BaseFee
PARENT_BASE_FEE = 10**9
EQUILIBRATION_UNITS = 16 * 10_000_000  # InitialEquilibrationUnitsV6
INERTIA = 10
PER_UNIT_REWARD = 10
PER_BATCH_GAS = 210_000  # InitialPerBatchGasCostV12


@dataclass
class Reference:
    """Nitro's L1PricingState, with one batch poster, as plain integers."""

    price: int = START_PRICE
    units_since_update: int = 0
    fees_available: int = 0
    rewards_due: int = 0
    poster_due: int = 0
    last_update_time: int = 0
    last_surplus: int = 0
    amortized_cost_cap_bips: int = 0

    def surplus(self) -> int:
        return self.fees_available - (self.poster_due + self.rewards_due)

    def update(self, update_time: int, current_time: int, wei_spent: int, l1_fee: int) -> None:
        last = self.last_update_time
        if last == 0 and update_time > 0:
            last = update_time - 1
        assert last <= update_time <= current_time
        num, den = update_time - last, current_time - last
        if den == 0:
            num = den = 1
        allocated = self.units_since_update * num // den
        self.units_since_update -= allocated
        if self.amortized_cost_cap_bips:
            wei_spent = min(wei_spent, l1_fee * allocated * self.amortized_cost_cap_bips // 10_000)
        self.poster_due += wei_spent
        self.rewards_due += allocated * PER_UNIT_REWARD
        payment = min(PER_UNIT_REWARD * allocated, self.fees_available)
        self.rewards_due -= payment
        self.fees_available -= payment
        transfer = min(self.poster_due, self.fees_available)
        if transfer > 0:
            self.fees_available -= transfer
            self.poster_due -= transfer
        self.last_update_time = update_time
        if allocated > 0:
            surplus = self.surplus()
            inertia_units = EQUILIBRATION_UNITS // INERTIA
            desired = -surplus // EQUILIBRATION_UNITS
            actual = (surplus - self.last_surplus) // allocated
            change = (desired - actual) * allocated // (inertia_units + allocated)
            self.last_surplus = surplus
            self.price = max(0, self.price + change)


def legacy_cost(data: bytes) -> int:
    non_zeros = sum(1 for b in data if b)
    return (4 * (len(data) - non_zeros) + 16 * non_zeros + 30 + 6 * ((len(data) + 31) // 32)
            + 2 * 20_000)  # fmt: skip


def units_of(raw: bytes) -> int:
    return 16 * len(brotli.compress(raw, quality=1, lgwin=22))


@dataclass
class Chainside:
    """The pricer's variables as the chain holds them (for the pure check below)."""

    price_per_unit: int = START_PRICE
    units_since_update: int = 0
    l1_fees_available: int = 0
    funds_due_for_rewards: int = 0
    poster_funds_due: int = 0
    last_update_time: int = 0
    last_surplus: int = 0
    rewards_paid: int = 0
    poster_paid: int = 0


def test_update_follows_nitro_with_partial_allocation_cap_and_short_pool() -> None:
    ref, ours = Reference(amortized_cost_cap_bips=12_000), Chainside()
    params = PricerParams(amortized_cost_cap_bips=12_000)
    steps = [  # (units, fees, update time, current time, wei spent, l1 fee)
        (400_000, 9 * 10**15, 100, 100, 3 * 10**14, 10**9),
        (250_000, 10**12, 130, 160, 8 * 10**14, 2 * 10**9),  # 30/60 of the units; pool short
        (0, 0, 160, 160, 10**14, 10**9),  # nothing allocated: the price stays
        (1_000_000, 5 * 10**16, 200, 260, 10**15, 3 * 10**9),
    ]
    for units, fees, update_time, now, spent, fee in steps:
        ref.units_since_update += units
        ref.fees_available += fees
        ours.units_since_update += units
        ours.l1_fees_available += fees
        update_for_batch(ours, params, update_time, now, spent, fee)
        ref.update(update_time, now, spent, fee)
        assert (ours.price_per_unit, ours.units_since_update, ours.l1_fees_available,
                ours.funds_due_for_rewards, ours.poster_funds_due, ours.last_surplus) == (
            ref.price, ref.units_since_update, ref.fees_available, ref.rewards_due,
            ref.poster_due, ref.last_surplus)  # fmt: skip
    assert ref.price != START_PRICE


@pytest.fixture(scope="module")
def devchain() -> Iterator[DevChain]:
    policy = BatchPolicy(max_delay=1.0, parent_block_time=0.25,
                         parent_base_fee_wei=PARENT_BASE_FEE)  # fmt: skip
    with DevChain.start(block_time=0.25, l1_base_fee_wei=START_PRICE, batches=policy) as chain:
        yield chain


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def rpc(devchain: DevChain) -> AsyncIterator[Rpc]:
    async with Rpc(devchain.url) as client:
        yield client


async def send_round(rpc: Rpc, chain: DevChain, nonce: int, count: int) -> list[tuple[Any, ...]]:
    """``count`` transactions with 2,000 random bytes each; (block, index, raw, receipt) each,
    in chain order."""
    account = Account.from_key(chain.funder_key)
    sent = []
    for i in range(count):
        tx = account.sign_transaction({
            "to": "0x" + "33" * 20, "value": 0, "gas": 60_000_000, "maxFeePerGas": 10**10,
            "maxPriorityFeePerGas": 0, "nonce": nonce + i, "chainId": chain.chain_id,
            "type": 2, "data": os.urandom(2_000),
        })
        raw = bytes(tx.raw_transaction)
        sent.append((await rpc.call("eth_sendRawTransaction", "0x" + raw.hex()), raw))
    out = []
    for tx_hash, raw in sent:
        receipt = None
        for _ in range(200):
            receipt = await rpc.call("eth_getTransactionReceipt", tx_hash)
            if receipt is not None:
                break
            await asyncio.sleep(0.05)
        assert receipt is not None and receipt["status"] == "0x1"
        out.append((int(receipt["blockNumber"], 16), int(receipt["transactionIndex"], 16), raw,
                    receipt))  # fmt: skip
    return sorted(out, key=lambda item: (item[0], item[1]))


async def wait_for_batch(rpc: Rpc, block: int) -> int:
    for _ in range(100):
        try:
            (batch,) = await eth_call(rpc, NODE_INTERFACE, "NodeInterface",
                                      "findBatchContainingBlock", block)  # fmt: skip
            return int(batch)
        except RpcError:
            await asyncio.sleep(0.1)
    raise AssertionError(f"block {block} in no batch after 10 s")


@pytest.mark.asyncio(loop_scope="module")
async def test_price_path_over_batches_matches_nitro(devchain: DevChain, rpc: Rpc) -> None:
    ref = Reference()
    prices = [ref.price]
    nonce = 0
    for _ in range(4):
        txs = await send_round(rpc, devchain, nonce, 5)
        nonce += len(txs)
        batches = {await wait_for_batch(rpc, block) for block, *_ in txs}
        assert len(batches) == 1  # the round's blocks went in one batch
        for block, _index, raw, receipt in txs:  # charged at the reference's current price
            header = await rpc.call("eth_getBlockByNumber", hex(block), False)
            base_fee = int(header["baseFeePerGas"], 16)
            poster_gas = units_of(raw) * ref.price // base_fee
            assert int(receipt["gasUsedForL1"], 16) == poster_gas
            ref.units_since_update += units_of(raw)
            ref.fees_available += poster_gas * base_fee
        segments = b"".join(rlp.encode(b"\x00\x04" + raw) for _b, _i, raw, _r in txs)
        batch = b"\x00" + brotli.compress(segments, quality=6, lgwin=22)
        (update_time,) = await eth_call(rpc, ARB_GAS_INFO, "ArbGasInfo",
                                        "getLastL1PricingUpdateTime")  # fmt: skip
        ref.update(update_time, update_time,
                   PARENT_BASE_FEE * (PER_BATCH_GAS + legacy_cost(batch)), PARENT_BASE_FEE)
        prices.append(ref.price)
        assert await eth_call(rpc, ARB_GAS_INFO, "ArbGasInfo", "getLastL1PricingSurplus") == (
            ref.last_surplus,)
    reads = {name: (await eth_call(rpc, ARB_GAS_INFO, "ArbGasInfo", name))[0] for name in (
        "getL1PricingSurplus", "getL1FeesAvailable", "getL1PricingUnitsSinceUpdate",
        "getL1PricingFundsDueForRewards", "getL1PricingEquilibrationUnits",
        "getL1BaseFeeEstimateInertia", "getL1RewardRate", "getPerBatchGasCharge")}
    assert reads == {
        "getL1PricingSurplus": ref.surplus(), "getL1FeesAvailable": ref.fees_available,
        "getL1PricingUnitsSinceUpdate": 0, "getL1PricingFundsDueForRewards": ref.rewards_due,
        "getL1PricingEquilibrationUnits": EQUILIBRATION_UNITS,
        "getL1BaseFeeEstimateInertia": INERTIA, "getL1RewardRate": PER_UNIT_REWARD,
        "getPerBatchGasCharge": PER_BATCH_GAS}
    (recipient,) = await eth_call(rpc, ARB_GAS_INFO, "ArbGasInfo", "getL1RewardRecipient")
    assert recipient.lower() == devchain.funder_address.lower()  # the chain owner
    # sustained load at a 1 gwei parent base fee: the price falls from 50 gwei at every batch
    assert all(b < a for a, b in itertools.pairwise(prices)), prices
    await rpc.call("kcdev_mine")  # the new price applies from the next block
    assert await eth_call(rpc, ARB_GAS_INFO, "ArbGasInfo", "getL1BaseFeeEstimate") == (
        prices[-1],)


def test_sustained_load_brings_the_price_to_break_even() -> None:
    """Constant load: each batch holds ``units`` units and costs the poster ``cost`` wei. The
    price that pays for it exactly is ``cost / units + reward`` per unit; Nitro's pricer,
    started at 50 gwei, first spends the surplus it collected (the price falls to 0), then
    settles there."""
    units, l1_fee = 2_000_000, PARENT_BASE_FEE
    cost = l1_fee * (PER_BATCH_GAS + units + 2 * 20_000)
    break_even = cost / units + PER_UNIT_REWARD
    ours, params, now = Chainside(), PricerParams(), 1_000
    prices = []
    for _ in range(1_500):
        ours.units_since_update += units
        ours.l1_fees_available += units * ours.price_per_unit
        now += 3
        update_for_batch(ours, params, now, now, cost, l1_fee)
        prices.append(ours.price_per_unit)
    assert min(prices) == 0  # the surplus of the 50 gwei start spent
    assert abs(prices[-1] - break_even) < break_even * 0.001
    surplus = ours.l1_fees_available - ours.poster_funds_due - ours.funds_due_for_rewards
    assert abs(surplus) < cost  # less than one batch's cost left over either way
