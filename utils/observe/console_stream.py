"""The live console's fan-out: events (ticks, markers, the end of a run) published once, read
by any number of Server-Sent-Events clients in the HTTP server's threads.

:meth:`Broadcast.publish` never blocks: each client has a bounded queue and a client that
reads too slowly loses its oldest events (a tick a second; the page draws what it gets). A
client that went away is dropped when its stream ends. A new client first gets a
``snapshot``: the state, the last :data:`HISTORY` ticks and the markers, so a page opened
mid-run draws its history at once.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import threading
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

log = logging.getLogger(__name__)

HISTORY = 600  # ticks kept for a new client (ten minutes at one a second)
MAX_MARKERS = 1000
CLIENT_QUEUE = 120  # events a client may fall behind by before it loses the oldest
PING_SECONDS = 10.0
_CLOSED = ""  # the sentinel a closing broadcast hands every client


def sse(kind: str, data: Any) -> str:
    """One event in the text/event-stream format (one ``data:`` line of JSON)."""
    return f"event: {kind}\ndata: {json.dumps(data, separators=(',', ':'), default=str)}\n\n"


class Broadcast:
    """Thread-safe: ``publish`` from the run, ``stream`` from the server's threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._clients: set[queue.Queue[str]] = set()
        self._ticks: deque[dict[str, Any]] = deque(maxlen=HISTORY)
        self._markers: deque[dict[str, Any]] = deque(maxlen=MAX_MARKERS)
        self.closed = False

    @property
    def clients(self) -> int:
        return len(self._clients)

    def publish(self, kind: str, data: dict[str, Any]) -> None:
        """Keep ``data`` for new clients (ticks, markers) and send it to every client."""
        text = sse(kind, data)
        with self._lock:
            if kind == "tick":
                self._ticks.append(data)
            elif kind == "marker":
                self._markers.append(data)
            clients = list(self._clients)
        for client in clients:
            _put(client, text)

    def reset(self, state: dict[str, Any]) -> None:
        """A new run: history cleared, every client sent a fresh ``snapshot``."""
        with self._lock:
            self._ticks.clear()
            self._markers.clear()
            clients = list(self._clients)
        text = sse("snapshot", {"state": state, "ticks": [], "markers": []})
        for client in clients:
            _put(client, text)

    def stream(self, state: Callable[[], dict[str, Any]],
               ping: float = PING_SECONDS) -> Iterator[bytes]:
        """A client's events (UTF-8 bytes): its snapshot, then each event published, a
        ``: ping`` comment when idle; ends when the broadcast closes (or the client goes: the
        server closes this generator)."""
        client: queue.Queue[str] = queue.Queue(CLIENT_QUEUE)
        with self._lock:
            snapshot = {"ticks": list(self._ticks), "markers": list(self._markers)}
            self._clients.add(client)
        try:
            yield sse("snapshot", {"state": state(), **snapshot}).encode()
            while not self.closed:
                try:
                    text = client.get(timeout=ping)
                except queue.Empty:
                    yield b": ping\n\n"
                    continue
                if text == _CLOSED:
                    return
                yield text.encode()
        finally:
            with self._lock:
                self._clients.discard(client)

    def close(self) -> None:
        """End every client's stream (the server stops)."""
        self.closed = True
        with self._lock:
            clients = list(self._clients)
        for client in clients:
            _put(client, _CLOSED)


def _put(client: queue.Queue[str], text: str) -> None:
    """Queue ``text``; a full queue loses its oldest event first (never blocks)."""
    for _ in range(3):
        try:
            client.put_nowait(text)
            return
        except queue.Full:
            with contextlib.suppress(queue.Empty):
                client.get_nowait()
    log.debug("a console client lost an event")
