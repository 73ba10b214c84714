"""Events over a pipe: how a worker process streams its measured events to the parent.

A frame is a 4-byte big-endian length and a :mod:`marshal` payload ``(kind, body)``. A
worker's stats hub tallies its events (:mod:`utils.observe.tally`) like any hub, and its
:class:`EventWriter` sends each tally as one frame (kind ``"tally"``, body
:func:`tally_body`: the tally's counts, and its other events as tuples, a type code then the
event's fields in declaration order). The parent rebuilds the tally (:func:`tally_of`), its
other events as the same dataclasses the worker emitted, and hands it to its own hub
(``emit_tally``): every sink of the parent takes a worker's events the way it takes its
own. Other kinds carry control messages (``"ready"``, ``"done"``, ``"error"``) with a small
JSON-able body.
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
from utils.observe.stats import StatsHub
from utils.observe.tally import Tally

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


def tally_body(tally: Tally) -> tuple[Any, ...]:
    """A tally as a frame's body: its counts, and its other events encoded."""
    return tally.to_wire(), [encode_event(event) for event in tally.others]


def tally_of(body: tuple[Any, ...]) -> Tally:
    """The tally :func:`tally_body` sent."""
    wire, others = body
    return Tally.from_wire(wire, [decode_event(item) for item in others])


class EventWriter:
    """Worker side: listens to ``hub`` and writes each of its tallies as a frame on ``out``.

    :meth:`flush` (called by a periodic task and at the end) hands the hub's open tally on,
    so everything emitted so far is written. The write blocks when the parent reads slower
    than the worker emits: that is the back-pressure, never a growing buffer."""

    def __init__(self, out: BinaryIO, hub: StatsHub) -> None:
        self._out = out
        self._hub = hub
        self.sent_events = 0
        hub.listen(self)

    def on_tally(self, tally: Tally) -> None:
        self.sent_events += tally.events
        self.send("tally", tally_body(tally))

    def flush(self) -> None:
        self._hub.flush_tally()

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
