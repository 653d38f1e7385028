"""``transcribe_long(..., stream=True)``: the pieces streamed one after the other.

The pieces are sent in order, one at a time (a stream is read in order, so there is nothing to
gain from sending the next piece early), and their events become one stream: deltas as they
come (a space between pieces), segments with their times moved to the whole file, and at the
end one ``transcript.text.done`` with the whole text and the pieces' usage added up.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable, Generator, Iterator
from contextlib import AbstractAsyncContextManager, AbstractContextManager, closing
from typing import Any

import anyio.to_thread
from typing_extensions import Self

from ._long import SplitPlan, _piece_input
from ._splitter import iter_pieces
from .files import AudioFile
from .models import total_usage
from .streaming import (
    StreamEvent,
    TranscriptTextDelta,
    TranscriptTextDone,
    TranscriptTextSegment,
)

__all__ = ["AsyncPiecewiseStream", "PiecewiseStream", "astream_long", "stream_long"]


class Joiner:
    """Pure: one piece's events at a time in, the whole file's events out."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.usages: list[Any] = []
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


OpenStream = Callable[[Any], AbstractContextManager[Any]]
AsyncOpenStream = Callable[[Any], AbstractAsyncContextManager[Any]]


def stream_long(
    open_stream: OpenStream,
    audio: AudioFile,
    plan: SplitPlan,
    split: bool,
    joiner: Joiner,
) -> Generator[StreamEvent, None, None]:
    """The events of ``audio``, piece by piece (or as one call when it needs no split)."""
    if not split:
        with open_stream(audio) as events:
            for event in events:
                yield from joiner.event(event, 0.0)
    else:
        with (
            audio.open() as reader,
            closing(iter_pieces(reader, max_seconds=plan.max_seconds)) as pieces,
        ):
            for piece in pieces:
                joiner.start_piece()
                with open_stream(_piece_input(audio, piece)) as events:
                    for event in events:
                        yield from joiner.event(event, piece.start)
    yield joiner.done()


async def astream_long(
    open_stream: AsyncOpenStream,
    audio: AudioFile,
    plan: SplitPlan,
    split: bool,
    joiner: Joiner,
) -> AsyncGenerator[StreamEvent, None]:
    """The async :func:`stream_long`: pieces are decoded in a worker thread."""
    if not split:
        async with open_stream(audio) as events:
            async for event in events:
                for out in joiner.event(event, 0.0):
                    yield out
    else:
        opening = audio.open()
        reader = await anyio.to_thread.run_sync(opening.__enter__)
        try:
            pieces = iter_pieces(reader, max_seconds=plan.max_seconds)
            try:
                while (piece := await anyio.to_thread.run_sync(next, pieces, None)) is not None:
                    joiner.start_piece()
                    async with open_stream(_piece_input(audio, piece)) as events:
                        async for event in events:
                            for out in joiner.event(event, piece.start):
                                yield out
            finally:
                pieces.close()
        finally:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(opening.__exit__, None, None, None)
    yield joiner.done()


class PiecewiseStream:
    """The events of a long file streamed piece by piece; iterate once, in a ``with`` block."""

    def __init__(self, events: Generator[StreamEvent, None, None], joiner: Joiner) -> None:
        self._events = events
        self._joiner = joiner

    @property
    def text(self) -> str:
        """The text of the pieces finished so far (all of it once the stream is done)."""
        return self._joiner.text

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

    def __aiter__(self) -> AsyncIterator[StreamEvent]:
        return self._events

    async def aclose(self) -> None:
        """Stop: the piece being streamed is closed and no other is sent."""
        await self._events.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
