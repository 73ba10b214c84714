"""JSON-RPC params to Python values for the dev chain; bad input raises ``JsonRpcError(-32602)``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from utils.devchain.backend import BlockNotFoundError, DevNode
from utils.devchain.exec import ZERO_ADDRESS, CallRequest
from utils.errors import KcStressError

T = TypeVar("T")

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
SERVER_ERROR = -32000
EXECUTION_REVERTED = 3  # geth's code for a reverted eth_call / eth_estimateGas

LATEST_TAGS = ("latest", "safe", "finalized")


class JsonRpcError(KcStressError):
    """An error object for a JSON-RPC response."""

    def __init__(self, code: int, message: str, data: str | None = None) -> None:
        super().__init__(f"{message} (code {code})")
        self.code = code
        self.message = message
        self.data = data

    def to_json(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error


def invalid(message: str) -> JsonRpcError:
    return JsonRpcError(INVALID_PARAMS, f"invalid argument: {message}")


REQUIRED: Any = object()


def arg(params: list[Any], index: int, parse: Callable[[Any], T], default: Any = REQUIRED) -> T:
    """Parse positional param ``index``; a missing or null one is ``default``, parsed."""
    if index < len(params) and params[index] is not None:
        return parse(params[index])
    if default is REQUIRED:
        raise invalid(f"missing value for required argument {index}")
    return parse(default)


def quantity(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if not isinstance(value, str) or not value.startswith("0x") or len(value) < 3:
        raise invalid(f"hex string without 0x prefix or not a quantity: {value!r}")
    try:
        return int(value, 16)
    except ValueError:
        raise invalid(f"invalid hex quantity {value!r}") from None


def data(value: Any) -> bytes:
    if not isinstance(value, str) or not value.startswith("0x") or len(value) % 2:
        raise invalid(f"invalid hex data {value!r}")
    try:
        return bytes.fromhex(value[2:])
    except ValueError:
        raise invalid(f"invalid hex data {value!r}") from None


def fixed(size: int) -> Callable[[Any], bytes]:
    def parse(value: Any) -> bytes:
        raw = data(value)
        if len(raw) != size:
            raise invalid(f"expected {size} bytes, got {len(raw)}: {value!r}")
        return raw

    return parse


address = fixed(20)
hash32 = fixed(32)


def boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise invalid(f"expected a boolean, got {value!r}")
    return value


def slot(value: Any) -> int:
    """A storage slot: quantity or 32-byte word."""
    number = quantity(value)
    if number >= 2**256:
        raise invalid(f"storage slot out of range: {value!r}")
    return number


def block_number(node: DevNode, value: Any = "latest") -> int | None:
    """A block tag/number/EIP-1898 object to a number; ``None`` means the pending block."""
    if isinstance(value, dict):
        if "blockHash" in value:
            return int(node.sealed_by_hash(hash32(value["blockHash"])).block.number)
        value = value.get("blockNumber", "latest")
    if value in LATEST_TAGS:
        return int(node.head().block_number)
    if value == "earliest":
        return 0
    if value == "pending":
        return None
    number = quantity(value)
    if number > node.head().block_number:
        raise BlockNotFoundError(f"block {number} not found")
    return number


def block_id(node: DevNode) -> Callable[[Any], int | None]:
    return lambda value: block_number(node, value)


def call_request(value: Any) -> CallRequest:
    if not isinstance(value, dict):
        raise invalid(f"expected a call object, got {value!r}")
    payload = value.get("input", value.get("data"))
    return CallRequest(
        sender=address(value["from"]) if value.get("from") else ZERO_ADDRESS,
        to=address(value["to"]) if value.get("to") else b"",
        data=data(payload) if payload else b"",
        value=quantity(value["value"]) if value.get("value") is not None else 0,
        gas=quantity(value["gas"]) if value.get("gas") is not None else None,
        access_list=tuple(
            (address(item["address"]), tuple(slot(k) for k in item.get("storageKeys", ())))
            for item in value.get("accessList") or ()
        ),
    )


def topic_filter(value: Any) -> list[set[bytes] | None]:
    if not isinstance(value, list):
        raise invalid(f"topics must be a list, got {value!r}")
    out: list[set[bytes] | None] = []
    for entry in value:
        if entry is None:
            out.append(None)
        elif isinstance(entry, list):
            out.append({hash32(t) for t in entry} if entry else None)
        else:
            out.append({hash32(entry)})
    return out


def address_filter(value: Any) -> set[bytes] | None:
    if value is None:
        return None
    if isinstance(value, list):
        return {address(a) for a in value} or None
    return {address(value)}
