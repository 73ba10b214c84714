"""The embedded chain prices like Nitro (issue 12.2, 12.3, 12.6), checked over JSON-RPC.

Every expected figure is computed here from first principles (brotli of the signed bytes,
Nitro's constants written out again), not with the chain's own modules: receipts'
``gasUsedForL1``, ``gasUsed`` and the balance the sender lost, ``eth_estimateGas`` and
NodeInterface.gasEstimateComponents, ArbGasInfo and ArbSys against the ABIs published in
``@arbitrum/nitro-contracts``, a mid-run change of the L1 price, the Stylus program deployed
on the chain as if it were remote (activation data fee simulated, paid, excess returned; an
active code hash reused) and, on anvil, every cost column 0.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import brotli
import pytest
import pytest_asyncio
import rlp
from eth_abi import decode, encode
from eth_account import Account
from eth_utils import keccak

from utils.chain.l1_price import l1_price_wei
from utils.chain.processor import ensure_processor
from utils.chain.rpc import Rpc, hex_int
from utils.chain.session import open_session
from utils.chain.stylus_deploy import StylusUnavailableError, deploy_stylus_program
from utils.clock import Clock
from utils.devchain import DevChain
from utils.devchain.nitro.options import BatchPolicy
from utils.observe.stats import StatsHub
from utils.settings import load_settings

pytestmark = pytest.mark.asyncio(loop_scope="module")

PRICE = 3 * 10**9  # wei per calldata unit (the L1 base fee estimate)
ABI_DIR = Path(__file__).resolve().parents[1] / "utils" / "devchain" / "nitro" / "abi"
NODE_INTERFACE = "0x00000000000000000000000000000000000000c8"
ARB_GAS_INFO = "0x000000000000000000000000000000000000006c"
ARB_SYS = "0x0000000000000000000000000000000000000064"


@pytest.fixture(scope="module")
def devchain() -> Iterator[DevChain]:
    # no batch within the test (1 h, Nitro's delay): the price stays PRICE (the pricer's moves
    # are tests/test_nitro_l1_pricer.py's)
    with DevChain.start(block_time=0.25, stylus=True, l1_base_fee_wei=PRICE,
                        batches=BatchPolicy(max_delay=3600)) as chain:
        yield chain


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def rpc(devchain: DevChain) -> AsyncIterator[Rpc]:
    async with Rpc(devchain.url) as client:
        yield client


def units_of(raw: bytes) -> int:
    return 16 * len(brotli.compress(raw, quality=1, lgwin=22))


def nitro_abi(name: str, function: str) -> dict[str, Any]:
    abi = json.loads((ABI_DIR / f"{name}.json").read_text())["abi"]
    return next(e for e in abi if e.get("name") == function)


def selector(entry: dict[str, Any]) -> bytes:
    return keccak(text=f"{entry['name']}({','.join(i['type'] for i in entry['inputs'])})")[:4]


async def call(rpc: Rpc, to: str, data: bytes, **extra: Any) -> bytes:
    out = await rpc.call("eth_call", {"to": to, "data": "0x" + data.hex(), **extra}, "latest")
    return bytes.fromhex(str(out)[2:])


async def send(rpc: Rpc, key: bytes, tx: dict[str, Any]) -> tuple[bytes, dict[str, Any]]:
    account = Account.from_key(key)
    nonce = hex_int(await rpc.call("eth_getTransactionCount", account.address, "pending"))
    signed = Account.sign_transaction({"chainId": 1337, "nonce": nonce, "value": 0,
                                       "maxFeePerGas": 20 * 10**9,
                                       "maxPriorityFeePerGas": 10**9, **tx}, key)
    tx_hash = await rpc.call("eth_sendRawTransaction", "0x" + signed.raw_transaction.hex())
    for _ in range(200):
        receipt = await rpc.call("eth_getTransactionReceipt", tx_hash)
        if receipt is not None:
            return bytes(signed.raw_transaction), receipt
        await asyncio.sleep(0.05)
    raise AssertionError(f"no receipt for {tx_hash}")


def estimation_l1_gas(
    to: bytes, value: int, data: bytes, nonce: int, base_fee: int, price: int
) -> int:
    """Nitro's estimate: a stand-in EIP-1559 tx (keccak-derived nonce/fees/gas/signature),
    units padded (+256, x1.01), cost x1.1, divided by 7/8 of the base fee (floor 0.1 gwei)."""
    word = lambda text, n: int.from_bytes(keccak(text=text)[:n], "big")  # noqa: E731
    fake = b"\x02" + rlp.encode([0, nonce or word("Nonce", 8), word("GasTipCap", 4),
                                 word("GasFeeCap", 4), word("Gas", 4), to, value, data, [],
                                 42161 * 3, word("R", 32), word("S", 32)])
    units = (units_of(fake) + 256) * 10100 // 10000
    return units * price * 11000 // 10000 // max(base_fee * 7 // 8, 10**8)


async def test_receipts_estimates_and_node_interface_follow_nitro(
    devchain: DevChain, rpc: Rpc
) -> None:
    funder = Account.from_key(devchain.funder_key).address
    to, data = Account.create().address, b"\x5a" * 424  # an IoT record's worth of calldata
    tx = {"from": funder, "to": to, "value": "0x1", "data": "0x" + data.hex()}
    head = await rpc.call("eth_getBlockByNumber", "latest", False)
    base_fee, nonce = hex_int(head["baseFeePerGas"]), hex_int(
        await rpc.call("eth_getTransactionCount", funder, "latest"))
    l2 = 21_000 + 16 * len(data)
    expected_l1 = estimation_l1_gas(bytes.fromhex(to[2:]), 1, data, nonce, base_fee, PRICE)
    estimate = hex_int(await rpc.call("eth_estimateGas", tx))
    assert estimate == l2 + expected_l1
    components = nitro_abi("NodeInterface", "gasEstimateComponents")
    out = await call(rpc, NODE_INTERFACE, selector(components) + encode(
        ["address", "bool", "bytes"], [to, False, data]), **{"from": funder, "value": "0x1"})
    total, l1, answered_base_fee, l1_price = decode(
        [o["type"] for o in components["outputs"]], out)
    assert (total, answered_base_fee, l1_price) == (estimate, base_fee, PRICE)
    assert total - l1 == l2 and l1 > 0

    balance = hex_int(await rpc.call("eth_getBalance", funder, "latest"))
    raw, receipt = await send(rpc, devchain.funder_key,
                              {"to": to, "value": 1, "data": data, "gas": estimate})
    block = await rpc.call("eth_getBlockByNumber", receipt["blockNumber"], False)
    poster = units_of(raw) * PRICE // hex_int(block["baseFeePerGas"])
    assert hex_int(receipt["gasUsedForL1"]) == poster > 0
    assert hex_int(receipt["gasUsed"]) == l2 + poster
    assert hex_int(receipt["l1BlockNumber"]) > 0
    paid = balance - hex_int(await rpc.call("eth_getBalance", funder, receipt["blockNumber"]))
    # the 1 gwei tip is dropped, as Nitro does (TxProcessor.DropTip): the base fee is paid
    assert hex_int(receipt["effectiveGasPrice"]) == hex_int(block["baseFeePerGas"])
    assert paid == hex_int(receipt["gasUsed"]) * hex_int(block["baseFeePerGas"]) + 1

    _, refused = await send_or_error(rpc, devchain.funder_key, {"to": to, "gas": 21_000})
    assert "intrinsic gas too low" in refused


async def send_or_error(rpc: Rpc, key: bytes, tx: dict[str, Any]) -> tuple[Any, str]:
    try:
        return await send(rpc, key, tx), ""
    except Exception as exc:  # the node's refusal
        return None, str(exc)


async def test_precompiles_answer_with_nitro_abi_and_formulas(rpc: Rpc) -> None:
    block = await rpc.call("eth_getBlockByNumber", "latest", False)
    base_fee = hex_int(block["baseFeePerGas"])
    entry = nitro_abi("ArbGasInfo", "getL1BaseFeeEstimate")
    (estimate,) = decode(["uint256"], await call(rpc, ARB_GAS_INFO, selector(entry)))
    assert estimate == PRICE
    entry = nitro_abi("ArbGasInfo", "getPricesInWei")
    prices = decode([o["type"] for o in entry["outputs"]],
                    await call(rpc, ARB_GAS_INFO, selector(entry)))
    per_byte = PRICE * 16
    floor = min(10**8, base_fee)
    assert prices == (per_byte * 140, per_byte, base_fee * 20_000, floor, base_fee - floor,
                      base_fee)
    answers = {}
    for name in ("arbBlockNumber", "arbChainID", "arbOSVersion"):
        answers[name] = decode(["uint256"], await call(rpc, ARB_SYS, selector(
            nitro_abi("ArbSys", name))))[0]
    assert answers["arbChainID"] == 1337 and answers["arbOSVersion"] == 55 + 32
    assert answers["arbBlockNumber"] == hex_int(block["number"])


async def test_the_l1_price_is_read_from_arb_gas_info(rpc: Rpc) -> None:
    """What a run reports as the L1 price at its load's start and end."""
    assert await l1_price_wei(rpc) == PRICE


async def test_l1_price_changes_mid_run_from_the_next_block(
    devchain: DevChain, rpc: Rpc
) -> None:
    to = Account.create().address
    _raw, before = await send(rpc, devchain.funder_key, {"to": to, "gas": 200_000})
    first = hex_int(await rpc.call("kcdev_setL1BaseFee", hex(PRICE * 2)))
    assert first > hex_int(before["blockNumber"])
    raw2, after = await send(rpc, devchain.funder_key, {"to": to, "gas": 400_000})
    block = await rpc.call("eth_getBlockByNumber", after["blockNumber"], False)
    assert hex_int(after["gasUsedForL1"]) == \
        units_of(raw2) * PRICE * 2 // hex_int(block["baseFeePerGas"])
    again = await rpc.call("eth_getTransactionReceipt", before["transactionHash"])
    assert again["gasUsedForL1"] == before["gasUsedForL1"]  # an old block keeps its price
    await rpc.call("kcdev_setL1BaseFee", hex(PRICE))


async def test_stylus_deployed_as_on_a_remote_chain_pays_the_data_fee(
    devchain: DevChain, rpc: Rpc
) -> None:
    settings = load_settings({"rpc_url": devchain.url, "contract": "stylus",
                              "private_key": devchain.funder_key.hex()})
    async with AsyncExitStack() as stack:
        session = await open_session(settings, StatsHub(), Clock(), stack)
        assert not session.info.embedded  # the path of a real --rpc-url
        network = "0x00000000000000000000000000000000000a4b05"
        fees_before = hex_int(await rpc.call("eth_getBalance", network, "latest"))
        processor = await ensure_processor(session, settings)
        assert processor.flavour == "stylus"
        logs = await rpc.call("eth_getLogs", {"address": "0x" + "00" * 19 + "71",
                                              "fromBlock": "0x0", "toBlock": "latest"})
        activated = [entry for entry in logs if entry["topics"][0] == "0x" + keccak(
            text="ProgramActivated(bytes32,bytes32,address,uint256,uint16)").hex()]
        assert len(activated) == 1
        _module, program, data_fee, version = decode(
            ["bytes32", "address", "uint256", "uint16"], bytes.fromhex(activated[0]["data"][2:]))
        assert program.lower() == processor.address.lower() and version == 2
        received = hex_int(await rpc.call("eth_getBalance", network, "latest")) - fees_before
        assert received == data_fee > 0  # the fee, not the 20 % margin, went to the network
        again = await deploy_stylus_program(session)
        assert again.reused_activation and again.data_fee_wei == 0
        code = await call(rpc, again.address, keccak(text="resultCount()")[:4])
        assert int.from_bytes(code, "big") == 0  # the reused activation runs the new copy


async def test_on_anvil_cost_columns_are_zero_and_stylus_is_refused(
    tmp_path: Path, anvil_installed: Path
) -> None:
    from utils.devchain.anvil import AnvilChain

    with AnvilChain.start(block_time=1) as anvil:
        settings = load_settings({"rpc_url": anvil.url, "contract": "stylus",
                                  "private_key": anvil.funder_key.hex()})
        async with AsyncExitStack() as stack:
            session = await open_session(settings, StatsHub(), Clock(), stack)
            with pytest.raises(StylusUnavailableError):
                await ensure_processor(session, settings)  # asked for explicitly: exit 2
            from utils.chain.tx_engine import TxRequest
            from utils.chain.wallets import Wallet

            funder = Wallet("funder", 0, Account.from_key(anvil.funder_key))
            event = await session.engine.submit(TxRequest("payment_app", "payment", funder,
                                                          Account.create().address, 1))
            assert event.gas_used == 21_000 and event.l1_gas_used == 0
            assert event.fee_wei == 21_000 * event.effective_gas_price > 0
