"""Typed exceptions of the orchestrator. Each carries its context."""

from __future__ import annotations


class KcStressError(Exception):
    """Root of every error this project raises on purpose."""


class ConfigError(KcStressError):
    """A setting is invalid. ``setting`` names it; the message says why."""

    def __init__(self, setting: str, message: str) -> None:
        super().__init__(f"{setting}: {message}")
        self.setting = setting


class ChainError(KcStressError):
    """Talking to the chain failed."""


class RpcError(ChainError):
    """A JSON-RPC call returned an error or could not be made.

    ``kind`` says what kind of failure it is (utils/chain/rpc_faults.py classifies every
    failure once): ``final`` (a revert, bad params, a nonce error: the answer), ``reply``,
    ``unsupported``, ``transient``, ``connection``, ``timeout`` or ``throttled`` (the last four
    are retried by the transport). ``http_status``: the HTTP status of a non-2xx answer."""

    kind = "final"

    def __init__(self, method: str, message: str, code: int | None = None, *,
                 http_status: int | None = None) -> None:
        super().__init__(f"{method}: {message}" + (f" (code {code})" if code is not None else ""))
        self.method = method
        self.code = code
        self.rpc_message = message
        self.http_status = http_status

    @property
    def maybe_processed(self) -> bool:
        """True when the node may have acted on the request though no answer says so (a lost
        answer: timeout, dropped connection, a gateway's 5xx); False when the node answered."""
        return False


class RpcReplyError(RpcError):
    """The node answered, but not in the shape the caller's decoder reads."""

    kind = "reply"


class RpcUnsupportedError(RpcError):
    """The node has no such method (any dialect: -32601, -32004, -32700 or -32000 with a text,
    HTTP 4xx): an optional method's caller takes its fallback path."""

    kind = "unsupported"


class RpcTransientError(RpcError):
    """A failure worth retrying (-32603, an internal error, HTTP 5xx); ``retry_after``: seconds
    the node asked us to wait, when it said."""

    kind = "transient"

    def __init__(self, method: str, message: str, code: int | None = None, *,
                 http_status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(method, message, code, http_status=http_status)
        self.retry_after = retry_after

    @property
    def maybe_processed(self) -> bool:
        return self.code is None and self.http_status != 429


class RpcThrottledError(RpcTransientError):
    """The provider refused the request for its rate (HTTP 429, -32005, 'rate limit')."""

    kind = "throttled"

    @property
    def maybe_processed(self) -> bool:
        return False


class RpcConnectionError(RpcTransientError):
    """The connection failed (refused, reset, closed before the answer). ``unsent``: it failed
    before the request went out (nothing to connect to)."""

    kind = "connection"
    unsent = False

    @property
    def maybe_processed(self) -> bool:
        return not self.unsent


class RpcTimeout(RpcTransientError):
    """No answer before the deadline; the request may or may not have been processed."""

    kind = "timeout"

    def __init__(self, method: str, seconds: float) -> None:
        super().__init__(method, f"no answer within {seconds:.2f} s")


class InsufficientFunds(ChainError):
    """The funder cannot cover what the run plans to spend."""


class DevChainError(ChainError):
    """The embedded dev chain failed to start or died."""
