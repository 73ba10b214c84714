"""A small client of the live console for tests: JSON calls and an SSE reader thread, over
real HTTP (urllib / http.client), as a page or a script would talk to it."""

from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit


def call(url: str, path: str, body: Any = None, *, headers: dict[str, str] | None = None,
         raw: bytes | None = None, content_type: str = "application/json"
         ) -> tuple[int, Any]:
    """GET (no body) or POST; (status, parsed JSON answer)."""
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    request = urllib.request.Request(url + path, data=data, method="GET" if data is None
                                     else "POST")
    if data is not None:
        request.add_header("Content-Type", content_type)
    for key, value in (headers or {}).items():
        request.add_header(key, value)
    try:
        with urllib.request.urlopen(request, timeout=15) as answer:
            return answer.status, json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def wait_until(predicate: Any, timeout: float, what: str) -> Any:
    """Poll ``predicate`` until it returns something true (returned); AssertionError after
    ``timeout`` seconds (a hang guard, not a measurement)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        found = predicate()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


class EventReader:
    """Reads ``/api/events`` in a daemon thread; ``events`` is [(kind, data), ...]."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        self.connection.request("GET", "/api/events")
        self.response = self.connection.getresponse()
        self.content_type = self.response.getheader("Content-Type", "")
        self.events: list[tuple[str, Any]] = []
        self.ended = threading.Event()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        kind = ""
        try:
            while line := self.response.readline():
                text = line.decode().rstrip("\n")
                if text.startswith("event: "):
                    kind = text[7:]
                elif text.startswith("data: "):
                    self.events.append((kind, json.loads(text[6:])))
        except (OSError, ValueError):
            pass
        finally:
            self.ended.set()

    def of(self, kind: str) -> list[Any]:
        return [data for k, data in list(self.events) if k == kind]

    def close(self) -> None:
        self.connection.close()
