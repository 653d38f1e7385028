"""``transcribe_long(..., stream=True)``: the pieces streamed one after the other.

The pieces are sent in order, one at a time (a stream is read in order, so there is nothing to
gain from sending the next piece early), and their events become one stream: deltas as they
come (a space between pieces), segments with their times moved to the whole file, and at the
end one ``transcript.text.done`` with the whole text and the pieces' usage added up.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Generator
from contextlib import AbstractAsyncContextManager, AbstractContextManager, closing
from typing import TYPE_CHECKING, Any

import anyio.to_thread

from .long import SplitPlan, _piece_input
from .splitter import iter_pieces

if TYPE_CHECKING:
    from ..files import AudioFile
    from ..streaming import Joiner, StreamEvent

__all__ = ["astream_long", "stream_long"]


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
