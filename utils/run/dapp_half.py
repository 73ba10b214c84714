"""The dApp half of a run: which flavour (``--dapp``), the contracts, their set-up, the
payment / merchant / lending workloads on them, goodput and the books check.

``stylus`` and ``evm`` deploy the stablecoin, the payment router and the lending pool (as
Stylus programs or as their Solidity twins) and run payment_app / merchant_app /
lending_app on them; ``transfers`` keeps the plain value-transfer workloads. The default
is ``stylus`` when the chain has Stylus (the embedded chain with ``--contract stylus``, or
a Nitro node), else ``evm``. Set-up (deploy, activate, mint, approve, deposit, settlement
addresses) goes through a private engine: it is not measured.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any

from contracts.books import Books, Discrepancy, check_books
from contracts.pool_lending import PoolBook, PoolLendingWorkload
from contracts.token_payments import PaymentLedger, SettlementWorkload, TokenPaymentWorkload
from stylus_contracts.dapps import MAX_UINT256, call_data
from utils.aio import all_or_cancel
from utils.chain.dapp_deploy import (
    SETUP_GAS,
    DAppContracts,
    SetupStep,
    chain_has_stylus,
    deploy_dapps,
    l1_allowance,
    run_setup,
)
from utils.chain.fees import FeePolicy
from utils.chain.rpc import hex_int
from utils.chain.session import ChainSession
from utils.chain.tx_engine import TxEngine
from utils.chain.wallets import WalletPool
from utils.errors import ConfigError
from utils.load.workload import Workload
from utils.observe.goodput import GasPerOperation, Goodput
from utils.observe.stats import StatsHub
from utils.settings import Settings

__all__ = ["DEPLOY_GAS_RESERVE", "DAppParts", "choose_flavour", "open_dapps"]

log = logging.getLogger(__name__)

UNIT = 10**6  # one KCUSD
USER_TOKENS = 10_000_000 * UNIT  # what each payer is minted
BORROWER_TOKENS = 100_000 * UNIT  # interest
LENDER_DEPOSIT = 10_000_000 * UNIT
LENDER_TOKENS = LENDER_DEPOSIT + 1_000_000 * UNIT  # deposit + what liquidations pay
WORKLOADS = frozenset({"payment_app", "merchant_app", "lending_app"})
#: three deployments (+ activations) and three initialisations, at most
DEPLOY_GAS_RESERVE = 12_000_000


async def choose_flavour(settings: Settings, session: ChainSession) -> str:
    """``--dapp`` if given, else stylus on a chain with Stylus and evm elsewhere."""
    flavour = settings.dapp
    spread = settings.workers > 1 or bool(settings.shard)
    if flavour is None and spread:
        log.info("--workers/--shard: payment, merchant and lending run as value transfers")
        return "transfers"
    if flavour is None:  # the embedded chain has Stylus unless --contract evm; anvil never
        flavour = "stylus" if await chain_has_stylus(session.rpc) else "evm"
    if flavour != "transfers" and spread:
        raise ConfigError("dapp", f"--dapp {flavour} runs in one process: use --dapp transfers "
                          "with --workers or --shard")
    return flavour


@dataclass
class DAppParts:
    contracts: DAppContracts
    workloads: list[Workload]
    wallets: WalletPool
    ledger: PaymentLedger
    book: PoolBook
    goodput: Goodput
    gas: GasPerOperation
    minted: int = 0
    first_block: int | None = None  # the first block after set-up
    discrepancies: list[Discrepancy] | None = None
    setup_gas: dict[str, int] = field(default_factory=dict)

    @property
    def flavour(self) -> str:
        return self.contracts.flavour

    def setup_needs(self, fees: FeePolicy) -> dict[str, int]:
        """Wei for each wallet's set-up transactions (at most two each), at the gas limit
        they are sent with: the call's and the allowance for Nitro's L1 data charge."""
        roles = ("user", "merchant", "lender", "borrower")
        each = 2 * (SETUP_GAS + l1_allowance(fees)) * fees.max_fee
        return {w.address: each for r in roles for w in self.wallets.role(r)}

    def _steps(self) -> tuple[list[SetupStep], list[SetupStep], list[SetupStep]]:
        """The funder's mints; the wallets' approvals and settlement addresses; the lenders'
        deposits."""
        c, pool = self.contracts, self.wallets
        funder = pool.funder
        mints = [(w, USER_TOKENS) for w in pool.role("user")]
        mints += [(w, BORROWER_TOKENS) for w in pool.role("borrower")]
        mints += [(w, LENDER_TOKENS) for w in pool.role("lender")]
        minting = [SetupStep(funder, c.token, call_data("mint(address,uint256)", w.address, n),
                             "mint") for w, n in mints]
        approvals = [(w, c.router) for w in pool.role("user")]
        approvals += [(w, c.pool) for w in (*pool.role("borrower"), *pool.role("lender"))]
        own = [SetupStep(w, c.token, call_data("approve(address,uint256)", to, MAX_UINT256),
                         "approve") for w, to in approvals]
        settlement = pool.role("settlement")[0].address
        own += [SetupStep(w, c.router, call_data("setSettlementAddress(address)", settlement),
                          "settlement address") for w in pool.role("merchant")]
        deposits = [SetupStep(w, c.pool, call_data("deposit(uint256)", LENDER_DEPOSIT),
                              "deposit") for w in pool.role("lender")]
        self.minted = sum(n for _w, n in mints)
        return minting, own, deposits

    async def set_up(self, session: ChainSession, engine: TxEngine,
                     funding: Awaitable[object]) -> None:
        """Mint, approve, settlement addresses, then the lenders' deposits, through the
        set-up ``engine``: the funder's mints go beside its top-ups of the wallets
        (``funding``); once both are in, every wallet's own calls go in one burst (a lender's
        approval and deposit in nonce order: the deposit runs after the approval)."""
        minting, own, deposits = self._steps()
        minted = asyncio.ensure_future(run_setup(engine, minting))
        funded = asyncio.ensure_future(funding)
        await all_or_cancel(minted, funded)
        events = [*minted.result(), *await run_setup(engine, own + deposits)]
        self.book.deposits = LENDER_DEPOSIT * len(deposits)
        # the load's blocks start after the last set-up transaction's, whatever a lagging
        # eth_blockNumber says (a stale head would book set-up deposits a second time)
        head = hex_int(await session.rpc.call("eth_blockNumber"))
        self.first_block = max([head, *(e.block_number or 0 for e in events)]) + 1
        log.info("dApp set-up done: %d mints, %d deposits", len(minting), len(deposits))

    def holders(self) -> list[str]:
        roles = ("user", "merchant", "settlement", "lender", "borrower")
        addresses = [w.address for r in roles for w in self.wallets.role(r)]
        return [*addresses, self.wallets.funder.address, self.contracts.router,
                self.contracts.pool]

    async def check(self, session: ChainSession) -> list[Discrepancy]:
        wallets = [w for r in ("user", "merchant", "lender", "borrower")
                   for w in self.wallets.role(r)]
        books = Books(self.contracts, self.holders(), self.minted, self.ledger, self.book,
                      wallets=wallets, first_block=self.first_block,
                      seen_head=session.engine.follower.head or 0)
        self.discrepancies = await check_books(session.rpc, books,
                                               senders=[w.address for w in wallets])
        for found in self.discrepancies:
            log.error("%s", found.line())
        return self.discrepancies

    def summary(self, seconds: float) -> dict[str, Any]:
        return {
            **self.contracts.as_dict(),
            "goodput": self.goodput.summary(seconds),
            "gas_per_operation": self.gas.summary(),
            "payments": {"confirmed": self.ledger.payments,
                         "settlements": self.ledger.settlements},
            "loans": {"borrowed": self.book.borrowed, "repaid": self.book.repaid,
                      "liquidated": self.book.liquidated, "open": len(self.book.open),
                      "deposits_while_borrowers_busy": self._lending_skipped()},
            "books": None if self.discrepancies is None else {
                "balanced": not self.discrepancies,
                "discrepancies": [d.as_dict() for d in self.discrepancies]},
        }

    def _lending_skipped(self) -> int:
        return sum(w.skipped for w in self.workloads if isinstance(w, PoolLendingWorkload))

    def lines(self, seconds: float) -> list[str]:
        lines = [f"dApp contracts: {self.flavour} (token {self.contracts.token}, router "
                 f"{self.contracts.router}, pool {self.contracts.pool})"]
        gas = self.gas.summary()
        ops = [f"{op} {s['gas_per_op']:,}" + (f" ({s['l2_gas_per_op']:,} L2 + "
                                               f"{s['l1_gas_per_op']:,} L1)"
                                               if s["l1_gas_per_op"] else "")
               for ops in gas.values() for op, s in ops.items()]
        if ops:
            lines.append(f"gas per operation ({self.flavour}): " + ", ".join(ops))
        lines += self.goodput.lines(seconds)
        if self.discrepancies is not None:
            lines += [d.line() for d in self.discrepancies] or ["books balance: token supply, "
                                                                 "merchant escrows, pool cash "
                                                                 "and loans all agree"]
        return lines


async def open_dapps(settings: Settings, session: ChainSession, wallets: WalletPool,
                     goodput: Goodput, hub: StatsHub, rng: random.Random,
                     flavour: str) -> DAppParts:
    """Deploy the contracts in ``flavour`` and build the three workloads on them. The caller
    first checks that the funder can pay for the deployments (:data:`DEPLOY_GAS_RESERVE`), so
    a poor one is refused before anything is sent (exit 2)."""
    contracts = await deploy_dapps(session, flavour, cache=settings.stylus_cache)
    ledger, book = PaymentLedger(), PoolBook()
    engine = session.engine
    workloads: list[Workload] = [
        TokenPaymentWorkload(engine, contracts.router, wallets.role("user"),
                             wallets.role("merchant"), ledger, goodput,
                             random.Random(rng.random())),
        SettlementWorkload(engine, contracts.router, wallets.role("merchant"), ledger, goodput),
        PoolLendingWorkload(engine, contracts.pool, wallets.role("lender"),
                            wallets.role("borrower"), book, goodput,
                            random.Random(rng.random())),
    ]
    gas = GasPerOperation(WORKLOADS)
    hub.listen(gas)
    hub.listen(ledger)  # the books follow corrected outcomes (late receipts, reorgs)
    hub.listen(book)
    return DAppParts(contracts, workloads, wallets, ledger, book, goodput, gas)
