"""lending_app: loan originations (lender -> borrower) and repayments (borrower -> lender).

Steps alternate between originating a loan and repaying the oldest loan still
open (originating when none is open), so the default rate of 1 step/s is one
origination and one repayment every 2 s. The loan book tracks every loan and
measures the time from origination to repayment (both from inclusion).
"""

from __future__ import annotations

import itertools
import math
import random
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from utils.chain.tx_engine import TxEngine, TxRequest
from utils.chain.wallets import Wallet
from utils.load.workload import Workload
from utils.observe.events import Outcome
from utils.observe.histogram import Histogram

PRINCIPAL_WEI = (10**14, 10**15)
INTEREST_BPS = (100, 500)  # 1% .. 5%


@dataclass(slots=True)
class Loan:
    loan_id: int
    lender: Wallet
    borrower: Wallet
    principal: int
    interest: int
    originated_at: float  # run clock, when the origination receipt was seen
    origination_tx: str
    repaid_at: float | None = None

    @property
    def due(self) -> int:
        return self.principal + self.interest


class LoanBook:
    """Open and repaid loans; origination-to-repaid time as a histogram."""

    def __init__(self) -> None:
        self._open: deque[Loan] = deque()
        self._ids = itertools.count(1)
        self.originated = 0
        self.repaid = 0
        self.outstanding_wei = 0
        self.time_to_repay = Histogram()

    @property
    def open_count(self) -> int:
        return len(self._open)

    def next_id(self) -> int:
        return next(self._ids)

    def add(self, loan: Loan) -> None:
        self._open.append(loan)
        self.originated += 1
        self.outstanding_wei += loan.principal

    def take_oldest(self) -> Loan | None:
        """Reserve the oldest open loan for repayment (put it back with :meth:`reopen`)."""
        return self._open.popleft() if self._open else None

    def reopen(self, loan: Loan) -> None:
        self._open.appendleft(loan)

    def close(self, loan: Loan, repaid_at: float) -> None:
        loan.repaid_at = repaid_at
        self.repaid += 1
        self.outstanding_wei -= loan.principal
        self.time_to_repay.observe(repaid_at - loan.originated_at)

    def summary(self) -> dict[str, float]:
        repay = self.time_to_repay.summary()
        return {
            "originated": self.originated,
            "repaid": self.repaid,
            "open": self.open_count,
            "outstanding_wei": self.outstanding_wei,
            "repay_time_p50_sec": repay["p50"],
            "repay_time_p95_sec": repay["p95"],
            "repay_time_max_sec": repay["max"],
        }


class LendingWorkload(Workload):
    name = "lending_app"

    def __init__(
        self,
        engine: TxEngine,
        lenders: Sequence[Wallet],
        borrowers: Sequence[Wallet],
        rng: random.Random,
    ) -> None:
        self.engine = engine
        self.lenders = list(lenders)
        self._lenders = itertools.cycle(lenders)
        self.borrowers = list(borrowers)
        self._rng = rng
        self.book = LoanBook()
        self._repay_next = False

    @property
    def max_cost_wei(self) -> int:
        """Upper bound of an origination's cost to its lender."""
        return PRINCIPAL_WEI[1] + self.engine.fees.transfer_gas * self.engine.fees.max_fee

    def funding_needs(self, steps: float) -> dict[str, int]:
        """Lenders fund originations; borrowers pay interest and gas (principal comes back)."""
        fee = self.engine.fees.transfer_gas * self.engine.fees.max_fee
        per_lender = math.ceil(steps / 2 / len(self.lenders)) * self.max_cost_wei
        max_interest = PRINCIPAL_WEI[1] * INTEREST_BPS[1] // 10_000
        per_borrower = math.ceil(steps / 2 / len(self.borrowers)) * (max_interest + fee)
        needs = {w.address: per_lender for w in self.lenders}
        for w in self.borrowers:
            needs[w.address] = needs.get(w.address, 0) + per_borrower + PRINCIPAL_WEI[1]
        return needs

    async def step(self, intended_at: float) -> None:
        repay, self._repay_next = self._repay_next, not self._repay_next
        loan = self.book.take_oldest() if repay else None
        if loan is None:
            await self._originate(intended_at)
        else:
            await self._repay(loan, intended_at)

    async def _originate(self, intended_at: float) -> None:
        lender = next(self._lenders)
        borrower = self._rng.choice(self.borrowers)
        principal = self._rng.randint(*PRINCIPAL_WEI)
        event = await self.engine.submit(
            TxRequest(self.name, "origination", lender, borrower.address, principal,
                      intended_at=intended_at, gas=self.engine.fees.transfer_gas)
        )
        if event.outcome is Outcome.SUCCESS:
            interest = principal * self._rng.randint(*INTEREST_BPS) // 10_000
            self.book.add(Loan(self.book.next_id(), lender, borrower, principal, interest,
                               event.finished_at, event.tx_hash))

    async def _repay(self, loan: Loan, intended_at: float) -> None:
        event = await self.engine.submit(
            TxRequest(self.name, "repayment", loan.borrower, loan.lender.address, loan.due,
                      intended_at=intended_at, gas=self.engine.fees.transfer_gas)
        )
        if event.outcome is Outcome.SUCCESS:
            self.book.close(loan, event.finished_at)
        else:
            self.book.reopen(loan)
