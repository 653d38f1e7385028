"""A one-shot stream sent while it is copied, so a retry can send it again.

A pipe, a socket or a generator can be read once. When retries are on, the bytes the first
attempt reads are kept (in memory up to :data:`~transcribe_sdk.files.SPOOL_MEMORY_LIMIT`, then
in an unlinked temporary file) as they go out: the upload starts at once instead of after the
whole stream was copied, and an endless stream is stopped at ``max_spool_bytes`` (or earlier at
``max_upload_bytes``) instead of filling the disk. A later attempt replays the copy, then goes
on reading the stream where the earlier attempt stopped (an attempt cut off half way has read
only part of it).

:class:`TeeCopy` is the shared state (the source, the copy, how much of each); the sync and
async readers each hold a position in it. Attempts run one at a time, so one copy serves them
all.
"""

from __future__ import annotations

import tempfile
from contextlib import AsyncExitStack, ExitStack, asynccontextmanager, contextmanager
from dataclasses import replace
from typing import IO, TYPE_CHECKING, Any

import anyio

from .. import files
from .._readers import checked_chunk
from ..errors import InvalidFileError

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Iterator
    from contextlib import AbstractAsyncContextManager

    from ..files import AudioFile, Reader
    from .async_files import AsyncReader

__all__ = ["TeeCopy", "atee", "tee"]


class TeeCopy:
    """The copy of a one-shot stream, filled as attempts read it. Pure bookkeeping: the
    readers below do the reading."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.copy: IO[bytes] = tempfile.SpooledTemporaryFile(  # noqa: SIM115 (closed by close)
            max_size=files.SPOOL_MEMORY_LIMIT
        )
        self.size = 0
        """Bytes of the stream read (and copied) so far."""
        self.ended = False
        """Whether the stream has been read to its end."""

    def take(self, chunk: bytes) -> None:
        """Keep ``chunk``, the stream's next bytes; past ``limit``: :class:`SpoolLimitError`."""
        if not chunk:
            self.ended = True
            return
        if self.size + len(chunk) > self.limit:
            raise files.spool_limit_error(self.limit)
        self.copy.seek(self.size)
        self.copy.write(chunk)
        self.size += len(chunk)

    def replay(self, position: int, size: int) -> bytes:
        """Up to ``size`` bytes of the copy from ``position`` (``b""`` at its end)."""
        self.copy.seek(position)
        return self.copy.read(min(size, self.size - position))

    def close(self) -> None:
        self.copy.close()


class _TeeReader:
    """One attempt's reader: the copy from the start, then the stream, copied as it goes."""

    def __init__(self, state: TeeCopy, source: Reader) -> None:
        self._state = state
        self._source = source
        self._position = 0

    def read(self, size: int = -1, /) -> bytes:
        state = self._state
        if size is None or size < 0:
            size = files.CHUNK_SIZE
        if self._position < state.size:
            data = state.replay(self._position, size)
        elif state.ended:
            return b""
        else:
            try:
                data = self._source.read(size)
            except OSError as exc:
                raise InvalidFileError(f"reading the stream failed: {exc}") from exc
            data = checked_chunk(data)
            state.take(data)
        self._position += len(data)
        return data


def tee(audio: AudioFile, limit: int) -> tuple[AudioFile, ExitStack]:
    """``audio``, a one-shot stream, as a file every attempt can send: the first reads the
    stream (copying it), the next ones replay the copy and go on. Close the returned stack
    once the call is over: it closes the stream and drops the copy."""
    state = TeeCopy(limit)
    stack = ExitStack()
    stack.callback(state.close)
    sources: list[Reader] = []

    @contextmanager
    def opener() -> Iterator[Reader]:
        if not sources:  # the stream is opened once, by the first attempt, for them all
            sources.append(stack.enter_context(audio.open()))
        yield _TeeReader(state, sources[0])

    return replace(audio, replayable=True, _opener=opener, _aopener=None, _opened=0), stack


class _AsyncTeeReader:
    """The async :class:`_TeeReader`: the copy's disk work runs in a worker thread."""

    def __init__(self, state: TeeCopy, source: AsyncReader) -> None:
        self._state = state
        self._source = source
        self._position = 0

    async def read(self, size: int, /) -> bytes:
        state = self._state
        if self._position < state.size:
            data = await anyio.to_thread.run_sync(state.replay, self._position, size)
        elif state.ended:
            return b""
        else:
            try:
                data = checked_chunk(await self._source.read(size))
            except OSError as exc:
                raise InvalidFileError(f"reading the stream failed: {exc}") from exc
            await anyio.to_thread.run_sync(state.take, data)
        self._position += len(data)
        return data


def atee(
    audio: AudioFile,
    limit: int,
    source: Callable[[], AbstractAsyncContextManager[AsyncReader]],
) -> tuple[AudioFile, AsyncExitStack]:
    """The async :func:`tee`, for ``AsyncClient`` (a sync one-shot stream or an async
    source); ``source()`` opens the stream (``aopen(audio)``). Close the returned stack
    (``aclose``) once the call is over."""
    state = TeeCopy(limit)
    stack = AsyncExitStack()
    stack.callback(state.close)
    sources: list[Any] = []

    @asynccontextmanager
    async def aopener() -> AsyncIterator[Any]:
        if not sources:
            sources.append(await stack.enter_async_context(source()))
        yield _AsyncTeeReader(state, sources[0])

    tee_file = replace(audio, replayable=True, _opener=None, _aopener=aopener, _opened=0)
    return tee_file, stack
