"""The books book only what the run did not see (issue 19, point 6).

Short real dApp runs on the embedded chain (EVM twins). Every payment, settlement and pool
transaction a run sends is recorded as seen: between the load and the books check the
scan for unseen transactions finds none, and a clean run's log has no "never saw an
outcome" line. A payment sent behind the run's back (from one of its users, through a
private engine) is still found by the run's own books check, booked from its calldata,
and the books balance.
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from contracts.unseen import find_unseen, seen_hashes
from stylus_contracts.dapps import call_data
from utils.chain.dapp_deploy import SetupStep, run_setup
from utils.chain.rpc import hex_int
from utils.chain.tx_engine import TxEngine
from utils.observe.stats import StatsHub
from utils.run.parts import Prepared, RunBase
from utils.run.run import Run
from utils.run.run_dir import new_run_id
from utils.settings import load_settings

NEVER_SAW = "never saw an outcome"
ROLES = ("user", "merchant", "lender", "borrower")  # the senders the books check scans


@dataclass
class Probe:
    """What a run's hook saw between its load and its books check, and what it logged."""

    stray: bool
    unseen: list[str] = field(default_factory=list)
    stray_hash: str = ""
    lines: list[str] = field(default_factory=list)

    async def __call__(self, base: RunBase, prepared: Prepared) -> None:
        parts = prepared.dapps
        assert parts is not None and parts.first_block is not None
        senders = [w for r in ROLES for w in prepared.wallets.role(r)]
        found = await find_unseen(prepared.session.rpc, parts.contracts, senders,
                                  parts.first_block, seen_hashes(parts.ledger, parts.book))
        self.unseen = [str(tx["hash"]) for tx in found]
        if self.stray:
            self.stray_hash = await _stray_payment(prepared)


async def _stray_payment(prepared: Prepared) -> str:
    """A user pays a merchant through a private engine: no workload hears of it."""
    assert prepared.dapps is not None
    session = prepared.session
    user, merchant = prepared.wallets.role("user")[0], prepared.wallets.role("merchant")[0]
    data = call_data("pay(address,uint256,bytes32)", merchant.address, 4_321, b"\x07" * 32)
    async with TxEngine(session.rpc, StatsHub(), session.clock, session.fees,
                        session.info.chain_id) as engine:
        await run_setup(engine, [SetupStep(user, prepared.dapps.contracts.router, data, "pay")])
    block = await session.rpc.call("eth_getBlockByNumber",
                                   hex(hex_int(await session.rpc.call("eth_blockNumber"))), True)
    mine = [tx for tx in block["transactions"] if str(tx["from"]).lower() == user.address.lower()]
    assert len(mine) == 1, block
    return str(mine[0]["hash"])


class _Lines(logging.Handler):
    def __init__(self, lines: list[str]) -> None:
        super().__init__(logging.INFO)
        self.lines = lines

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture(scope="module", params=[False, True], ids=["clean", "stray"])
def probed(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Run, Probe]]:
    probe = Probe(stray=request.param)
    out: Path = tmp_path_factory.mktemp("unseen")
    settings = load_settings({"duration": 5, "dapp": "evm", "out": out, "port": 0, "seed": 19,
                              "payment_rate": 4, "merchant_rate": 3, "lending_rate": 2,
                              "iot_registration_rate": 0, "iot_data_submission_rate": 0})
    run_id = new_run_id()
    run = Run(settings, run_id=run_id, run_dir=out / run_id, out=io.StringIO(),
              before_checks=probe)
    root, handler = logging.getLogger(), _Lines(probe.lines)
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        asyncio.run(run.execute())
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    yield run, probe


def test_every_dapp_transaction_of_a_run_is_seen(probed: tuple[Run, Probe]) -> None:
    run, probe = probed
    parts = run.prepared.dapps if run.prepared else None
    assert parts is not None
    assert parts.ledger.settlements >= 5 and parts.ledger.payments >= 5  # settlements landed
    assert parts.book.borrowed >= 1
    assert probe.unseen == []
    assert any("dApp set-up done" in line for line in probe.lines)  # the capture works
    assert parts.discrepancies == []  # books balance (the stray payment booked, if any)


def test_only_a_genuinely_unseen_transaction_is_reported(probed: tuple[Run, Probe]) -> None:
    _run, probe = probed
    reported = [line for line in probe.lines if NEVER_SAW in line]
    if not probe.stray:
        assert reported == []
        return
    assert probe.stray_hash
    assert reported == ["books: 1 transactions the run never saw an outcome for; 1 "
                        "succeeded, 1 booked from their calldata"]
