"""lending_app on the lending pool: loan lifecycles (borrow, repay, some liquidations).

Each step does one of: liquidate a loan that was borrowed at its limit once interest has
pushed it past (lenders act as liquidators); repay the oldest open loan (every other
step); borrow for a borrower without an open loan, posting ETH collateral and taking
30-70 % of the limit, or the whole limit for :data:`RISKY_SHARE` of loans (those become
liquidatable a second later); when every borrower has a loan in flight, a lender deposits
instead. The :class:`~contracts.pool_book.PoolBook` mirrors the pool: deposits, every
open loan's principal and collateral, outstanding principal (and follows the corrections of
outcomes); a lifecycle (borrow to repaid, or to liquidated) is reported to the goodput
recorder.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import random
from collections.abc import Sequence

from contracts.pool_book import TOP_UP_DEPOSIT, PoolBook, PoolLoan
from stylus_contracts.dapps import POOL_COLLATERAL_FACTOR_BPS, POOL_PRICE, call_data
from utils.chain.dapp_deploy import l1_allowance
from utils.chain.tx_engine import TxEngine, TxRequest
from utils.chain.wallets import Wallet
from utils.load.workload import Workload
from utils.observe.events import Outcome, TxEvent
from utils.observe.goodput import Goodput

__all__ = ["BORROW_GAS", "LIQUIDATE_GAS", "REPAY_GAS", "PoolBook", "PoolLendingWorkload",
           "PoolLoan", "borrow_limit"]

BORROW_GAS = 350_000
REPAY_GAS = 250_000
LIQUIDATE_GAS = 300_000
DEPOSIT_GAS = 200_000
COLLATERAL_WEI = (10**16, 5 * 10**16)  # 0.01 .. 0.05 ETH: 15 .. 75 KCUSD of limit
RISKY_SHARE = 0.1
LIQUIDATE_AFTER = 2.0  # seconds after a risky borrow before liquidating it


def borrow_limit(collateral: int) -> int:
    """LendingPool's ``maxBorrow``: collateral * PRICE / 1e18 * 7500 / 10000."""
    return collateral * POOL_PRICE // 10**18 * POOL_COLLATERAL_FACTOR_BPS // 10_000


class PoolLendingWorkload(Workload):
    name = "lending_app"

    def __init__(self, engine: TxEngine, pool: str, lenders: Sequence[Wallet],
                 borrowers: Sequence[Wallet], book: PoolBook, goodput: Goodput,
                 rng: random.Random) -> None:
        if not lenders or not borrowers:
            raise ValueError("lending_app: needs lenders and borrowers")
        self.engine, self.pool, self.book, self.goodput = engine, pool, book, goodput
        self.lenders, self.borrowers = list(lenders), list(borrowers)
        self._liquidators = itertools.cycle(self.lenders)
        self._rng = rng
        self._repay_next = False
        self.skipped = 0  # steps that found no free borrower and deposited instead

    def _gas(self, base: int) -> int:
        """``base`` plus the allowance for the chain's L1 data charge (0 off Nitro)."""
        return base + l1_allowance(self.engine.fees)

    def funding_needs(self, steps: float) -> dict[str, int]:
        """Borrowers post collateral (back on repay, lost on liquidation) and pay gas;
        lenders pay liquidations' gas (their tokens are minted at set-up)."""
        fee = self.engine.fees.max_fee
        loans = math.ceil(steps / 2 / len(self.borrowers)) + 1
        lost = math.ceil(loans * RISKY_SHARE) + 1
        gas = self._gas(BORROW_GAS) + self._gas(REPAY_GAS)
        per_borrower = (lost + 1) * COLLATERAL_WEI[1] + loans * gas * fee
        per_lender = math.ceil(steps / len(self.lenders)) + 1  # liquidations or deposits
        needs = {w.address: per_borrower for w in self.borrowers}
        for w in self.lenders:
            needs[w.address] = needs.get(w.address, 0) + per_lender * self._gas(LIQUIDATE_GAS) * fee
        return needs

    async def step(self, intended_at: float) -> None:
        """One pool action; when every borrower is busy (a loan in flight each), a lender
        deposits instead, so the offered load stays pool transactions."""
        if not await self._act(intended_at):
            await self._deposit(intended_at)

    async def _act(self, intended_at: float) -> bool:
        now = self.engine.clock.now()
        loan = self.book.oldest(risky=True, before=now - LIQUIDATE_AFTER)
        if loan is not None:
            await self._close(loan, "liquidation", intended_at)
            return True
        repay, self._repay_next = self._repay_next, not self._repay_next
        loan = self.book.oldest(risky=False) if repay else None
        if loan is not None:
            await self._close(loan, "repayment", intended_at)
            return True
        free = [w for w in self.borrowers
                if w.address not in self.book.open and w.address not in self.book.busy]
        if free:
            await self._borrow(self._rng.choice(free), intended_at)
            return True
        loan = self.book.oldest(risky=False)
        if loan is None:
            return False
        await self._close(loan, "repayment", intended_at)
        return True

    async def _submit(self, request: TxRequest, kind: str, loan: PoolLoan | None,
                      borrower: str | None) -> TxEvent | None:
        """Send through the engine; ``None`` when the outcome is unknown (timed out, or the
        step cancelled after the send): the transaction is then resolved from its receipt
        before the books check, and its borrower left alone until then."""
        sent: list[str] = []
        request.on_sent = sent.append
        if borrower is not None:
            self.book.busy.add(borrower)
        try:
            event = await self.engine.submit(request)
        except asyncio.CancelledError:
            if sent:
                self.book.uncertain.append((sent[0], kind, loan))
                self.book.sent(sent[0], kind, loan)
            elif borrower is not None:
                self.book.busy.discard(borrower)
            raise
        self.book.sent(event.tx_hash, kind, loan)
        if event.outcome is Outcome.TIMEOUT:
            self.book.uncertain.append((event.tx_hash, kind, loan))
            return None
        if borrower is not None:
            self.book.busy.discard(borrower)
        if event.outcome is Outcome.SUCCESS:
            self.book.landed(event.tx_hash)
        return event

    async def _deposit(self, intended_at: float) -> None:
        self.skipped += 1
        event = await self._submit(TxRequest(
            self.name, "deposit", next(self._liquidators), self.pool, 0,
            call_data("deposit(uint256)", TOP_UP_DEPOSIT), self._gas(DEPOSIT_GAS),
            intended_at=intended_at), "deposit", None, None)
        if event is not None and event.outcome is Outcome.SUCCESS:
            self.book.deposits += TOP_UP_DEPOSIT

    async def _borrow(self, borrower: Wallet, intended_at: float) -> None:
        collateral = self._rng.randint(*COLLATERAL_WEI)
        limit = borrow_limit(collateral)
        risky = self._rng.random() < RISKY_SHARE
        principal = limit if risky else limit * self._rng.randint(30, 70) // 100
        loan = PoolLoan(borrower, principal, collateral, risky, intended_at, intended_at)
        event = await self._submit(TxRequest(
            self.name, "borrow", borrower, self.pool, collateral,
            call_data("borrow(uint256)", principal), self._gas(BORROW_GAS),
            intended_at=intended_at),
            "borrow", loan, borrower.address)
        if event is not None and event.outcome is Outcome.SUCCESS:
            loan.borrowed_at = event.finished_at
            self.book.open[borrower.address] = loan
            self.book.borrowed += 1

    async def _close(self, loan: PoolLoan, operation: str, intended_at: float) -> None:
        address = loan.borrower.address
        if operation == "repayment":
            sender, data, gas = loan.borrower, call_data("repay()"), self._gas(REPAY_GAS)
        else:
            sender, data = next(self._liquidators), call_data("liquidate(address)", address)
            gas = self._gas(LIQUIDATE_GAS)
        event = await self._submit(TxRequest(
            self.name, operation, sender, self.pool, 0, data, gas, intended_at=intended_at),
            operation, loan, address)
        if event is None or event.outcome is not Outcome.SUCCESS:
            return
        self.book.open.pop(address, None)
        if operation == "repayment":
            self.book.repaid += 1
        else:
            self.book.liquidated += 1
        done = "loan_repaid" if operation == "repayment" else "loan_liquidated"
        self.goodput.record(self.name, done, loan.intended_at, event.finished_at)
