"""Token payments through the payment router (payment_app) and merchants settling their
escrow (merchant_app), on the stablecoin.

payment_app: a user calls ``router.pay(merchant, amount, orderRef)``; the router pulls the
tokens with ``transferFrom`` (one approve at set-up) into the merchant's escrow.
merchant_app: a merchant calls ``router.settle(merchant)``, which pays its escrow out to
its settlement address. The :class:`PaymentLedger` books every confirmed payment, so the
books check can compare it with the router (payments = escrow + settled, per merchant).
"""

from __future__ import annotations

import asyncio
import itertools
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from stylus_contracts.dapps import call_data
from utils.chain.dapp_deploy import l1_allowance
from utils.chain.rpc import Rpc, hex_int
from utils.chain.tx_engine import TxEngine, TxRequest
from utils.chain.wallets import Wallet
from utils.load.workload import Workload
from utils.observe.events import Outcome, TxCorrectionEvent, TxEvent
from utils.observe.goodput import Goodput
from utils.observe.tally import Tally

__all__ = ["PAY_GAS", "SETTLE_GAS", "PaymentLedger", "SettlementWorkload",
           "TokenPaymentWorkload"]

PAY_GAS = 250_000
SETTLE_GAS = 200_000
PAYMENT_UNITS = (1_000_000, 100_000_000)  # 1 .. 100 KCUSD (6 decimals)
WORKLOADS = frozenset({"payment_app", "merchant_app"})


@dataclass
class PaymentLedger:
    """Confirmed payments per merchant address, and payments whose outcome is unknown
    (timed out: they may still land), resolved from their receipts before the books check.

    The ledger follows the corrections of outcomes (a stats-hub listener): a payment that is no
    longer a success (a reorg removed it, or its transaction sent again reverted) leaves the
    books; one that became a success (a late receipt) enters them. So do settlements' counts
    (the router holds what a settlement moved)."""

    received: dict[str, int] = field(default_factory=dict)
    unsettled: dict[str, int] = field(default_factory=dict)  # confirmed payments since settle
    uncertain: list[tuple[str, str, int]] = field(default_factory=list)  # tx, merchant, amount
    seen: set[str] = field(default_factory=set)  # every router tx whose hash the run knows
    payments: int = 0
    settlements: int = 0
    effects: dict[str, tuple[str, int]] = field(default_factory=dict)  # payment -> its effect
    succeeded: set[str] = field(default_factory=set)  # payments and settlements booked
    corrected: int = 0  # corrections that changed the books

    def book(self, merchant: str, amount: int, sign: int = 1) -> None:
        self.received[merchant] = self.received.get(merchant, 0) + sign * amount
        self.unsettled[merchant] = max(0, self.unsettled.get(merchant, 0) + sign)
        self.payments += sign

    def paid(self, tx_hash: str, merchant: str, amount: int) -> None:
        """A payment of the run was sent as ``tx_hash``."""
        if tx_hash:
            self.seen.add(tx_hash)
            self.effects[tx_hash] = (merchant, amount)

    def landed(self, tx_hash: str) -> None:
        """The workload booked ``tx_hash`` (a payment or a settlement) as a success."""
        self.succeeded.add(tx_hash)

    def on_tally(self, tally: Tally) -> None:
        """Stats-hub listener: the corrections of payments and settlements."""
        for event in tally.others:
            if isinstance(event, TxCorrectionEvent) and event.workload in WORKLOADS:
                self.apply(event.tx_hash, event.new_outcome == Outcome.SUCCESS.value)

    def apply(self, tx_hash: str, success: bool) -> bool:
        """The chain's outcome of ``tx_hash`` is now (not) a success: book the difference.
        False when the books already say so (or the transaction is not the run's)."""
        if tx_hash not in self.seen or (tx_hash in self.succeeded) == success:
            return False
        sign = 1 if success else -1
        if success:
            self.succeeded.add(tx_hash)
        else:
            self.succeeded.discard(tx_hash)
        effect = self.effects.get(tx_hash)
        if effect is None:  # a settlement
            self.settlements += sign
        else:
            self.book(*effect, sign=sign)
            self.uncertain = [u for u in self.uncertain if u[0] != tx_hash]
        self.corrected += 1
        return True

    async def resolve(self, rpc: Rpc) -> int:
        """Book the uncertain payments that did land; returns how many did."""
        landed = 0
        for tx_hash, merchant, amount in self.uncertain:
            if not tx_hash or tx_hash in self.succeeded:
                continue
            receipt = await rpc.call("eth_getTransactionReceipt", tx_hash)
            if receipt is not None and hex_int(receipt["status"]) == 1:
                self.book(merchant, amount)
                self.succeeded.add(tx_hash)
                landed += 1
        self.uncertain.clear()
        return landed


def _uncertain(event: TxEvent) -> bool:
    return event.outcome is Outcome.TIMEOUT


class TokenPaymentWorkload(Workload):
    """payment_app on the router: each step, the next user pays a seeded-random merchant."""

    name = "payment_app"

    def __init__(self, engine: TxEngine, router: str, users: Sequence[Wallet],
                 merchants: Sequence[Wallet], ledger: PaymentLedger, goodput: Goodput,
                 rng: random.Random) -> None:
        if not users or not merchants:
            raise ValueError("payment_app: needs users and merchants")
        self.engine, self.router, self.ledger, self.goodput = engine, router, ledger, goodput
        self.users, self.merchants = list(users), list(merchants)
        self._users = itertools.cycle(self.users)
        self._rng = rng

    def _gas(self, base: int) -> int:
        """``base`` plus the allowance for the chain's L1 data charge (0 off Nitro)."""
        return base + l1_allowance(self.engine.fees)

    def funding_needs(self, steps: float) -> dict[str, int]:
        fee = self.engine.fees.max_fee
        share = math.ceil(steps / len(self.users)) * self._gas(PAY_GAS) * fee
        return {w.address: share for w in self.users}

    async def step(self, intended_at: float) -> None:
        merchant = self._rng.choice(self.merchants).address
        amount = self._rng.randint(*PAYMENT_UNITS)
        data = call_data("pay(address,uint256,bytes32)", merchant, amount,
                         self._rng.randbytes(32))
        sent: list[str] = []
        request = TxRequest(self.name, "payment", next(self._users), self.router, 0, data,
                            self._gas(PAY_GAS), intended_at=intended_at, on_sent=sent.append)
        try:
            event = await self.engine.submit(request)
        except asyncio.CancelledError:  # sent, outcome unknown: resolved before the check
            if sent:
                self.ledger.uncertain.append((sent[0], merchant, amount))
                self.ledger.paid(sent[0], merchant, amount)
            raise
        self.ledger.paid(event.tx_hash, merchant, amount)
        if event.outcome is Outcome.SUCCESS:
            self.ledger.book(merchant, amount)
            self.ledger.landed(event.tx_hash)
            self.goodput.record(self.name, "payment", intended_at, event.finished_at)
        elif _uncertain(event):
            self.ledger.uncertain.append((event.tx_hash, merchant, amount))


class SettlementWorkload(Workload):
    """merchant_app on the router: each step, the merchant with the most confirmed payments
    since its last settlement (round robin among equals) settles its escrow."""

    name = "merchant_app"

    def __init__(self, engine: TxEngine, router: str, merchants: Sequence[Wallet],
                 ledger: PaymentLedger, goodput: Goodput) -> None:
        if not merchants:
            raise ValueError("merchant_app: needs merchants")
        self.engine, self.router, self.ledger, self.goodput = engine, router, ledger, goodput
        self.merchants = list(merchants)
        self._turn = 0
        self._settling: set[str] = set()

    def _gas(self, base: int) -> int:
        """``base`` plus the allowance for the chain's L1 data charge (0 off Nitro)."""
        return base + l1_allowance(self.engine.fees)

    def funding_needs(self, steps: float) -> dict[str, int]:
        fee = self.engine.fees.max_fee
        share = math.ceil(steps / len(self.merchants)) * self._gas(SETTLE_GAS) * fee
        return {w.address: share for w in self.merchants}

    def _pick(self) -> Wallet:
        self._turn += 1
        order = self.merchants[self._turn % len(self.merchants):] + \
            self.merchants[: self._turn % len(self.merchants)]
        free = [w for w in order if w.address not in self._settling] or order
        return max(free, key=lambda w: self.ledger.unsettled.get(w.address, 0))

    async def step(self, intended_at: float) -> None:
        merchant = self._pick()
        self._settling.add(merchant.address)
        self.ledger.unsettled[merchant.address] = 0
        sent: list[str] = []  # the hash once sent: a step cancelled after it is still seen
        try:
            event = await self.engine.submit(TxRequest(
                self.name, "settlement", merchant, self.router, 0,
                call_data("settle(address)", merchant.address), self._gas(SETTLE_GAS),
                intended_at=intended_at, on_sent=sent.append))
        finally:
            self._settling.discard(merchant.address)
            self.ledger.seen.update(sent)
        self.ledger.seen.add(event.tx_hash)
        if event.outcome is Outcome.SUCCESS:
            self.ledger.settlements += 1
            self.ledger.landed(event.tx_hash)
            self.goodput.record(self.name, "settlement", intended_at, event.finished_at)
