"""Top up the run's wallets from the funder before the load starts."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from utils.chain.rpc import Rpc, hex_int
from utils.chain.tx_engine import TxEngine, TxRequest
from utils.chain.wallets import Wallet
from utils.errors import InsufficientFunds, RpcError
from utils.observe.events import Outcome

log = logging.getLogger(__name__)

MARGIN = 1.5  # wallets get this much more than the plan needs


def merge_needs(needs: Iterable[dict[str, int]]) -> dict[str, int]:
    total: dict[str, int] = {}
    for part in needs:
        for address, wei in part.items():
            total[address] = total.get(address, 0) + wei
    return total


def eth(wei: int) -> str:
    return f"{wei / 10**18:.6f} ETH"


async def require_balance(rpc: Rpc, funder: Wallet, required: int, what: str) -> None:
    """InsufficientFunds unless ``funder`` holds ``required`` wei."""
    available = hex_int(await rpc.call("eth_getBalance", funder.address, "latest"))
    if available < required:
        raise InsufficientFunds(
            f"funder {funder.address} holds {eth(available)} but the planned run needs "
            f"{eth(required)} {what}; lower the rates or the duration, or fund the account"
        )


async def top_up(engine: TxEngine, rpc: Rpc, funder: Wallet, needs: dict[str, int]) -> int:
    """Send each wallet what it lacks, in one pipelined batch; returns wei sent.

    Raises InsufficientFunds before sending anything when the funder cannot
    cover the plan, and ChainError-derived errors when a top-up fails.
    """
    addresses = [a for a, wei in needs.items() if wei > 0]
    balances = await rpc.batch([("eth_getBalance", [a, "latest"]) for a in addresses])
    deficits: dict[str, int] = {}
    for address, balance in zip(addresses, balances, strict=True):
        if isinstance(balance, RpcError):
            raise balance
        if hex_int(balance) < needs[address]:
            deficits[address] = int(needs[address] * MARGIN) - hex_int(balance)
    fees = len(deficits) * engine.fees.transfer_gas * engine.fees.max_fee
    required = sum(deficits.values()) + fees
    await require_balance(rpc, funder, required, f"to top up {len(deficits)} wallets")
    if not deficits:
        return 0
    log.info("topping up %d wallets with %s", len(deficits), eth(sum(deficits.values())))
    events = await asyncio.gather(
        *(
            engine.submit(TxRequest("funding", "top_up", funder, address, wei,
                                    gas=engine.fees.transfer_gas))
            for address, wei in deficits.items()
        )
    )
    failed = [e for e in events if e.outcome is not Outcome.SUCCESS]
    if failed:
        raise InsufficientFunds(
            f"{len(failed)} of {len(events)} top-ups failed; first: "
            f"{failed[0].outcome} {failed[0].error}"
        )
    return sum(deficits.values())
