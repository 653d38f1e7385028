"""Reading ``text/event-stream`` bodies: bytes in, server-sent events out.

Pure code, fed whatever chunks the network gives: an event may arrive split across chunks, and
lines may end in ``\\n``, ``\\r\\n`` or ``\\r`` (the WHATWG rules). Comments (``:``) and
``retry`` fields are skipped. One event may hold at most :data:`MAX_EVENT_BYTES`: a server that
sends a line without end cannot make the client hold more than that.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_EVENT_BYTES = 4 * 1024 * 1024
"""The most one event (its pending line plus its data) may hold before the stream is refused."""


class EventTooLargeError(ValueError):
    """One server-sent event went past :data:`MAX_EVENT_BYTES`."""


@dataclass(frozen=True)
class ServerSentEvent:
    """One event: its ``event`` name (``None`` when the server gave none), its joined ``data``
    lines, and its ``id``."""

    data: str
    event: str | None = None
    id: str | None = None


class SSEDecoder:
    """Turns chunks of an event stream into :class:`ServerSentEvent` values."""

    def __init__(self, max_event_bytes: int = MAX_EVENT_BYTES) -> None:
        self._max = max_event_bytes
        self._pending = b""
        self._data: list[str] = []
        self._size = 0
        self._event: str | None = None
        self._id: str | None = None
        self._skip_lf = False

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        """The events completed by ``chunk``."""
        if self._skip_lf and chunk.startswith(b"\n"):
            chunk = chunk[1:]  # the \n of a \r\n split across two chunks
        self._skip_lf = False
        buffer = self._pending + chunk
        events: list[ServerSentEvent] = []
        start = 0
        while True:
            cr = buffer.find(b"\r", start)
            lf = buffer.find(b"\n", start)
            if cr == -1 and lf == -1:
                break
            end = lf if cr == -1 else cr if lf == -1 else min(cr, lf)
            line = buffer[start:end]
            if buffer[end : end + 1] == b"\r":
                if end + 1 == len(buffer):
                    self._skip_lf = True
                    start = end + 1
                elif buffer[end + 1 : end + 2] == b"\n":
                    start = end + 2
                else:
                    start = end + 1
            else:
                start = end + 1
            event = self._line(line)
            if event is not None:
                events.append(event)
        self._pending = buffer[start:]
        if len(self._pending) + self._size > self._max:
            raise EventTooLargeError(
                f"a server-sent event is longer than {self._max} bytes; the stream was refused"
            )
        return events

    def flush(self) -> list[ServerSentEvent]:
        """At the end of the body: an event the server left without its blank line."""
        events: list[ServerSentEvent] = []
        if self._pending:
            event = self._line(self._pending)
            self._pending = b""
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
        if line.startswith(":"):
            return None
        name, colon, value = line.partition(":")
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
            return None
        event = ServerSentEvent("\n".join(self._data), self._event or None, self._id)
        self._data, self._size, self._event = [], 0, None
        return event
