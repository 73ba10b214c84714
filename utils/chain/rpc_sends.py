"""A signed send is idempotent in its raw form: the node's "I have it" is our success.

The transport re-sends ``eth_sendRawTransaction`` in its same bytes after a lost answer; the
node then answers "already known" (geth, Nitro, the embedded chain), "transaction already
imported" (anvil) or "Known transaction: 0x..." (Hardhat): the transaction is in its pool, so
it was sent, and its hash is the keccak of those bytes. "nonce too low" means sent only when
the node has our hash (it may have been mined since the first try); otherwise another
transaction used the nonce and the refusal stands. So does "transaction underpriced", which
ganache 7 answers for bytes it holds already.

Ganache 7 executes every copy of a signed transaction it is sent (a copy of one in its pool
takes the sender's next nonce; a copy of one mined is mined again), so bytes whose answer was
lost are not sent again before the node is asked whether it has their hash
(:func:`known_sends`): the transport re-sends only what the node does not know.
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


async def known_sends(rpc: Rpc, calls: Sequence[tuple[str, Sequence[Any]]],
                      todo: Sequence[int], out: list[Any]) -> list[int]:
    """Of the calls ``todo`` (whose answers were lost), put in ``out`` the hash of each send
    the node has already (``eth_getTransactionByHash``: in its pool or a block); the others,
    to be posted again. A look-up that fails leaves every call to be posted again."""
    sends = [i for i in todo if calls[i][0] == SEND_RAW]
    if not sends:
        return list(todo)
    hashes = {i: tx_hash_of(calls[i][1][0]) for i in sends}
    try:
        found = await rpc.batch([("eth_getTransactionByHash", [hashes[i]]) for i in sends])
    except RpcError:
        return list(todo)
    known = {i for i, tx in zip(sends, found, strict=True) if isinstance(tx, dict)}
    for i in known:
        out[i] = hashes[i]
    return [i for i in todo if i not in known]
