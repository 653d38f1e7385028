"""Reading ``text/event-stream`` bodies: bytes in, server-sent events out.

Pure code, fed whatever chunks the network gives: an event may arrive split across chunks, and
lines may end in ``\\n``, ``\\r\\n`` or ``\\r`` (the WHATWG rules). A leading byte order mark
is dropped; comments (``:``) and ``retry`` fields are skipped. One event may hold at most
:data:`MAX_EVENT_BYTES`: a server that sends a line without end cannot make the client hold
more than that; and at most :data:`MAX_IDLE_LINES` lines that add nothing may come between two
events. The work is linear in the bytes fed, however the lines end.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_EVENT_BYTES = 4 * 1024 * 1024
"""The most one event (its pending line plus its data) may hold before the stream is refused."""

MAX_IDLE_LINES = 100_000
"""The most lines that add nothing (comments, unknown fields, runs of blank lines) the decoder
reads between two events before the stream is refused: a keep-alive comment a second for more
than a day, yet a body of nothing but such lines (a small gzip body inflates to millions) costs
a fraction of a second, not minutes."""

# A run of line ends, found in C: one match for a million blank lines, however they end. A run
# of two is one line end only when it is CR LF; any longer run holds a blank line.
_LINE_ENDS = re.compile(rb"[\r\n]+")
_BOM = b"\xef\xbb\xbf"


class EventTooLargeError(ValueError):
    """One server-sent event went past :data:`MAX_EVENT_BYTES`, or more than
    :data:`MAX_IDLE_LINES` lines came without one."""


@dataclass(frozen=True)
class ServerSentEvent:
    """One event: its ``event`` name (``None`` when the server gave none), its joined ``data``
    lines, and its ``id``."""

    data: str
    event: str | None = None
    id: str | None = None


class SSEDecoder:
    """Turns chunks of an event stream into :class:`ServerSentEvent` values.

    Linear in the bytes fed, whatever the line ends: each chunk is searched once, a line split
    across chunks is kept in a growing buffer (never re-joined from its start), and a run of
    blank lines is one step.
    """

    def __init__(
        self, max_event_bytes: int = MAX_EVENT_BYTES, max_idle_lines: int = MAX_IDLE_LINES
    ) -> None:
        self._max = max_event_bytes
        self._max_idle = max_idle_lines
        self._pending = bytearray()
        self._data: list[str] = []
        self._size = 0
        self._idle = 0
        self._event: str | None = None
        self._id: str | None = None
        self._skip_lf = False
        # The stream's first bytes until a leading byte order mark is ruled out (it may be split
        # across chunks); None once it is. Servers that write UTF-8 "with BOM" send one, and the
        # WHATWG rules drop it: kept, it would hide the first line's field name.
        self._head: bytes | None = b""

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        """The events completed by ``chunk``."""
        if self._head is not None:
            chunk = self._head + chunk
            if len(chunk) < len(_BOM) and _BOM.startswith(chunk):
                self._head = chunk
                return []
            self._head = None
            if chunk.startswith(_BOM):
                chunk = chunk[len(_BOM) :]
        if self._skip_lf and chunk.startswith(b"\n"):
            chunk = chunk[1:]  # the \n of a \r\n split across two chunks
        self._skip_lf = False
        events: list[ServerSentEvent] = []
        start = 0
        for run in _LINE_ENDS.finditer(chunk):
            end = run.start()
            if self._pending:
                self._pending += chunk[start:end]
                line = bytes(self._pending)
                self._pending.clear()
            else:
                line = chunk[start:end]
            self._take(self._line(line), events)
            length = run.end() - end
            if length > 2 or (length == 2 and chunk[end : end + 2] != b"\r\n"):
                self._take(self._dispatch(), events)  # two line ends or more: a blank line
            start = run.end()
        self._skip_lf = chunk.endswith(b"\r")
        self._pending += chunk[start:]
        if len(self._pending) + self._size > self._max:
            raise EventTooLargeError(
                f"a server-sent event is longer than {self._max} bytes; the stream was refused"
            )
        return events

    @staticmethod
    def _take(event: ServerSentEvent | None, events: list[ServerSentEvent]) -> None:
        if event is not None:
            events.append(event)

    def _idle_line(self) -> None:
        # A line that adds nothing to an event; data lines are bounded by the event's size.
        self._idle += 1
        if self._idle > self._max_idle:
            raise EventTooLargeError(
                f"more than {self._max_idle} lines came without an event; the stream was refused"
            )

    def flush(self) -> list[ServerSentEvent]:
        """At the end of the body: an event the server left without its blank line."""
        events: list[ServerSentEvent] = []
        if self._pending:
            event = self._line(bytes(self._pending))
            self._pending.clear()
            if event is not None:
                events.append(event)
        event = self._dispatch()
        if event is not None:
            events.append(event)
        return events

    def _line(self, raw: bytes) -> ServerSentEvent | None:
        if not raw:
            return self._dispatch()
        line = raw.decode("utf-8", errors="replace")
        name, colon, value = line.partition(":")
        if name != "data":
            self._idle_line()
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
            self._size += len(raw)
            if self._size > self._max:
                raise EventTooLargeError(
                    f"a server-sent event is longer than {self._max} bytes; the stream was refused"
                )
        elif name == "event":
            self._event = value
        elif name == "id" and "\0" not in value:
            self._id = value
        return None

    def _dispatch(self) -> ServerSentEvent | None:
        if not self._data:
            self._event = None
            self._idle_line()
            return None
        event = ServerSentEvent("\n".join(self._data), self._event or None, self._id)
        self._data, self._size, self._event, self._idle = [], 0, None, 0
        return event
