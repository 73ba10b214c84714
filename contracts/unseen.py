"""Transactions the run sent but never saw an outcome (or even a hash) for.

A step cancelled at the end of a run (or of a capacity step) may have had its transaction
signed and handed to a send lane already: the chain includes it, the workload never hears
of it. Before the books are compared, the blocks of the load are scanned for successful
transactions from the run's wallets to the router or the pool whose hashes no workload
recorded, and their effects are booked from their calldata (the same effects a seen
success books), so the books compare what the chain did with what the run did.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from eth_utils import to_checksum_address

from contracts.pool_book import PoolBook, PoolLoan
from contracts.token_payments import PaymentLedger
from stylus_contracts.dapps import decode_words, selector
from utils.chain.dapp_deploy import DAppContracts
from utils.chain.rpc import Rpc, hex_int
from utils.chain.wallets import Wallet

__all__ = ["book_unseen", "find_unseen", "seen_hashes"]

log = logging.getLogger(__name__)

PAY = selector("pay(address,uint256,bytes32)")
BORROW, REPAY = selector("borrow(uint256)"), selector("repay()")
LIQUIDATE, DEPOSIT = selector("liquidate(address)"), selector("deposit(uint256)")
CHUNK = 50


async def _blocks(rpc: Rpc, first: int, last: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for start in range(first, last + 1, CHUNK):
        calls = [("eth_getBlockByNumber", [hex(n), True])
                 for n in range(start, min(last, start + CHUNK - 1) + 1)]
        out += [b for b in await rpc.batch(calls) if isinstance(b, dict)]
    return out


def _book_payment(ledger: PaymentLedger, data: bytes) -> None:
    merchant, amount, _ref = decode_words(["address", "uint256", "bytes32"], data[4:])
    ledger.book(to_checksum_address(str(merchant)), int(amount))


def _book_pool(book: PoolBook, wallets: dict[str, Wallet], tx: dict[str, Any],
               data: bytes) -> None:
    sender = wallets.get(str(tx["from"]).lower())
    if data[:4] == DEPOSIT:
        book.deposits += int(decode_words(["uint256"], data[4:])[0])
    elif data[:4] == BORROW and sender is not None:
        principal = int(decode_words(["uint256"], data[4:])[0])
        book.open[sender.address] = PoolLoan(sender, principal, hex_int(tx["value"]), False,
                                             0.0, 0.0)
        book.busy.discard(sender.address)
    elif data[:4] == REPAY and sender is not None:
        book.open.pop(sender.address, None)
    elif data[:4] == LIQUIDATE:
        borrower = str(decode_words(["address"], data[4:])[0])
        book.open.pop(next((a for a in book.open if a.lower() == borrower.lower()), ""), None)


def seen_hashes(ledger: PaymentLedger | None, book: PoolBook | None) -> set[str]:
    """Every router and pool transaction whose hash a workload recorded (lower case)."""
    hashes = (ledger.seen if ledger else set()) | (book.seen if book else set())
    return {h.lower() for h in hashes if h}


async def find_unseen(rpc: Rpc, contracts: DAppContracts, senders: Sequence[Wallet],
                      first_block: int, seen: set[str], last: int | None = None
                      ) -> list[dict[str, Any]]:
    """The transactions mined since ``first_block`` (up to ``last``, else the node's head)
    from ``senders`` to the router or the pool whose hash is not in ``seen``."""
    wallets = {w.address.lower() for w in senders}
    targets = (contracts.router.lower(), contracts.pool.lower())
    if last is None:
        last = hex_int(await rpc.call("eth_blockNumber"))
    return [tx for block in await _blocks(rpc, first_block, last)
            for tx in block.get("transactions", [])
            if isinstance(tx, dict) and str(tx.get("from", "")).lower() in wallets
            and str(tx.get("to") or "").lower() in targets
            and str(tx["hash"]).lower() not in seen]


async def _succeeded(rpc: Rpc, txs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The ones of ``txs`` whose receipt says success (receipts read in batches)."""
    ok: list[dict[str, Any]] = []
    for start in range(0, len(txs), CHUNK):
        chunk = txs[start:start + CHUNK]
        receipts = await rpc.batch([("eth_getTransactionReceipt", [tx["hash"]]) for tx in chunk])
        ok += [tx for tx, receipt in zip(chunk, receipts, strict=True)
               if isinstance(receipt, dict) and hex_int(receipt["status"]) == 1]
    return ok


async def book_unseen(rpc: Rpc, contracts: DAppContracts, senders: Sequence[Wallet],
                      first_block: int, ledger: PaymentLedger | None,
                      book: PoolBook | None, last: int | None = None) -> int:
    """Book the unseen successful router / pool transactions since ``first_block``; how many
    were booked (a settlement changes nothing the run books: the router holds its effect)."""
    wallets = {w.address.lower(): w for w in senders}
    unseen = await find_unseen(rpc, contracts, senders, first_block, seen_hashes(ledger, book),
                               last)
    if not unseen:
        return 0
    succeeded = await _succeeded(rpc, unseen)
    router = contracts.router.lower()
    booked = 0
    for tx in succeeded:
        data = bytes.fromhex(str(tx["input"])[2:])
        if str(tx["to"]).lower() == router:
            if data[:4] == PAY and ledger is not None:
                _book_payment(ledger, data)
                booked += 1
        elif book is not None:
            _book_pool(book, wallets, tx, data)
            booked += 1
    log.info("books: %d transactions the run never saw an outcome for; %d succeeded, %d "
             "booked from their calldata", len(unseen), len(succeeded), booked)
    return booked
