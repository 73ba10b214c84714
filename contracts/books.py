"""The books check after a dApp run: the chain's state against what the run booked.

* token: total supply = what the run minted, and = the sum of every holder's balance;
* router, per merchant: payments the run saw confirmed = ``receivedOf`` =
  ``escrowOf + settledOf``;
* pool: its token balance (cash) = deposits - outstanding principal + interest repaid;
  ``totalDeposits`` = the run's deposits; ``totalBorrowed`` and ``openLoans`` = the local
  loan book; every borrower's ``loanOf`` (principal, collateral) = the local loan.

Transactions that timed out are first resolved from their receipts (they may have
landed). Any mismatch is a :class:`Discrepancy`; a run with one fails (exit 1).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from contracts.pool_lending import PoolBook
from contracts.token_payments import PaymentLedger
from contracts.unseen import book_unseen
from stylus_contracts.dapps import call_data
from utils.chain.dapp_deploy import DAppContracts, eth_call, settle_pending
from utils.chain.rpc import Rpc, hex_int
from utils.chain.wallets import Wallet

__all__ = ["Books", "Discrepancy", "check_books"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Discrepancy:
    book: str  # token / router / pool
    what: str
    expected: int
    actual: int

    def line(self) -> str:
        return (f"books do not balance: {self.book}: {self.what}: expected {self.expected}, "
                f"chain has {self.actual} (difference {self.actual - self.expected:+d})")

    def as_dict(self) -> dict[str, object]:
        return {"book": self.book, "what": self.what, "expected": self.expected,
                "actual": self.actual}


@dataclass
class Books:
    """What the run booked: mints, holders, the payment ledger and the pool's loan book."""

    contracts: DAppContracts
    holders: Sequence[str]  # every address that may hold tokens
    minted: int
    ledger: PaymentLedger | None
    pool: PoolBook | None
    block: str = "latest"  # every read of the check is at this block
    wallets: Sequence[Wallet] = ()  # the run's senders, for transactions it never saw end
    first_block: int | None = None  # where the load's blocks start
    #: the highest block the run saw (its follower's head): a lagging eth_blockNumber (a load
    #: balancer's stale replica) must not hide the run's last blocks from the check
    seen_head: int = 0


async def _word(rpc: Rpc, books: Books, to: str, signature: str, *args: object) -> int:
    out = await eth_call(rpc, to, call_data(signature, *args), books.block)
    return int.from_bytes(out[:32], "big")


async def _words(rpc: Rpc, books: Books, to: str, signature: str, *args: object) -> list[int]:
    out = await eth_call(rpc, to, call_data(signature, *args), books.block)
    return [int.from_bytes(out[i : i + 32], "big") for i in range(0, len(out), 32)]


def _expect(found: list[Discrepancy], book: str, what: str, expected: int, actual: int) -> None:
    if expected != actual:
        found.append(Discrepancy(book, what, expected, actual))


async def _token(rpc: Rpc, books: Books, found: list[Discrepancy]) -> None:
    token = books.contracts.token
    supply = await _word(rpc, books, token, "totalSupply()")
    balances = await asyncio.gather(*(_word(rpc, books, token, "balanceOf(address)", h)
                                      for h in books.holders))
    _expect(found, "token", "total supply vs minted", books.minted, supply)
    _expect(found, "token", "sum of balances vs total supply", supply, sum(balances))


async def _router(rpc: Rpc, books: Books, found: list[Discrepancy]) -> None:
    assert books.ledger is not None
    router = books.contracts.router
    for merchant, paid in sorted(books.ledger.received.items()):
        received = await _word(rpc, books, router, "receivedOf(address)", merchant)
        escrow = await _word(rpc, books, router, "escrowOf(address)", merchant)
        settled = await _word(rpc, books, router, "settledOf(address)", merchant)
        _expect(found, "router", f"payments received by {merchant}", paid, received)
        _expect(found, "router", f"escrow + settled of {merchant}", paid, escrow + settled)


async def _pool(rpc: Rpc, books: Books, found: list[Discrepancy]) -> None:
    assert books.pool is not None
    book, pool = books.pool, books.contracts.pool
    cash = await _word(rpc, books, books.contracts.token, "balanceOf(address)", pool)
    deposits = await _word(rpc, books, pool, "totalDeposits()")
    borrowed = await _word(rpc, books, pool, "totalBorrowed()")
    interest = await _word(rpc, books, pool, "interestEarned()")
    _expect(found, "pool", "cash vs deposits - outstanding + interest repaid",
            deposits - borrowed + interest, cash)
    _expect(found, "pool", "total deposits vs the run's deposits", book.deposits, deposits)
    _expect(found, "pool", "outstanding principal vs the loan book", book.outstanding, borrowed)
    _expect(found, "pool", "open loans vs the loan book", len(book.open),
            await _word(rpc, books, pool, "openLoans()"))
    for address, loan in book.open.items():
        collateral, principal, _since = await _words(rpc, books, pool, "loanOf(address)", address)
        _expect(found, "pool", f"principal of {address}'s loan", loan.principal, principal)
        _expect(found, "pool", f"collateral of {address}'s loan", loan.collateral, collateral)


async def check_books(rpc: Rpc, books: Books, *, senders: Sequence[str] = (),
                      settle_timeout: float = 30.0) -> list[Discrepancy]:
    """Wait for the senders' pending transactions to be mined (or the timeout), resolve
    the ones whose outcome the run did not see, then compare every book with the chain at
    one block."""
    if senders:
        left = await settle_pending(rpc, senders, settle_timeout)
        if left:
            log.warning("%d senders still have pending transactions after %g s: the books "
                        "are checked without them", left, settle_timeout)
    unknown = (len(books.ledger.uncertain) if books.ledger else 0) + \
        (len(books.pool.uncertain) if books.pool else 0)
    landed = await books.ledger.resolve(rpc) if books.ledger is not None else 0
    landed += await books.pool.resolve(rpc) if books.pool is not None else 0
    if unknown:
        log.info("books: %d of %d transactions whose outcome the run did not see had landed",
                 landed, unknown)
    head = max(hex_int(await rpc.call("eth_blockNumber")), books.seen_head)
    if books.first_block is not None:
        await book_unseen(rpc, books.contracts, books.wallets, books.first_block, books.ledger,
                          books.pool, head)
    books.block = hex(head)  # one state for all reads
    found: list[Discrepancy] = []
    await _token(rpc, books, found)
    if books.ledger is not None:
        await _router(rpc, books, found)
    if books.pool is not None:
        await _pool(rpc, books, found)
    return found
