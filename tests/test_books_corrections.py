"""The dApp books follow corrected outcomes (contracts/token_payments.py PaymentLedger,
contracts/pool_book.py PoolBook): a success a reorg removed, or whose transaction sent again
reverted, leaves the books; a timeout a late receipt turned into a success enters them; a loan
is open exactly while its borrow succeeded and nothing that closed it did. The corrections
reach the books as the run's do: TxCorrectionEvents emitted to a real stats hub."""

from __future__ import annotations

import os

from contracts.pool_book import TOP_UP_DEPOSIT, PoolBook, PoolLoan
from contracts.token_payments import PaymentLedger
from utils.chain.wallets import WalletPool
from utils.observe.events import Outcome, TxCorrectionEvent
from utils.observe.stats import StatsHub

MERCHANT = "0x" + "4d" * 20


def _hash() -> str:
    return "0x" + os.urandom(32).hex()


def _correct(hub: StatsHub, workload: str, operation: str, tx_hash: str, old: Outcome,
             new: Outcome) -> None:
    hub.emit(TxCorrectionEvent(1.0, workload, operation, tx_hash, "0x" + "11" * 20, 1,
                               old.value, new.value, 7, None if new is not Outcome.SUCCESS
                               else 9, 50_000, 50_000, reason="reorg"))
    hub.flush()


def test_payments_and_settlements_follow_their_corrections() -> None:
    hub, ledger = StatsHub(), PaymentLedger()
    hub.listen(ledger)
    first, second, late, settle = _hash(), _hash(), _hash(), _hash()
    for tx_hash, amount in ((first, 5_000_000), (second, 7_000_000)):
        ledger.paid(tx_hash, MERCHANT, amount)
        ledger.book(MERCHANT, amount)
        ledger.landed(tx_hash)
    ledger.paid(late, MERCHANT, 11_000_000)  # timed out: uncertain until resolved
    ledger.uncertain.append((late, MERCHANT, 11_000_000))
    ledger.seen.add(settle)
    ledger.settlements += 1
    ledger.landed(settle)
    assert (ledger.received[MERCHANT], ledger.payments) == (12_000_000, 2)

    _correct(hub, "payment_app", "payment", first, Outcome.SUCCESS, Outcome.REORGED)
    assert (ledger.received[MERCHANT], ledger.payments) == (7_000_000, 1)
    _correct(hub, "payment_app", "payment", first, Outcome.REORGED, Outcome.REORGED)
    assert ledger.received[MERCHANT] == 7_000_000  # no change: nothing booked twice
    _correct(hub, "payment_app", "payment", late, Outcome.TIMEOUT, Outcome.SUCCESS)
    assert (ledger.received[MERCHANT], ledger.payments) == (18_000_000, 2)
    assert ledger.uncertain == []  # resolved by its correction, never booked again
    _correct(hub, "merchant_app", "settlement", settle, Outcome.SUCCESS, Outcome.REVERTED)
    assert ledger.settlements == 0
    _correct(hub, "payment_app", "payment", _hash(), Outcome.SUCCESS, Outcome.REORGED)
    assert (ledger.received[MERCHANT], ledger.corrected) == (18_000_000, 3)


def test_the_pool_book_follows_borrows_closes_and_deposits() -> None:
    hub, book = StatsHub(), PoolBook()
    hub.listen(book)
    borrower = WalletPool.derive(os.urandom(32), 1, {"borrower": 1}).role("borrower")[0]
    loan = PoolLoan(borrower, 40_000_000, 10**16, False, 0.0, 0.0)
    borrow, repay, deposit = _hash(), _hash(), _hash()
    book.sent(borrow, "borrow", loan)
    book.landed(borrow)
    book.open[borrower.address] = loan
    book.borrowed += 1
    book.sent(repay, "repayment", loan)
    book.landed(repay)
    book.open.pop(borrower.address)
    book.repaid += 1
    book.sent(deposit, "deposit", None)
    book.landed(deposit)
    book.deposits += TOP_UP_DEPOSIT

    # the repayment sent again after a reorg reverted: the loan is open again
    _correct(hub, "lending_app", "repayment", repay, Outcome.SUCCESS, Outcome.REVERTED)
    assert (book.open.get(borrower.address), book.repaid) == (loan, 0)
    assert book.outstanding == 40_000_000
    # its borrow is gone too: no loan (a close cannot reopen a loan that never was)
    _correct(hub, "lending_app", "borrow", borrow, Outcome.SUCCESS, Outcome.REORGED)
    assert (book.open, book.borrowed) == ({}, 0)
    # a late receipt brings the borrow back: open, as no close of it succeeded
    _correct(hub, "lending_app", "borrow", borrow, Outcome.REORGED, Outcome.SUCCESS)
    assert book.open == {borrower.address: loan}
    _correct(hub, "lending_app", "repayment", repay, Outcome.REVERTED, Outcome.SUCCESS)
    assert book.open == {}
    _correct(hub, "lending_app", "deposit", deposit, Outcome.SUCCESS, Outcome.REORGED)
    assert book.deposits == 0
    _correct(hub, "payment_app", "payment", deposit, Outcome.REORGED, Outcome.SUCCESS)
    assert (book.deposits, book.corrected) == (0, 5)  # another workload's: not the pool's
