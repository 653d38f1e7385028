"""Streamed transcription: typed events as the server sends them.

``client.transcribe(..., stream=True)`` returns a :class:`TranscriptionStream` (or, from
:class:`~transcribe_sdk.AsyncClient`, an :class:`AsyncTranscriptionStream`) that yields these
events, with OpenAI's names and fields (``transcribe_long(..., stream=True)`` returns a
:class:`PiecewiseStream` or :class:`AsyncPiecewiseStream` of the same events):

- :class:`TranscriptTextDelta` (``transcript.text.delta``): more text, as it is decoded;
- :class:`TranscriptTextSegment` (``transcript.text.segment``): a finished segment with its
  times (and speaker, when diarizing);
- :class:`TranscriptTextDone` (``transcript.text.done``): the whole text and the usage; always
  the last event of a stream that finished;
- :class:`UnknownStreamEvent`: any other event, kept as it came.

Other servers' shapes are read as the same events: Mistral's ``transcription.text.delta``,
``transcription.segment`` and ``transcription.done``, and vLLM's chat-style chunks ending in
``[DONE]``. A server that ignores ``stream`` and answers plain JSON still gives one
:class:`TranscriptTextDone`, so code written for streaming works with every server.

Example::

    with client.transcribe("talk.mp3", model="gpt-4o-transcribe", stream=True) as events:
        for event in events:
            if event.type == "transcript.text.delta":
                print(event.delta, end="", flush=True)
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable, Generator, Iterator
from contextlib import aclosing
from typing import Any

import httpx
from typing_extensions import Self

from ._error_words import scrub_error
from ._events import (
    EventReader,
    StreamEvent,
    TranscriptTextDelta,
    TranscriptTextDone,
    TranscriptTextSegment,
    UnknownStreamEvent,
    _cut_off,
)
from ._http.decoded import aiter_decoded, iter_decoded
from ._route import Route, combine, route_from_headers
from .errors import StreamFailedError
from .models import Logprob, total_usage

__all__ = [
    "AsyncPiecewiseStream",
    "AsyncTranscriptionStream",
    "Logprob",
    "PiecewiseStream",
    "StreamEvent",
    "TranscriptTextDelta",
    "TranscriptTextDone",
    "TranscriptTextSegment",
    "TranscriptionStream",
    "UnknownStreamEvent",
]


FEED_SLICE = 64 * 1024
"""The most bytes of a body read into events at a time."""


class _StreamBase:
    """What the sync and async streams share: the response, the event reader, closing."""

    def __init__(
        self,
        response: httpx.Response,
        *,
        whole: Callable[[], TranscriptTextDone] | None = None,
        max_bytes: int | None = None,
        secrets: tuple[str, ...] = (),
    ) -> None:
        self.http_response = response
        """The HTTP response the events are read from."""
        self._reader = EventReader()
        # A server that ignored ``stream`` sent the whole transcript already: the stream's one
        # event is known, and so is its text, before anything is iterated.
        self._whole = None if whole is None else self._reader.whole(whole())
        self._max_bytes = max_bytes
        self._seen = 0
        self._secrets = secrets  # the key: a server's error event must not show it

    @property
    def request_id(self) -> str | None:
        """The id the server gave the request, from its headers, if any."""
        from ._error_words import request_id_from

        return request_id_from(self.http_response.headers)

    @property
    def route(self) -> Route:
        """What the router said about the request (deployment, cost, retries), from the
        headers that opened the stream; every field ``None`` when it said nothing."""
        return route_from_headers(self.http_response.headers)

    @property
    def text(self) -> str:
        """The text that has arrived so far (the whole text once the stream is done)."""
        return self._reader.text

    def _finish(self) -> list[StreamEvent]:
        try:
            return self._reader.finish()
        except StreamFailedError as exc:  # the server's words: they might echo the key
            raise scrub_error(exc, self._secrets) from None

    def _feed(self, chunk: bytes) -> Iterator[StreamEvent]:
        # A decoded chunk can be large (a small gzip body inflates to megabytes at once): it is
        # read a slice at a time, so the events waiting to be yielded stay few.
        for start in range(0, len(chunk), FEED_SLICE):
            piece = chunk[start : start + FEED_SLICE]
            self._seen += len(piece)
            if self._max_bytes is not None and self._seen > self._max_bytes:
                raise self._reader.interrupted(
                    f"the stream went past the {self._max_bytes}-byte limit on answers"
                )
            yield from self._reader.feed(piece)
            if self._reader.over:
                return


class TranscriptionStream(_StreamBase):
    """The events of one streamed transcription, read as they arrive.

    Iterate it once; use it as a context manager (or call :meth:`close`) so the connection is
    released even when you stop early. ``request_id`` and ``http_response`` say which request
    it was.
    """

    def __iter__(self) -> Iterator[StreamEvent]:
        try:
            if self._whole is not None:
                yield self._whole
                return
            try:
                # Decoded a bounded piece at a time (httpx would inflate each read whole).
                for chunk in iter_decoded(self.http_response):
                    yield from self._feed(chunk)
                    if self._reader.over:
                        break  # the transcript is whole, or failed: the rest is not read
            except httpx.DecodingError as exc:
                raise self._reader.interrupted(str(exc)) from None
            except httpx.HTTPError as exc:
                raise _cut_off(self._reader, exc) from None
            yield from self._finish()
        finally:
            self.close()

    def close(self) -> None:
        """Release the connection; events not read yet are dropped."""
        self.http_response.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AsyncTranscriptionStream(_StreamBase):
    """The async counterpart of :class:`TranscriptionStream`: ``async for`` and
    ``async with``."""

    async def __aiter__(self) -> AsyncIterator[StreamEvent]:
        try:
            if self._whole is not None:
                yield self._whole
                return
            try:
                async with aclosing(aiter_decoded(self.http_response)) as chunks:
                    async for chunk in chunks:
                        for event in self._feed(chunk):
                            yield event
                        if self._reader.over:
                            break  # the transcript is whole, or failed: the rest is not read
            except httpx.DecodingError as exc:
                raise self._reader.interrupted(str(exc)) from None
            except httpx.HTTPError as exc:
                raise _cut_off(self._reader, exc) from None
            for event in self._finish():
                yield event
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        """Release the connection; events not read yet are dropped."""
        await self.http_response.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


# transcribe_long(stream=True): the pieces' events joined into one stream. The generator that
# sends the pieces is in transcribe_sdk._audio.long_stream.


class Joiner:
    """Pure: one piece's events at a time in, the whole file's events out."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.usages: list[Any] = []
        self.routes: list[Route] = []  # one per piece opened, in order
        self._started = False  # the current piece has sent text

    def start_piece(self) -> None:
        """Mark the start of the next piece's events."""
        self._started = False

    def event(self, event: StreamEvent, offset: float) -> list[StreamEvent]:
        """The whole file's events for one of a piece's, its times moved by ``offset`` s."""
        if isinstance(event, TranscriptTextDelta):
            delta = event.delta
            if not self._started and self.texts and delta and not delta.startswith(" "):
                delta = " " + delta  # pieces are joined with a space, as their texts are
            self._started = self._started or bool(delta)
            return [event.model_copy(update={"delta": delta})]
        if isinstance(event, TranscriptTextSegment):
            shift = {
                name: round(value + offset, 3)
                for name in ("start", "end")
                if (value := getattr(event, name)) is not None
            }
            return [event.model_copy(update=shift)]
        if isinstance(event, TranscriptTextDone):
            text = event.text.strip()
            self.usages.append(event.usage)
            out: list[StreamEvent] = []
            if text and not self._started:  # a server that answered the piece whole
                out.append(TranscriptTextDelta(delta=(" " if self.texts else "") + text))
            if text:
                self.texts.append(text)
            return out
        return [event]

    @property
    def text(self) -> str:
        """The text of the pieces so far, joined with spaces."""
        return " ".join(self.texts)

    def done(self) -> TranscriptTextDone:
        """The whole file's last event: all the text, the pieces' usage added up."""
        return TranscriptTextDone(text=self.text, usage=total_usage(self.usages))


class PiecewiseStream:
    """The events of a long file streamed piece by piece; iterate once, in a ``with`` block."""

    def __init__(self, events: Generator[StreamEvent, None, None], joiner: Joiner) -> None:
        self._events = events
        self._joiner = joiner

    @property
    def text(self) -> str:
        """The text of the pieces finished so far (all of it once the stream is done)."""
        return self._joiner.text

    @property
    def route(self) -> Route:
        """The routes of the pieces opened so far, combined (costs added up; ``None`` while
        any piece's is unknown): see :attr:`Transcription.route`."""
        return combine(self._joiner.routes)

    def __iter__(self) -> Iterator[StreamEvent]:
        return self._events

    def close(self) -> None:
        """Stop: the piece being streamed is closed and no other is sent."""
        self._events.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AsyncPiecewiseStream:
    """The async :class:`PiecewiseStream`: ``async for`` in an ``async with`` block."""

    def __init__(self, events: AsyncGenerator[StreamEvent, None], joiner: Joiner) -> None:
        self._events = events
        self._joiner = joiner

    @property
    def text(self) -> str:
        """The text of the pieces finished so far (all of it once the stream is done)."""
        return self._joiner.text

    @property
    def route(self) -> Route:
        """The routes of the pieces opened so far, combined (costs added up; ``None`` while
        any piece's is unknown): see :attr:`Transcription.route`."""
        return combine(self._joiner.routes)

    def __aiter__(self) -> AsyncIterator[StreamEvent]:
        return self._events

    async def aclose(self) -> None:
        """Stop: the piece being streamed is closed and no other is sent."""
        await self._events.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
