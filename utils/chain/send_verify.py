"""A send whose answer does not say what the node did: find out before deciding.

The transport (:mod:`utils.chain.rpc`) retries a failed ``eth_sendRawTransaction`` in its
same bytes and reads "already known" for them as sent. What reaches the engine may still be
unsure: no answer (a timeout, a connection lost after the request went out), an internal
error (-32603: a proxy or a load balancer may have passed the bytes on), or a nonce error
(the bytes may have gone in on an earlier try). Such a send is neither sent nor refused
until the node says so (:func:`node_has`): it is asked for the hash
(``eth_getTransactionByHash``; ganache 7 executes every copy of bytes it is sent, so known
bytes never go again); unknown, the same bytes are sent again (after a jittered pause; the
transport retries that send as well) and, when the node refuses them with anything but
"already known", it is asked for the hash again.
Only a node that does not know the hash makes it a refusal, and only then is the nonce
handed back. The bytes ride the sender's lane (:class:`~utils.chain.send_lanes.SendLanes`),
so nonce order holds; the look-up is a request of its own. None of it runs for an answered
send.
"""

from __future__ import annotations

import asyncio
import random

from utils.chain.rpc import Rpc, hex_int
from utils.chain.send_lanes import SendLanes, UnsentTimeout
from utils.errors import RpcError

SEND_RAW = "eth_sendRawTransaction"
INTERNAL_ERROR = -32603
RESENDS = 1  # the same bytes sent again (the transport retries each try itself)
LOOKUPS = 3  # eth_getTransactionByHash tries
BACKOFF = 0.25  # seconds before the first try again, doubled after each (jittered)
CALL_SECONDS = 10.0  # each call's deadline
#: seconds between two sends of the same bytes of a transaction whose receipt does not come
STALL_RESEND_EVERY = 5.0


async def resend_next(rpc: Rpc, sender: str, raws: dict[int, str]) -> bool:
    """Of ``sender``'s signed transactions waiting for a receipt (``raws``: nonce -> bytes),
    send again, in its same bytes, the one at the sender's nonce at the node's head (set-up
    paths: ganache 7 keeps some transactions in its pool until they arrive again). Only that
    one: ganache executes every copy of a signed transaction it is sent, so a copy of one
    already mined, or queued behind another, would run twice. True when the node took it."""
    try:
        nonce = hex_int(await rpc.call("eth_getTransactionCount", sender, "latest"))
        raw = raws.get(nonce)
        if raw is None:
            return False
        await rpc.call(SEND_RAW, raw)
        return True
    except RpcError:
        return False  # known, or the node would not say: the receipt poll goes on


def is_known_send(exc: RpcError) -> bool:
    """The node already has these very bytes: the send happened."""
    text = exc.rpc_message.lower()
    return ("already known" in text or "already imported" in text
            or "known transaction" in text or "already in pool" in text)


def send_unsure(exc: RpcError) -> bool:
    """The node may have taken the bytes though the answer does not say so."""
    if isinstance(exc, UnsentTimeout):
        return False  # never left this process
    if exc.code == INTERNAL_ERROR:
        return True
    maybe = getattr(exc, "maybe_processed", None)  # the transport's classification
    return exc.code is None if maybe is None else bool(maybe)


async def _pause(attempt: int) -> None:
    await asyncio.sleep(BACKOFF * 2**attempt * (0.5 + random.random()))


async def node_has(rpc: Rpc, lanes: SendLanes, lane: int, raw: str, tx_hash: str,
                   error: RpcError) -> tuple[bool | None, RpcError]:
    """Does the node have the transaction (pool or chain) after a send answered ``error``?
    True, False (it refused the bytes and does not know the hash) or None (it would not
    say); and the last refusal. The bytes go again on the sender's lane (its nonce order);
    the hash is asked on a request of its own (a lane's batch may wait on the transport's
    retries of another send)."""
    loop = asyncio.get_running_loop()
    if send_unsure(error):
        if await _lookup(rpc, tx_hash, 1):  # known: never sent again (ganache runs each copy)
            return True, error
        for attempt in range(RESENDS):
            await _pause(attempt)
            reply = await lanes.call(lane, SEND_RAW, [raw], loop.time() + CALL_SECONDS)
            if not isinstance(reply, RpcError) or is_known_send(reply):
                return True, error
            error = reply
            if not send_unsure(reply):
                break
    return await _lookup(rpc, tx_hash, LOOKUPS), error


async def _lookup(rpc: Rpc, tx_hash: str, tries: int) -> bool | None:
    """Does the node know ``tx_hash`` (pool or chain)? None when it would not say."""
    for attempt in range(tries):
        try:
            async with asyncio.timeout(CALL_SECONDS):
                tx = await rpc.call("eth_getTransactionByHash", tx_hash)
            return tx is not None
        except (RpcError, TimeoutError):
            await _pause(attempt)
    return None
