"""Value-transfer workloads: user payments and merchant settlements.

Both are one class: they differ in who pays whom and how much, not in code.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import random
from collections.abc import Callable, Sequence

from utils.chain.tx_engine import TxEngine, TxRequest
from utils.chain.wallets import Wallet
from utils.load.workload import Workload
from utils.observe.events import TxEvent

#: wei ranges per transfer (inclusive); small, so a testnet run costs little
PAYMENT_WEI = (10**12, 10**14)
SETTLEMENT_WEI = (10**12, 10**14)


class TransferWorkload(Workload):
    """Each step sends a non-zero value from the next sender to a seeded-random recipient."""

    def __init__(
        self,
        name: str,
        operation: str,
        engine: TxEngine,
        senders: Sequence[Wallet],
        recipients: Sequence[Wallet],
        amount_wei: tuple[int, int],
        rng: random.Random,
        gas: int | None = None,  # default: the chain's transfer gas (L1 data included)
    ) -> None:
        if not senders or not recipients:
            raise ValueError(f"{name}: needs senders and recipients")
        if amount_wei[0] <= 0 or amount_wei[1] < amount_wei[0]:
            raise ValueError(f"{name}: bad amount range {amount_wei}")
        self.name = name
        self.operation = operation
        self.engine = engine
        self.senders = list(senders)
        self._senders = itertools.cycle(senders)
        self.recipients = list(recipients)
        self.amount_wei = amount_wei
        self.gas = gas if gas is not None else engine.fees.transfer_gas
        self._rng = rng

    @property
    def max_cost_wei(self) -> int:
        """Upper bound of one step's cost to its sender at current fees."""
        return self.amount_wei[1] + self.gas * self.engine.fees.max_fee

    def funding_needs(self, steps: float) -> dict[str, int]:
        share = math.ceil(steps / len(self.senders)) * self.max_cost_wei
        return {w.address: share for w in self.senders}

    def request(self, intended_at: float) -> TxRequest:
        return TxRequest(
            workload=self.name,
            operation=self.operation,
            sender=next(self._senders),
            to=self._rng.choice(self.recipients).address,
            value=self._rng.randint(*self.amount_wei),
            gas=self.gas,
            intended_at=intended_at,
        )

    async def step(self, intended_at: float) -> None:
        await self.engine.submit(self.request(intended_at))

    def fire(self, intended_at: float, on_sent: Callable[[], None]) -> asyncio.Future[TxEvent]:
        """One transfer, no task: the engine's future of its event."""
        return self.engine.start(self.request(intended_at), on_sent)


def payment_workload(
    engine: TxEngine, users: Sequence[Wallet], merchants: Sequence[Wallet], rng: random.Random
) -> TransferWorkload:
    """payment_app: users pay merchants."""
    return TransferWorkload("payment_app", "payment", engine, users, merchants, PAYMENT_WEI, rng)


def merchant_workload(
    engine: TxEngine, merchants: Sequence[Wallet], settlement: Wallet, rng: random.Random
) -> TransferWorkload:
    """merchant_app: merchants settle to the settlement account."""
    return TransferWorkload(
        "merchant_app", "settlement", engine, merchants, [settlement], SETTLEMENT_WEI, rng
    )
