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
    """A JSON-RPC call returned an error or could not be made."""

    def __init__(self, method: str, message: str, code: int | None = None) -> None:
        super().__init__(f"{method}: {message}" + (f" (code {code})" if code is not None else ""))
        self.method = method
        self.code = code
        self.rpc_message = message


class RpcReplyError(RpcError):
    """The node answered, but not in the shape the caller's decoder reads."""


class RpcTimeout(RpcError):
    """No answer before the deadline; the request may or may not have been processed."""

    def __init__(self, method: str, seconds: float) -> None:
        super().__init__(method, f"no answer within {seconds:.2f} s")


class InsufficientFunds(ChainError):
    """The funder cannot cover what the run plans to spend."""


class DevChainError(ChainError):
    """The embedded dev chain failed to start or died."""
