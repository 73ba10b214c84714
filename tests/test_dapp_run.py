"""Runs on the dApp contracts: payment_app / merchant_app / lending_app on the stablecoin,
router and pool, in both flavours, with the books checked after the run.

* a Stylus run (``python main.py --dapp stylus`` on its own embedded chain) ends with the
  books balanced, goodput in the final table, summary.json, /metrics and the report;
* an EVM-twin run whose books are broken on purpose (a mint nobody booked, made between
  the load and the check) prints the discrepancy and exits 1;
* the books check itself finds a deposit into the pool the run did not make.
"""

from __future__ import annotations

import io
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account

from contracts.books import Books, check_books
from contracts.pool_lending import PoolBook
from contracts.token_payments import PaymentLedger
from stylus_contracts.dapps import call_data
from tests.conftest import clean_env, main_cmd
from utils.chain.dapp_deploy import _funder_call
from utils.run.parts import Prepared, RunBase
from utils.run.run import EXIT_MISSED, Run
from utils.run.run_dir import new_run_id
from utils.settings import load_settings

RATES = ["--rate", "payment=6", "--rate", "merchant=2", "--rate", "lending=4",
         "--rate", "iot=0", "--rate", "registration=0"]


@pytest.fixture(scope="module")
def stylus_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("dapp")
    args = ["--duration", "10", "--port", "0", "--out", str(out), "--seed", "5",
            "--dapp", "stylus", *RATES]
    proc = subprocess.run(main_cmd(*args), capture_output=True, text=True, env=clean_env(),
                          timeout=240)
    run_dir = (out / "latest").resolve()
    return {"proc": proc, "run_dir": run_dir}


def test_stylus_run_balances_its_books(stylus_run: dict[str, Any]) -> None:
    proc = stylus_run["proc"]
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "books balance" in proc.stdout
    summary = json.loads((stylus_run["run_dir"] / "summary.json").read_text())
    dapp = summary["dapp"]
    assert dapp["flavour"] == "stylus" and dapp["books"] == {"balanced": True,
                                                             "discrepancies": []}
    assert dapp["payments"]["confirmed"] >= 30 and dapp["loans"]["repaid"] >= 3


def test_goodput_is_reported_everywhere(stylus_run: dict[str, Any]) -> None:
    proc, run_dir = stylus_run["proc"], stylus_run["run_dir"]
    summary = json.loads((run_dir / "summary.json").read_text())
    goodput = summary["dapp"]["goodput"]
    payments = goodput["payment_app"]["payment"]
    assert payments["count"] == summary["dapp"]["payments"]["confirmed"]
    assert payments["per_second"] > 3 and payments["latency_p50_sec"] > 0
    assert goodput["merchant_app"]["settlement"]["count"] >= 10
    assert goodput["lending_app"]["loan_repaid"]["count"] == summary["dapp"]["loans"]["repaid"]
    assert "goodput (business operations):" in proc.stdout
    prom = (run_dir / "metrics.prom").read_text()
    assert (f'kcstress_business_operations_total{{operation="payment",workload="payment_app"}} '
            f'{float(payments["count"])}') in prom
    html = (run_dir / "report.html").read_text()
    assert "Business operations" in html and "stylus" in html
    gas = summary["dapp"]["gas_per_operation"]["payment_app"]["payment"]
    # execution (L2) gas; the L1 data charge on top moves with the L1 price (50 gwei default)
    assert 50_000 < gas["l2_gas_per_op"] < 400_000 < gas["gas_per_op"]


async def _mint_behind_the_books(_base: RunBase, prepared: Prepared) -> None:
    """The token supply is changed behind the books' back before they are checked."""
    assert prepared.dapps is not None
    outsider = Account.create().address
    await _funder_call(prepared.session, prepared.dapps.contracts.token,
                       call_data("mint(address,uint256)", outsider, 12_345))


def test_a_broken_book_fails_the_run(tmp_path: Path) -> None:
    import asyncio

    settings = load_settings({"duration": 4, "dapp": "evm", "out": tmp_path, "port": 0,
                              "seed": 9, "payment_rate": 4, "merchant_rate": 1,
                              "lending_rate": 2, "iot_registration_rate": 0,
                              "iot_data_submission_rate": 0}, None)
    run_id = new_run_id()
    printed = io.StringIO()
    run = Run(settings, run_id=run_id, run_dir=tmp_path / run_id, out=printed,
              before_checks=_mint_behind_the_books)
    code = asyncio.run(run.execute())
    assert code == EXIT_MISSED
    text = printed.getvalue()
    assert "books do not balance: token: total supply vs minted" in text
    assert "difference +12345" in text
    summary = json.loads((tmp_path / run_id / "summary.json").read_text())
    assert summary["dapp"]["books"]["balanced"] is False
    assert "books do not balance" in summary["exit_reason"]


async def _check_after_a_stray_deposit(prepared: Prepared) -> list[str]:
    assert prepared.dapps is not None
    parts = prepared.dapps
    lender = prepared.wallets.role("lender")[0]
    # the lender deposits once more, behind the local book's back
    from utils.chain.dapp_deploy import SetupStep, run_setup
    from utils.chain.tx_engine import TxEngine
    from utils.observe.stats import StatsHub

    session = prepared.session
    async with TxEngine(session.rpc, StatsHub(), session.clock, session.fees,
                        session.info.chain_id) as engine:
        await run_setup(engine, [SetupStep(lender, parts.contracts.pool,
                                           call_data("deposit(uint256)", 777), "deposit")])
    books = Books(parts.contracts, parts.holders(), parts.minted, PaymentLedger(), parts.book)
    return [d.line() for d in await check_books(session.rpc, books)]


def test_books_see_a_deposit_the_run_did_not_make(tmp_path: Path) -> None:
    import asyncio

    settings = load_settings({"duration": 1, "dapp": "evm", "out": tmp_path, "port": 0,
                              "seed": 11, "payment_rate": 0, "merchant_rate": 0,
                              "lending_rate": 1, "iot_registration_rate": 0,
                              "iot_data_submission_rate": 0}, None)
    run_id = new_run_id()
    found: list[str] = []

    async def stray_deposit(_base: RunBase, prepared: Prepared) -> None:
        found.extend(await _check_after_a_stray_deposit(prepared))

    run = Run(settings, run_id=run_id, run_dir=tmp_path / run_id, out=io.StringIO(),
              before_checks=stray_deposit)
    asyncio.run(run.execute())
    assert any("pool: total deposits vs the run's deposits" in line and "+777" in line
               for line in found), found
    prepared = run.prepared
    assert isinstance(prepared.dapps.book if prepared and prepared.dapps else None, PoolBook)
