"""Events over a pipe: how a worker process streams its measured events to the parent.

A frame is a 4-byte big-endian length and a :mod:`marshal` payload ``(kind, body)``.
Events travel in batches (kind ``"events"``, body a list of tuples: a type code then the
event's fields in declaration order), so one frame carries hundreds of events and the
parent rebuilds each as the same dataclass the worker emitted: every sink of the parent
sees a worker's events as if they were its own. A worker tallies its frequent events
(kind ``"tally"``, body ``(Tally.to_wire(), events)``: :mod:`utils.observe.tally`, with the
other events of the batch beside it), so the parent hands each sink one tally per batch
instead of thousands of events. Other kinds carry control messages (``"ready"``,
``"done"``, ``"error"``) with a small JSON-able body.
"""

from __future__ import annotations

import asyncio
import marshal
import struct
import typing
from collections.abc import Callable
from typing import Any, BinaryIO

from utils.errors import KcStressError
from utils.observe.events import Event, Outcome, TxEvent
from utils.observe.tally import TALLIED, Tally

_HEADER = struct.Struct(">I")
MAX_FRAME = 64 * 1024 * 1024
#: every event class, in the order of the ``Event`` union (the same code on both ends)
EVENT_TYPES: tuple[type[Any], ...] = typing.get_args(Event)
assert EVENT_TYPES[0] is TxEvent
_CODES = {cls: code for code, cls in enumerate(EVENT_TYPES)}
_FIELDS = [tuple(cls.__slots__) for cls in EVENT_TYPES]
_OUTCOMES = {o.value: o for o in Outcome}
_OUTCOME_AT = 1 + _FIELDS[0].index("outcome")  # TxEvent's outcome travels as its value


class StreamError(KcStressError):
    """A frame that cannot be read: truncated, oversized or not ours."""


def encode_event(event: Event) -> tuple[Any, ...]:
    """One event as a marshal-able tuple (type code first)."""
    code = _CODES[type(event)]
    item = [code, *map(event.__getattribute__, _FIELDS[code])]
    if code == 0:
        item[_OUTCOME_AT] = item[_OUTCOME_AT].value
    return tuple(item)


def decode_event(item: tuple[Any, ...]) -> Event:
    code = item[0]
    if code == 0:
        fields = list(item[1:])
        fields[_OUTCOME_AT - 1] = _OUTCOMES[fields[_OUTCOME_AT - 1]]
        return TxEvent(*fields)
    cls: Callable[..., Event] = EVENT_TYPES[code]
    return cls(*item[1:])


def frame(kind: str, body: Any) -> bytes:
    payload = marshal.dumps((kind, body))
    return _HEADER.pack(len(payload)) + payload


class EventWriter:
    """Worker side: a stats-hub listener buffering events into frames on ``out``.

    :meth:`on_event` only appends (or, with ``tally``, counts the event into the open
    :class:`Tally`); :meth:`flush` (called by a periodic task, at a full batch and at the
    end) writes one frame. The write blocks when the parent reads slower than the worker
    emits: that is the back-pressure, never a growing buffer."""

    def __init__(self, out: BinaryIO, batch: int = 512, *, tally: bool = False) -> None:
        self._out = out
        self._batch = batch
        self._buffer: list[tuple[Any, ...]] = []
        self._tally = Tally() if tally else None
        self.sent_events = 0

    def on_event(self, event: Event) -> None:
        tally = self._tally
        if tally is not None and type(event) in TALLIED:
            tally.add(event)
            if tally.events >= self._batch:
                self.flush()
            return
        self._buffer.append(encode_event(event))
        if len(self._buffer) >= self._batch:
            self.flush()

    def flush(self) -> None:
        tally = self._tally
        if tally:
            assert tally is not None
            events, self._buffer = self._buffer, []
            self._tally = Tally()
            self.sent_events += tally.events + len(events)
            self.send("tally", (tally.to_wire(), events))
        elif self._buffer:
            events, self._buffer = self._buffer, []
            self.sent_events += len(events)
            self.send("events", events)

    def send(self, kind: str, body: Any) -> None:
        self._out.write(frame(kind, body))
        self._out.flush()


async def read_frame(reader: asyncio.StreamReader) -> tuple[str, Any] | None:
    """The next ``(kind, body)``; None at a clean end of stream (between frames)."""
    try:
        header = await reader.readexactly(_HEADER.size)
    except asyncio.IncompleteReadError as exc:
        if exc.partial:
            raise StreamError("stream ended inside a frame header") from None
        return None
    (size,) = _HEADER.unpack(header)
    if size > MAX_FRAME:
        raise StreamError(f"frame of {size} bytes exceeds {MAX_FRAME}")
    try:
        payload = await reader.readexactly(size)
    except asyncio.IncompleteReadError:
        raise StreamError("stream ended inside a frame") from None
    try:
        kind, body = marshal.loads(payload)
    except (ValueError, EOFError, TypeError) as exc:
        raise StreamError(f"unreadable frame: {exc}") from None
    return str(kind), body
