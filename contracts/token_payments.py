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
from utils.observe.events import Outcome, TxEvent
from utils.observe.goodput import Goodput

__all__ = ["PAY_GAS", "SETTLE_GAS", "PaymentLedger", "SettlementWorkload",
           "TokenPaymentWorkload"]

PAY_GAS = 250_000
SETTLE_GAS = 200_000
PAYMENT_UNITS = (1_000_000, 100_000_000)  # 1 .. 100 KCUSD (6 decimals)


@dataclass
class PaymentLedger:
    """Confirmed payments per merchant address, and payments whose outcome is unknown
    (timed out: they may still land), resolved from their receipts before the books check."""

    received: dict[str, int] = field(default_factory=dict)
    unsettled: dict[str, int] = field(default_factory=dict)  # confirmed payments since settle
    uncertain: list[tuple[str, str, int]] = field(default_factory=list)  # tx, merchant, amount
    seen: set[str] = field(default_factory=set)  # every router tx whose hash the run knows
    payments: int = 0
    settlements: int = 0

    def book(self, merchant: str, amount: int) -> None:
        self.received[merchant] = self.received.get(merchant, 0) + amount
        self.unsettled[merchant] = self.unsettled.get(merchant, 0) + 1
        self.payments += 1

    async def resolve(self, rpc: Rpc) -> int:
        """Book the uncertain payments that did land; returns how many did."""
        landed = 0
        for tx_hash, merchant, amount in self.uncertain:
            receipt = await rpc.call("eth_getTransactionReceipt", tx_hash) if tx_hash else None
            if receipt is not None and hex_int(receipt["status"]) == 1:
                self.book(merchant, amount)
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
                self.ledger.seen.add(sent[0])
            raise
        self.ledger.seen.add(event.tx_hash)
        if event.outcome is Outcome.SUCCESS:
            self.ledger.book(merchant, amount)
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
            self.goodput.record(self.name, "settlement", intended_at, event.finished_at)
