"""A signed send is idempotent in its raw form: the node's "I have it" is our success.

The transport re-sends ``eth_sendRawTransaction`` in its same bytes after a lost answer; the
node then answers "already known" (geth, Nitro, the embedded chain), "transaction already
imported" (anvil) or "Known transaction: 0x..." (Hardhat): the transaction is in its pool, so
it was sent, and its hash is the keccak of those bytes. "nonce too low" means sent only when
the node has our hash (it may have been mined since the first try); otherwise another
transaction used the nonce and the refusal stands. So does "transaction underpriced", which
ganache 7 answers for bytes it holds already.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from utils.chain.rpc_faults import is_known_send, is_nonce_low, is_underpriced
from utils.chain.signer import keccak256
from utils.errors import RpcError

if TYPE_CHECKING:
    from utils.chain.rpc import Rpc

SEND_RAW = "eth_sendRawTransaction"


def tx_hash_of(raw: Any) -> str:
    """The hash of a signed transaction given as 0x-hex (or bytes): keccak of its bytes."""
    data = bytes(raw) if isinstance(raw, (bytes, bytearray)) else bytes.fromhex(str(raw)[2:])
    return "0x" + keccak256(data).hex()


async def settle_sends(rpc: Rpc, calls: Sequence[tuple[str, Sequence[Any]]],
                       out: list[Any]) -> int:
    """Replace in ``out`` (the answers to ``calls``) each send refused as known, or as "nonce
    too low" or "underpriced" where the node has our hash, by that hash; how many were."""
    settled = 0
    low: list[tuple[int, str]] = []
    for i, ((method, params), result) in enumerate(zip(calls, out, strict=True)):
        if method != SEND_RAW or not isinstance(result, RpcError):
            continue
        if is_known_send(result):
            out[i] = tx_hash_of(params[0])
            settled += 1
        elif is_nonce_low(result) or is_underpriced(result):
            low.append((i, tx_hash_of(params[0])))
    if low:
        found = await rpc.batch([("eth_getTransactionByHash", [h]) for _, h in low])
        for (i, tx_hash), tx in zip(low, found, strict=True):
            if isinstance(tx, dict):
                out[i] = tx_hash
                settled += 1
    return settled
