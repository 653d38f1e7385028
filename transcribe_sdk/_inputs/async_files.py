"""The async side of :mod:`transcribe_sdk.files`: async sources, and reads that never block.

``AsyncClient`` accepts everything the sync client does, plus async byte iterators and objects
whose ``read`` is a coroutine function (aiofiles, anyio file handles). Paths and sync file
objects are opened and read in a worker thread, so a slow disk never stalls the event loop.

A worker-thread hop costs more CPU than reading a small file, so the hops are few: a path of at
most ``files.WHOLE_READ_LIMIT`` is checked and read whole in one hop and then sent from memory;
a larger file is opened in one hop and read ``files.ASYNC_CHUNK_SIZE`` at a time. The hops run on
this module's own :data:`FILE_THREADS` threads, not on anyio's shared default limiter, so many
calls in flight do not queue behind (or starve) other users of ``anyio.to_thread``.
"""

from __future__ import annotations

import inspect
import tempfile
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from contextlib import ExitStack, asynccontextmanager
from typing import IO, Any, Protocol, TypeAlias, TypeVar

import anyio
import anyio.lowlevel
import anyio.to_thread

from .. import files
from .._formats import SNIFF_BYTES
from .._readers import _MemoryReader, read_takes_size
from ..errors import InvalidFileError
from ..files import (
    CHUNK_SIZE,
    AudioFile,
    FileInput,
    Reader,
    _name_of,
    finish_name,
    is_async_source,
    prepare_file,
    prepare_to_send,
    split_tuple,
    spooled_file,
)

__all__ = ["AsyncFileInput", "AsyncReader", "aopen", "aprepare_file", "aspool"]

FILE_THREADS = 2
"""Worker threads for file work per event loop. Each hop costs less CPU on fewer threads (one
was cheapest, measured with 64 uploads in flight); two keep one slow read (a network mount)
from holding up every other upload."""

_T = TypeVar("_T")
_limiter: anyio.lowlevel.RunVar[anyio.CapacityLimiter] = anyio.lowlevel.RunVar(
    "transcribe_sdk_file_threads"
)


async def run_in_thread(func: Callable[..., _T], *args: Any) -> _T:
    """``func(*args)`` in a worker thread, limited to :data:`FILE_THREADS` per event loop."""
    try:
        limiter = _limiter.get()
    except LookupError:
        limiter = anyio.CapacityLimiter(FILE_THREADS)
        _limiter.set(limiter)
    return await anyio.to_thread.run_sync(func, *args, limiter=limiter)


class AsyncReadable(Protocol):
    """An object with ``async def read(size)`` returning bytes (aiofiles, anyio)."""

    async def read(self, size: int = -1, /) -> bytes:
        """Up to ``size`` bytes (all that is left when ``size`` is -1); ``b""`` at the end."""
        ...


AsyncContent: TypeAlias = AsyncIterable[bytes] | AsyncReadable
AsyncFileInput: TypeAlias = (
    FileInput
    | AsyncContent
    | tuple[str | None, AsyncContent]
    | tuple[str | None, AsyncContent, str | None]
)
"""What ``AsyncClient.transcribe`` accepts: any :data:`FileInput`, async iterators and readers."""


class AsyncReader(Protocol):
    """What the async multipart encoder reads from for one attempt."""

    async def read(self, size: int, /) -> bytes: ...


class _ThreadedReader:
    def __init__(self, reader: Reader) -> None:
        self._reader = reader

    async def read(self, size: int, /) -> bytes:
        return await run_in_thread(self._reader.read, size)


class _InlineReader:
    def __init__(self, reader: Reader) -> None:
        self._reader = reader

    async def read(self, size: int, /) -> bytes:
        return self._reader.read(size)


def _check_chunk(chunk: object) -> bytes:
    if isinstance(chunk, (bytes, bytearray, memoryview)):
        return bytes(chunk)
    if isinstance(chunk, str):
        raise InvalidFileError("the async source yields str; it must yield bytes (open in 'rb')")
    raise InvalidFileError(f"the async source yields {type(chunk).__name__}, not bytes")


class _AsyncPrefixedReader:
    """An async source whose first bytes were already taken to identify it."""

    def __init__(self, prefix: bytes, pull: Callable[[int], Awaitable[bytes]]) -> None:
        self._buffer = prefix
        self._pull = pull

    async def read(self, size: int, /) -> bytes:
        if not self._buffer:
            return await self._pull(size)
        if size < 0 or size >= len(self._buffer):
            chunk, self._buffer = self._buffer, b""
        else:
            chunk, self._buffer = self._buffer[:size], self._buffer[size:]
        return chunk


def _puller(source: Any) -> Callable[[int], Awaitable[bytes]]:
    # An async read comes first: anyio and aiofiles files also iterate, but line by line.
    if not inspect.iscoroutinefunction(getattr(source, "read", None)):
        iterator: AsyncIterator[Any] = source.__aiter__()

        async def pull_item(_size: int) -> bytes:
            # An iterator hands out its own chunk sizes; an empty chunk is skipped, not EOF.
            async for item in iterator:
                chunk = _check_chunk(item)
                if chunk:
                    return chunk
            return b""

        return pull_item

    async def pull_read(size: int) -> bytes:
        return _check_chunk(await source.read(size))

    async def pull_all(_size: int) -> bytes:
        # A read() that takes no size returns what it has, the rest at once, or b"" at the end.
        return _check_chunk(await source.read())

    return pull_read if read_takes_size(source.read) else pull_all


async def _async_source_file(
    source: Any, filename: str | None, content_type: str | None
) -> AudioFile:
    if getattr(source, "closed", False):
        raise InvalidFileError("the file object is closed")
    pull = _puller(source)
    head = b""
    for _ in range(SNIFF_BYTES):
        chunk = await pull(SNIFF_BYTES - len(head))
        if not chunk:
            break
        head += chunk
        if len(head) >= SNIFF_BYTES:
            break
    if not head:
        raise InvalidFileError("the async source is empty")
    final_name, final_type = finish_name(filename or _name_of(source), content_type, head)

    @asynccontextmanager
    async def aopener() -> AsyncIterator[AsyncReader]:
        yield _AsyncPrefixedReader(head, pull)

    return AudioFile(final_name, final_type, None, False, None, aopener)


async def aprepare_file(file: AsyncFileInput) -> AudioFile:
    """Like :func:`~transcribe_sdk.files.prepare_file`, for ``AsyncClient``: checks off the loop."""
    if isinstance(file, AudioFile):
        return file
    content: Any = file
    filename = content_type = None
    if isinstance(file, tuple):
        content, filename, content_type = split_tuple(file)
    if is_async_source(content):
        try:
            return await _async_source_file(content, filename, content_type)
        except OSError as exc:
            raise InvalidFileError(f"reading the async source failed: {exc}") from exc
    if isinstance(content, (bytes, bytearray, memoryview)):
        return prepare_file(file)  # type: ignore[arg-type]
    return await run_in_thread(prepare_to_send, file)


@asynccontextmanager
async def aopen(audio: AudioFile) -> AsyncIterator[AsyncReader]:
    """Open ``audio`` for one attempt, doing any disk work in a worker thread."""
    if audio._aopener is not None:
        audio.mark_opened()
        async with audio._aopener() as areader:
            yield areader
        return
    context = audio.open()
    if audio.in_memory:  # nothing to wait for: no thread hop per request
        reader = context.__enter__()
    else:
        # Shielded so a cancellation cannot strike between the open in the thread and our
        # hold on it.
        with anyio.CancelScope(shield=True):
            reader = await run_in_thread(context.__enter__)
    # Closing a local file does not block; it is done inline so a cancellation cannot skip it.
    with ExitStack() as stack:
        stack.push(context)
        yield (
            _InlineReader(reader) if isinstance(reader, _MemoryReader) else _ThreadedReader(reader)
        )


async def aspool(audio: AudioFile, limit: int | None = None) -> tuple[AudioFile, IO[bytes]]:
    """The async :func:`~transcribe_sdk.files.spool`; writes go to a thread in 1 MB batches."""
    # Read at call time, so the one setting in files.py governs both clients.
    memory = files.SPOOL_MEMORY_LIMIT
    copy: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=memory)  # noqa: SIM115
    batch = bytearray()
    total = 0
    try:
        async with aopen(audio) as reader:
            while chunk := await reader.read(CHUNK_SIZE):
                batch += chunk
                total += len(chunk)
                if limit is not None and total > limit:
                    raise files.spool_limit_error(limit)
                if len(batch) >= 1024 * 1024:
                    await anyio.to_thread.run_sync(copy.write, bytes(batch))
                    batch.clear()
        if batch:
            await anyio.to_thread.run_sync(copy.write, bytes(batch))
        return spooled_file(audio, copy), copy
    except OSError as exc:  # as spool() does: a stream that fails to read is the file's fault
        copy.close()
        raise InvalidFileError(f"reading the stream failed: {exc}") from exc
    except BaseException:
        copy.close()
        raise
