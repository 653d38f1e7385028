"""What a server sent while the request was still going out, read without any I/O.

A server may speak before the upload is over: an interim ``100 Continue`` or ``103 Early
Hints`` (go on sending), or its final answer (a ``413``: stop sending, read it), or it hangs up.
Our streams hand the bytes they read early to :class:`EarlyAnswer`, which tells which it is
with h11 (the parser httpcore itself reads answers with) and keeps them, so that httpcore reads
them first once it turns to the answer.
"""

from __future__ import annotations

import h11
import httpcore

from .wire import saw_answer_bytes

__all__ = ["EARLY_LIMIT", "EarlyAnswer"]

EARLY_LIMIT = 64 * 1024
"""The most bytes kept from a server before the upload is over: past this (interim answers
without end, say), the upload stops and httpcore reads what came as the answer."""


class EarlyAnswer:
    """Bytes a connection read before httpcore asked for the answer, and what they mean."""

    __slots__ = ("_answering", "_held", "_parser", "ended", "error", "final")

    def __init__(self) -> None:
        self._held = bytearray()
        self._answering = False
        self._parser: h11.Connection | None = None
        self.final = False
        """A final answer (or something that is no interim answer) began: stop sending."""
        self.ended = False
        """The server hung up."""
        self.error: httpcore.ReadError | None = None
        """Reading failed (a reset): raised when httpcore reads."""

    @property
    def stop(self) -> bool:
        """Whether the upload must stop: the server answered, hung up or broke the connection."""
        return self.final or self.ended or self.error is not None

    def before_write(self) -> None:
        """A write after the answer was read begins the next request on this kept-alive
        connection: what was learnt of the last one's answer is forgotten."""
        if self._answering:
            self._answering = False
            if not self._held:
                self._parser = None
                self.final = self.ended = False
                self.error = None

    def add(self, data: bytes) -> None:
        """Take bytes read early (``b""``: the server hung up); they count as answer bytes."""
        saw_answer_bytes(len(data))
        if not data:
            self.ended = True
            return
        self._held += data
        if not self.final:
            self.final = self._final_began(data) or len(self._held) > EARLY_LIMIT

    def fail(self, error: httpcore.ReadError) -> None:
        self.error = error

    def take(self, max_bytes: int) -> bytes | None:
        """What a read returns before asking the socket: the bytes held, then the end or the
        error once they are out; ``None`` when nothing was read early."""
        self._answering = True
        if self._held:
            data = bytes(self._held[:max_bytes])
            del self._held[:max_bytes]
            return data
        if self.error is not None:
            raise self.error
        return b"" if self.ended else None

    def _final_began(self, data: bytes) -> bool:
        if self._parser is None:
            self._parser = h11.Connection(our_role=h11.CLIENT)
            # h11 reads an answer only to a request it sent; this one is never on the wire.
            self._parser.send(
                h11.Request(
                    method="POST", target="/", headers=[("Host", "x"), ("Content-Length", "1")]
                )
            )
        self._parser.receive_data(data)
        while True:
            try:
                event = self._parser.next_event()
            except h11.RemoteProtocolError:
                return True  # not HTTP as h11 knows it: httpcore will say so
            if event is h11.NEED_DATA:
                return False
            if isinstance(event, h11.InformationalResponse) and event.status_code != 101:
                continue  # 100 Continue, 103 Early Hints: the final answer is still to come
            return True
