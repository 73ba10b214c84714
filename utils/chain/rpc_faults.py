"""Every JSON-RPC failure classified once: the typed error it becomes, so its kind.

What the nodes really answer (probed 2026-12-05; tests/test_rpc_faults.py replays each):

======================================================  ==============================
answer                                                  kind (error class)
======================================================  ==============================
HTTP 429 (any body), JSON-RPC 429 or -32005             throttled (RpcThrottledError)
-32000 / any code + "rate limit", "too many requests",  throttled
"limit exceeded", "limit reached", "compute units"
HTTP 408/425/500/502/503/504 without a JSON-RPC error   transient (RpcTransientError)
-32603; any code + "internal error", "header not        transient
found", "unknown block", "timeout", "try again", ...
connection refused/reset/closed, a truncated body       connection (RpcConnectionError)
no answer within the Rpc's timeout                      timeout (RpcTimeout)
-32601 (geth, anvil), -32004 (Hardhat 3: "Method X is   unsupported (RpcUnsupportedError)
not supported"), any code + "does not exist", "not
supported", "unknown method", "method ... not found"
(ganache 7: -32700 "The method X does not exist/is not
available"), HTTP 4xx without a JSON-RPC error body
code 3 (revert), "nonce too low", "already known",      final (RpcError): the answer
"insufficient funds", -32602, -32600, anything else
a body the decoder cannot read                          reply (RpcReplyError)
======================================================  ==============================

A text naming a revert, a nonce or funds is final whatever its code (a revert reason may say
"timeout"). A non-2xx answer whose body is a JSON-RPC error is classified by that error
(Besu answers errors with HTTP 400); HTTP 429 is throttled whatever its body says.
``retry_after``: the ``Retry-After`` header (seconds or an HTTP date), Infura's
``data.rate.backoff_seconds``, a ``retry_after``/``retryAfter`` member, or "try again in 2s".
"""

from __future__ import annotations

import email.utils
import re
import time
from collections.abc import Mapping
from typing import Any

import aiohttp
import msgspec

from utils.errors import (
    RpcConnectionError,
    RpcError,
    RpcThrottledError,
    RpcTimeout,
    RpcTransientError,
    RpcUnsupportedError,
)

#: the kinds the transport retries
RETRYABLE = frozenset({"transient", "connection", "timeout", "throttled"})
THROTTLE_CODES = frozenset({429, -32005})
UNSUPPORTED_CODES = frozenset({-32601, -32004})
#: codes an optional method's caller reads as "not here" (:func:`is_unsupported`); -32700 is
#: ganache 7's code for everything, -32600/-32602 nodes that take no such request form
ABSENT_CODES = frozenset({-32601, -32004, -32700, -32600, -32602})
TRANSIENT_STATUS = frozenset({408, 425, 500, 502, 503, 504})
MAX_RETRY_AFTER = 600.0  # seconds: a longer ask is read as this

FINAL_TEXTS = ("revert", "vm exception", "nonce", "insufficient funds", "gas required exceeds",
               "intrinsic gas", "underpriced", "already known", "already imported",
               "known transaction", "out of gas", "invalid opcode", "not accepting")
THROTTLE_TEXTS = ("rate limit", "rate-limit", "too many requests", "limit exceeded",
                  "limit reached", "compute units", "throttl")
TRANSIENT_TEXTS = ("internal error", "header not found", "unknown block", "block not found",
                   "timeout", "timed out", "try again", "temporarily", "busy", "overloaded",
                   "unavailable", "upstream", "bad gateway", "connection reset")
UNSUPPORTED_TEXTS = ("not supported", "unsupported", "does not exist", "unknown method",
                     "no such method", "not implemented", "method not allowed")
#: geth "already known", anvil "transaction already imported", Hardhat "Known transaction:
#: 0x..." (not embedded's "Unknown transaction type")
_KNOWN = re.compile(r"already known|already imported|already in pool|(?<!un)known transaction")
_AFTER = re.compile(r"(?:try again|retry) (?:in|after) (\d+(?:\.\d+)?)\s*(ms|milli)?")
_reply = msgspec.json.Decoder().decode


def reply_kind(method: str, code: Any, message: str) -> str:
    """The kind of a JSON-RPC error object's answer (see the module's table)."""
    if code == 3:
        return "final"
    if code in THROTTLE_CODES:
        return "throttled"
    text = message.lower()
    if any(t in text for t in FINAL_TEXTS):
        return "final"
    if code in UNSUPPORTED_CODES or _unsupported_text(method, text):
        return "unsupported"
    if any(t in text for t in THROTTLE_TEXTS):
        return "throttled"
    if code == -32603 or any(t in text for t in TRANSIENT_TEXTS):
        return "transient"
    return "final"


def _unsupported_text(method: str, text: str) -> bool:
    if any(t in text for t in UNSUPPORTED_TEXTS):
        return True
    names_it = "method" in text or (bool(method) and method.lower() in text)
    return names_it and ("not found" in text or "not available" in text)


def reply_error(method: str, error: Any, *, http_status: int | None = None,
                headers: Mapping[str, str] | None = None) -> RpcError:
    """The typed error of a JSON-RPC ``error`` member (``method``: the method asked)."""
    if not isinstance(error, dict):
        return RpcError(method, str(error), http_status=http_status)
    message = str(error.get("message", error))
    code = error.get("code")
    code = code if isinstance(code, int) else None
    kind = "throttled" if http_status == 429 else reply_kind(method, code, message)
    return _typed(kind, method, message, code, http_status,
                  retry_after_of(headers, error.get("data"), message))


def http_error(method: str, status: int, body: bytes,
               headers: Mapping[str, str] | None) -> RpcError:
    """The typed error of a non-2xx answer: by its JSON-RPC error when the body is one."""
    error = _error_member(body)
    if error is not None:
        return reply_error(method, error, http_status=status, headers=headers)
    text = body[:200].decode(errors="replace").strip()
    message = f"HTTP {status}" + (f": {text}" if text else "")
    if status == 429:
        kind = "throttled"
    elif status in TRANSIENT_STATUS:
        kind = "transient"
    elif 400 <= status < 500:
        kind = "unsupported"
    else:
        kind = "final"
    return _typed(kind, method, message, None, status, retry_after_of(headers, None, text))


def _error_member(body: bytes) -> Any:
    try:
        reply = _reply(body)
    except msgspec.DecodeError:
        return None
    return reply.get("error") if isinstance(reply, dict) else None


def _typed(kind: str, method: str, message: str, code: int | None, status: int | None,
           retry_after: float | None) -> RpcError:
    if kind == "throttled":
        return RpcThrottledError(method, message, code, http_status=status,
                                 retry_after=retry_after)
    if kind == "transient":
        return RpcTransientError(method, message, code, http_status=status,
                                 retry_after=retry_after)
    if kind == "unsupported":
        return RpcUnsupportedError(method, message, code, http_status=status)
    return RpcError(method, message, code, http_status=status)


def transport_error(method: str, exc: BaseException, timeout: float) -> RpcError:
    """The typed error of an exception raised while posting (never CancelledError)."""
    if isinstance(exc, RpcError):
        return exc
    if isinstance(exc, TimeoutError):
        return RpcTimeout(method, timeout)
    message = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, OSError)):
        error = RpcConnectionError(method, message)
        error.unsent = isinstance(exc, aiohttp.ClientConnectorError)
        return error
    return RpcError(method, message)


def retry_after_of(headers: Mapping[str, str] | None, data: Any, message: str) -> float | None:
    """Seconds the answer asks us to wait before the next request, if it says."""
    seconds: float | None = None
    header = headers.get("Retry-After") if headers is not None else None
    if header:
        seconds = _header_seconds(header.strip())
    if seconds is None and isinstance(data, dict):
        seconds = _data_seconds(data)
    if seconds is None:
        found = _AFTER.search(message.lower())
        if found:
            seconds = float(found.group(1)) / (1000.0 if found.group(2) else 1.0)
    return None if seconds is None else min(MAX_RETRY_AFTER, max(0.0, seconds))


def _header_seconds(value: str) -> float | None:
    try:
        return float(value)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return when.timestamp() - time.time()


def _data_seconds(data: dict[str, Any]) -> float | None:
    for where in (data, data.get("rate")):
        if isinstance(where, dict):
            for key in ("backoff_seconds", "retry_after", "retryAfter", "retry_after_seconds"):
                value = where.get(key)
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    return float(value)
    return None


def is_unsupported(err: BaseException) -> bool:
    """True when ``err`` says the node has no such method, in any dialect: ask it only of an
    optional method's answer (a -32700 or -32602 there means "not in this form"). A transient
    or throttled error is never "unsupported": the transport retried it, the caller decides."""
    if isinstance(err, RpcUnsupportedError):
        return True
    if not isinstance(err, RpcError) or isinstance(err, RpcTransientError):
        return False
    if err.code in ABSENT_CODES:
        return True
    if err.http_status is not None and 400 <= err.http_status < 500:
        return True
    return err.code != 3 and _unsupported_text(err.method, err.rpc_message.lower())


def is_revert(exc: RpcError) -> bool:
    """The call ran and reverted: code 3 (geth, anvil, the embedded chain), or a node's
    text saying so (Hardhat, ganache: -32000/-32603 "... revert ..."). Anything else (no
    answer, a transient or coded error) says nothing about what the contract holds."""
    if exc.code is None:  # no answer, or one that could not be read
        return False
    return exc.code == 3 or "revert" in exc.rpc_message.lower()


def is_known_send(err: RpcError) -> bool:
    """The node already has these very bytes ("already known", "already imported", "known
    transaction"): the send happened."""
    return _KNOWN.search(err.rpc_message.lower()) is not None


def is_nonce_low(err: RpcError) -> bool:
    """"nonce too low": sent already (if the node has our hash) or someone else used it."""
    return "nonce too low" in err.rpc_message.lower()


def is_underpriced(err: RpcError) -> bool:
    """"(replacement) transaction underpriced": ganache 7 answers so for the same bytes sent
    again while it holds them; sent already if the node has our hash, else a refusal."""
    return "underpriced" in err.rpc_message.lower()
