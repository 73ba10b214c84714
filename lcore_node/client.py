"""HTTP client of a remote lcore node, with the same API as :class:`LcoreNode`.

Used when ``LCORE_NODE_URL`` is set. Refusals come back as the same typed
errors the in-process node raises (chosen by the ``error`` code of the body,
else by status); transport failures raise :class:`UnavailableError`.
"""

from __future__ import annotations

from typing import Any

import aiohttp

from lcore_node.errors import ERRORS_BY_CODE, LcoreError, UnavailableError
from lcore_node.measure import OperationTimer
from lcore_node.types import Accepted, Registered
from utils.observe.stats import StatsHub

_BY_STATUS: dict[int, str] = {
    400: "malformed",
    401: "unauthorized",
    404: "not_found",
    409: "conflict",
    413: "too_large",
    422: "invalid",
}


def _remote_error(status: int, body: Any, device_id: str | None) -> LcoreError:
    body = body if isinstance(body, dict) else {}
    message = str(body.get("message") or f"HTTP {status}")
    code = body.get("error")
    cls = ERRORS_BY_CODE.get(code) if isinstance(code, str) else None
    if cls is None:
        cls = ERRORS_BY_CODE.get(_BY_STATUS.get(status, ""), UnavailableError)
    return cls(message, device_id=device_id)


class LcoreHttpClient:
    """``async with LcoreHttpClient("http://127.0.0.1:3000") as node: ...``"""

    def __init__(
        self,
        base_url: str,
        *,
        session: aiohttp.ClientSession | None = None,
        timeout: float = 30.0,
        hub: StatsHub | None = None,
    ) -> None:
        self._hub = hub  # each call is emitted as one "total" IotEvent (the remote node
        # measures its own stages)
        self._device_types: dict[str, str] = {}  # learnt at registration, for the events
        self._base = base_url.rstrip("/")
        self._session = session
        self._owns_session = session is None
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    async def __aenter__(self) -> LcoreHttpClient:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None

    async def _call(
        self, method: str, path: str, payload: dict[str, Any] | None, device_id: str | None
    ) -> tuple[int, dict[str, Any]]:
        if self._session is None:
            raise UnavailableError("client is not open (use `async with`)")
        try:
            async with self._session.request(method, self._base + path, json=payload) as resp:
                try:
                    body = await resp.json(content_type=None)
                except ValueError:
                    body = None
                if resp.status >= 400:
                    raise _remote_error(resp.status, body, device_id)
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise UnavailableError(f"{method} {path} failed: {exc!r}", device_id=device_id) from exc
        if not isinstance(body, dict):
            raise UnavailableError(f"{method} {path}: answer is not a JSON object")
        return resp.status, body

    async def register_device(
        self, device_id: str, public_key_hex: str, device_type: str | None = None
    ) -> Registered:
        payload: dict[str, Any] = {"device_id": device_id, "public_key": public_key_hex}
        if device_type is not None:
            payload["device_type"] = device_type
        timer = OperationTimer(self._hub, "register", device_id)
        timer.device_type = device_type or ""
        if device_type:
            self._device_types[device_id] = device_type
        try:
            status, _ = await self._call("POST", "/device/register", payload, device_id)
        except Exception as exc:
            timer.finish(exc)
            raise
        timer.finish()
        return Registered(device_id, created=status == 201)

    async def submit_data(
        self, device_id: str, data: str, timestamp: int, signature: str | None = None
    ) -> Accepted:
        payload = {
            "device_id": device_id,
            "data": data,
            "timestamp": timestamp,
            "signature": signature,
        }
        timer = OperationTimer(self._hub, "submit", device_id)
        timer.device_type = self._device_types.get(device_id, "")
        timer.data_size = len(data.encode("utf-8"))
        try:
            _, body = await self._call("POST", "/device/data", payload, device_id)
        except Exception as exc:
            timer.finish(exc)
            raise
        timer.finish()
        return Accepted(
            record_id=int(body["record_id"]),
            device_id=device_id,
            task_id=str(body["task_id"]),
            proof_hash=str(body.get("proof_hash") or ""),
            key_id=int(body.get("key_id") or 0),
            data_size=len(data.encode("utf-8")),
            tx_hash=body.get("tx_hash"),
        )

    async def status(self) -> dict[str, Any]:
        _, body = await self._call("GET", "/status", None, None)
        return body
