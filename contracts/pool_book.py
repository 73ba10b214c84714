"""The run's mirror of the lending pool (:class:`PoolBook`), kept true to what the chain did.

The lending workload books each outcome it sees (a borrow opens a loan, a repayment or a
liquidation closes it, a deposit adds to the pool's deposits). What the chain did can change
afterwards: a late receipt turns a timeout into a success, a reorg removes a success, or its
transaction sent again reverts in the new state. Those arrive as
:class:`~utils.observe.events.TxCorrectionEvent` (the book listens to the stats hub), and the
book follows them: a transaction that is no longer a success leaves the book, one that became
one enters it. A loan is open exactly while its borrow is a success and none of the
transactions that closed it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from utils.chain.rpc import Rpc, hex_int
from utils.chain.wallets import Wallet
from utils.observe.events import Outcome, TxCorrectionEvent
from utils.observe.tally import Tally

__all__ = ["TOP_UP_DEPOSIT", "PoolBook", "PoolLoan"]

TOP_UP_DEPOSIT = 10_000_000  # 10 KCUSD: what a lender deposits on a busy step
WORKLOAD = "lending_app"


@dataclass(slots=True, eq=False)
class PoolLoan:
    borrower: Wallet
    principal: int
    collateral: int
    risky: bool
    intended_at: float  # run clock: when the borrow was meant to be sent
    borrowed_at: float  # run clock: when its receipt was seen
    borrow_tx: str = ""  # the borrow's hash ("" for a loan booked from calldata)
    close_txs: list[str] = field(default_factory=list)  # repayments / liquidations sent


@dataclass
class PoolBook:
    """The local mirror of the pool."""

    deposits: int = 0
    open: dict[str, PoolLoan] = field(default_factory=dict)  # borrower address -> loan
    busy: set[str] = field(default_factory=set)  # a transaction of theirs is in flight
    uncertain: list[tuple[str, str, PoolLoan | None]] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)  # every pool tx whose hash the run knows
    borrowed: int = 0
    repaid: int = 0
    liquidated: int = 0
    #: hash -> (operation, loan): what each pool transaction of the run does
    effects: dict[str, tuple[str, PoolLoan | None]] = field(default_factory=dict)
    succeeded: set[str] = field(default_factory=set)  # hashes booked as successes
    corrected: int = 0  # corrections that changed the book

    @property
    def outstanding(self) -> int:
        return sum(loan.principal for loan in self.open.values())

    def oldest(self, *, risky: bool, before: float | None = None) -> PoolLoan | None:
        for loan in self.open.values():  # insertion order: oldest first
            if loan.risky != risky or loan.borrower.address in self.busy:
                continue
            if before is None or loan.borrowed_at <= before:
                return loan
        return None

    def sent(self, tx_hash: str, operation: str, loan: PoolLoan | None) -> None:
        """A transaction of the run's (its effect is known from now on)."""
        if not tx_hash:
            return
        self.seen.add(tx_hash)
        self.effects[tx_hash] = (operation, loan)
        if loan is not None:
            if operation == "borrow":
                loan.borrow_tx = tx_hash
            elif tx_hash not in loan.close_txs:
                loan.close_txs.append(tx_hash)

    def landed(self, tx_hash: str) -> None:
        """The workload booked ``tx_hash`` as a success."""
        self.succeeded.add(tx_hash)

    def on_tally(self, tally: Tally) -> None:
        """Stats-hub listener: the corrections of the pool's transactions."""
        for event in tally.others:
            if isinstance(event, TxCorrectionEvent) and event.workload == WORKLOAD:
                self.apply(event.tx_hash, event.new_outcome == Outcome.SUCCESS.value)

    def apply(self, tx_hash: str, success: bool) -> bool:
        """The chain's outcome of ``tx_hash`` is now (not) a success: book the difference.
        False when the book already says so (or the transaction is not the run's)."""
        effect = self.effects.get(tx_hash)
        if effect is None or (tx_hash in self.succeeded) == success:
            return False
        operation, loan = effect
        sign = 1 if success else -1
        if success:
            self.succeeded.add(tx_hash)
        else:
            self.succeeded.discard(tx_hash)
        self.uncertain = [u for u in self.uncertain if u[0] != tx_hash]
        if loan is None:
            self.deposits += sign * TOP_UP_DEPOSIT
        else:
            self._count(operation, sign)
            self._reopen(loan)
            self.busy.discard(loan.borrower.address)
        self.corrected += 1
        return True

    def _count(self, operation: str, sign: int) -> None:
        if operation == "borrow":
            self.borrowed += sign
        elif operation == "repayment":
            self.repaid += sign
        else:
            self.liquidated += sign

    def _reopen(self, loan: PoolLoan) -> None:
        """The loan is open while its borrow succeeded and nothing that closed it did."""
        address = loan.borrower.address
        is_open = (loan.borrow_tx in self.succeeded
                   and not any(h in self.succeeded for h in loan.close_txs))
        current = self.open.get(address)
        if is_open and current is None:
            self.open[address] = loan
        elif not is_open and current is loan:
            del self.open[address]

    async def resolve(self, rpc: Rpc) -> int:
        """Apply the uncertain (timed-out) transactions that did land."""
        landed = 0
        for tx_hash, kind, loan in self.uncertain:
            if not tx_hash or tx_hash in self.succeeded:
                continue
            receipt = await rpc.call("eth_getTransactionReceipt", tx_hash)
            if receipt is None or hex_int(receipt["status"]) != 1:
                continue
            landed += 1
            self.succeeded.add(tx_hash)
            if loan is None:  # a deposit
                self.deposits += TOP_UP_DEPOSIT
            elif kind == "borrow":
                self.open[loan.borrower.address] = loan
            else:
                self.open.pop(loan.borrower.address, None)
        self.uncertain.clear()
        return landed
