"""What a workload asks the engine to send, how the engine signs it, and the event of a request
the node refused."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from utils.chain.fees import FeePolicy
from utils.chain.signer import SignedTx, Signer
from utils.chain.wallets import Wallet
from utils.errors import RpcError, RpcTimeout
from utils.observe.events import Outcome, TxEvent

TRANSFER_GAS = 21_000


@dataclass(slots=True)
class TxRequest:
    """What a workload wants sent."""

    workload: str
    operation: str
    sender: Wallet
    to: str
    value: int = 0
    data: bytes = b""
    gas: int = TRANSFER_GAS
    intended_at: float | None = None  # run clock; default: now
    on_sent: Callable[[str], None] | None = field(default=None, repr=False)



def sign_tx(signer: Signer, fees: FeePolicy, chain_id: int, nonce: int, gas: int, to: bytes,
            value: int, data: bytes) -> SignedTx:
    """Sign with the current fee fields: EIP-1559 where the chain has a base fee, else legacy
    (``to=b""`` creates a contract)."""
    if fees.eip1559:
        return signer.sign_eip1559(chain_id=chain_id, nonce=nonce, max_fee=fees.max_fee,
                                   max_priority_fee=fees.priority_fee, gas=gas, to=to,
                                   value=value, data=data)
    return signer.sign_legacy(chain_id=chain_id, nonce=nonce, gas_price=fees.gas_price, gas=gas,
                              to=to, value=value, data=data)


def unsent_event(req: TxRequest, intended: float, nonce: int | None, exc: RpcError,
                 now: float) -> TxEvent:
    """The event of a request that never reached the node's pool (refused, or late)."""
    return TxEvent(
        workload=req.workload, module=req.workload,
        outcome=Outcome.TIMEOUT if isinstance(exc, RpcTimeout) else Outcome.REJECTED,
        tx_hash="", intended_at=intended, sent_at=None, finished_at=now,
        block_number=None, gas_used=0, sender=req.sender.address, nonce=nonce,
        error=exc.rpc_message[:300], operation=req.operation,
    )


def is_nonce_error(exc: RpcError) -> bool:
    """The nonce was taken ("nonce too low", "replacement transaction underpriced", ...). Not
    "already known": that is the node holding these very bytes (a send that happened)."""
    text = exc.rpc_message.lower()
    return "nonce" in text or "replacement transaction" in text
