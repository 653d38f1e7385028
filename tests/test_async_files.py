"""transcribe_sdk._inputs.async_files: async sources, and reads that keep the event loop free."""

from __future__ import annotations

import contextlib
import io
import os
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from internals import aopen, aprepare_file, aspool

from transcribe_sdk import files
from transcribe_sdk.errors import InvalidFileError
from transcribe_sdk.files import AudioFile

pytestmark = pytest.mark.anyio

FIXTURES = Path(__file__).parent / "fixtures"
WAV = (FIXTURES / "hello.wav").read_bytes()
OGG = (FIXTURES / "hello.ogg").read_bytes()
FLAC = (FIXTURES / "hello.flac").read_bytes()
LONG = (FIXTURES / "long_speech.wav").read_bytes()
UNKNOWN = b"this is plain text, not audio at all; " * 4
HAS_PROC_FDS = os.path.isdir("/proc/self/fd")
needs_proc_fds = pytest.mark.skipif(not HAS_PROC_FDS, reason="counts /proc/self/fd")


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def aread_all(reader: Any, size: int = 65536) -> bytes:
    parts = []
    for _ in range(100_000):
        chunk = await reader.read(size)
        if not chunk:
            return b"".join(parts)
        parts.append(chunk)
    raise AssertionError("the reader never reached its end")


async def aread_back(audio: AudioFile) -> bytes:
    async with aopen(audio) as reader:
        return await aread_all(reader)


async def invalid(awaitable: Any, *fragments: str) -> InvalidFileError:
    with pytest.raises(InvalidFileError) as info:
        await awaitable
    exc = info.value
    assert isinstance(exc, ValueError)
    assert isinstance(exc, TypeError)
    for fragment in fragments:
        assert fragment in str(exc), (fragment, str(exc))
    return exc


async def chunks_of(data: bytes, size: int = 4096, *extra: Any) -> AsyncIterator[Any]:
    """An async generator of ``data`` in ``size`` pieces, then anything in ``extra``."""
    for start in range(0, len(data), size):
        yield data[start : start + size]
    for item in extra:
        yield item


class AsyncReadable:
    """An object with ``async def read`` that hands out short reads, like a socket wrapper."""

    def __init__(self, data: bytes, chunk: int = 5000, name: str | None = None) -> None:
        self._data = data
        self._chunk = chunk
        self._pos = 0
        self.sizes: list[int] = []
        if name is not None:
            self.name = name

    async def read(self, size: int = -1) -> bytes:
        self.sizes.append(size)
        await anyio.sleep(0)
        n = self._chunk if size < 0 else min(size, self._chunk)
        out = self._data[self._pos : self._pos + n]
        self._pos += len(out)
        return out


class OnlyRead:
    def __init__(self, data: bytes) -> None:
        self._stream = io.BytesIO(data)

    def read(self, size: int = -1, /) -> bytes:
        return self._stream.read(size)


# --- sync inputs, read off the event loop -------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("hello.wav", "audio/wav"),
        ("hello.mp3", "audio/mpeg"),
        ("hello.flac", "audio/flac"),
        ("hello.ogg", "audio/ogg"),
        ("hello.m4a", "audio/x-m4a"),
        ("hello.webm", "audio/webm"),
    ],
)
async def test_paths(name: str, content_type: str) -> None:
    path = FIXTURES / name
    for source in (str(path), path):
        audio = await aprepare_file(source)
        assert (audio.filename, audio.content_type, audio.size, audio.replayable) == (
            name,
            content_type,
            path.stat().st_size,
            True,
        )
        assert await aread_back(audio) == path.read_bytes()
        assert await aread_back(audio) == path.read_bytes()


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
async def test_raw_bytes(kind: Any) -> None:
    audio = await aprepare_file(kind(OGG))
    assert (audio.filename, audio.size, audio.replayable) == ("audio.ogg", len(OGG), True)
    assert await aread_back(audio) == OGG


async def test_sync_file_object() -> None:
    with open(FIXTURES / "hello.flac", "rb") as handle:
        handle.seek(10)
        audio = await aprepare_file(handle)
        assert (audio.filename, audio.size, audio.replayable) == (
            "hello.flac",
            len(FLAC) - 10,
            True,
        )
        assert await aread_back(audio) == FLAC[10:]
        assert await aread_back(audio) == FLAC[10:]  # rewound to where it was handed over
        assert not handle.closed


async def test_sync_one_shot_stream() -> None:
    audio = await aprepare_file(("clip", OnlyRead(WAV)))
    assert (audio.filename, audio.size, audio.replayable) == ("clip.wav", None, False)
    assert await aread_back(audio) == WAV
    await invalid(aread_back(audio), "already sent once")


# --- async sources ------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [7, 4096, 1 << 20])
async def test_async_generator(size: int) -> None:
    audio = await aprepare_file(chunks_of(WAV, size))
    assert (audio.filename, audio.content_type, audio.size, audio.replayable) == (
        "audio.wav",
        "audio/wav",
        None,
        False,
    )
    async with aopen(audio) as reader:
        assert await reader.read(3) == b"RIF"  # from the bytes taken to identify it
        assert await aread_all(reader) == WAV[3:]
    await invalid(aread_back(audio), "already sent once")


async def test_async_generator_of_single_bytes_at_first() -> None:
    async def trickle() -> AsyncIterator[bytes]:
        for byte in OGG[:100]:
            yield bytes([byte])
        yield OGG[100:]

    audio = await aprepare_file(trickle())
    assert audio.filename == "audio.ogg"
    assert await aread_back(audio) == OGG


async def test_async_generator_chunk_types_and_empty_chunks() -> None:
    async def mixed() -> AsyncIterator[Any]:
        yield b""
        yield bytearray(OGG[:10])
        yield b""
        yield memoryview(OGG)[10:100]
        yield OGG[100:]
        yield b""

    audio = await aprepare_file(mixed())
    assert audio.filename == "audio.ogg"
    assert await aread_back(audio) == OGG


async def test_async_readable_with_a_name() -> None:
    source = AsyncReadable(FLAC, chunk=1000, name="/recordings/talk.flac")
    audio = await aprepare_file(source)
    assert (audio.filename, audio.content_type, audio.size) == ("talk.flac", "audio/flac", None)
    assert await aread_back(audio) == FLAC


async def test_async_readable_odd_names_are_not_used() -> None:
    audio = await aprepare_file(AsyncReadable(FLAC, name="<stdin>"))
    assert audio.filename == "audio.flac"


async def test_async_read_is_preferred_over_line_iteration() -> None:
    class ReadableAndIterable(AsyncReadable):
        def __aiter__(self) -> AsyncIterator[bytes]:
            raise AssertionError("iterated by lines instead of read in chunks")

    source = ReadableAndIterable(LONG, chunk=1 << 30)
    audio = await aprepare_file(source)
    assert await aread_back(audio) == LONG
    assert source.sizes[0] == 64  # the bytes needed to identify it, then whole chunks
    assert len(source.sizes) <= 3 + len(LONG) // 65536


async def test_anyio_file_is_read_in_chunks_and_left_open() -> None:
    async with await anyio.open_file(FIXTURES / "long_speech.wav", "rb") as handle:
        audio = await aprepare_file(handle)
        assert (audio.filename, audio.content_type, audio.replayable) == (
            "long_speech.wav",
            "audio/wav",
            False,
        )
        pieces = []
        async with aopen(audio) as reader:
            for _ in range(1000):
                chunk = await reader.read(256 * 1024)
                if not chunk:
                    break
                pieces.append(chunk)
        assert b"".join(pieces) == LONG
        assert len(pieces) <= 2 + len(LONG) // (256 * 1024)  # not one line at a time
        assert not handle.wrapped.closed


@pytest.mark.parametrize(
    ("make", "data", "name", "content_type"),
    [
        (lambda: ("speech.wav", chunks_of(WAV)), WAV, "speech.wav", "audio/wav"),
        (lambda: (None, chunks_of(WAV)), WAV, "audio.wav", "audio/wav"),
        (lambda: ("take", chunks_of(OGG), "audio/opus"), OGG, "take.ogg", "audio/opus"),
        (lambda: ("a.ogg", AsyncReadable(OGG), "application/ogg"), OGG, "a.ogg", "application/ogg"),
        (lambda: ("blob", chunks_of(UNKNOWN), "audio/wav"), UNKNOWN, "blob", "audio/wav"),
    ],
)
async def test_tuples_with_async_content(
    make: Any, data: bytes, name: str, content_type: str
) -> None:
    audio = await aprepare_file(make())
    assert (audio.filename, audio.content_type, audio.size, audio.replayable) == (
        name,
        content_type,
        None,
        False,
    )
    assert await aread_back(audio) == data


# --- errors -------------------------------------------------------------------------------------


async def test_async_generator_yielding_str() -> None:
    async def text() -> AsyncIterator[str]:
        yield "RIFF....WAVE"

    source = text()
    await invalid(aprepare_file(source), "yields str", "'rb'")
    await source.aclose()


async def test_async_reader_returning_str_or_other() -> None:
    class TextReader:
        async def read(self, size: int = -1) -> Any:
            return "abc"

    class IntReader:
        async def read(self, size: int = -1) -> Any:
            return 7

    await invalid(aprepare_file(TextReader()), "yields str")
    await invalid(aprepare_file(IntReader()), "yields int, not bytes")


async def test_str_after_the_head_fails_while_reading() -> None:
    source = chunks_of(WAV, 4096, "tail as text")
    audio = await aprepare_file(source)
    await invalid(aread_back(audio), "yields str")
    await source.aclose()


async def test_empty_async_sources() -> None:
    await invalid(aprepare_file(chunks_of(b"")), "the async source is empty")
    await invalid(aprepare_file(chunks_of(b"", 1, b"", b"")), "the async source is empty")
    await invalid(aprepare_file(AsyncReadable(b"")), "the async source is empty")


async def test_closed_async_source() -> None:
    source = AsyncReadable(WAV)
    source.closed = True  # type: ignore[attr-defined]
    await invalid(aprepare_file(source), "closed")


async def test_unknown_async_bytes_without_a_name() -> None:
    await invalid(aprepare_file(chunks_of(UNKNOWN)), "(filename, content, content_type)")


async def test_sync_errors_come_through(tmp_path: Path) -> None:
    await invalid(aprepare_file(tmp_path / "missing.wav"), "no such file")
    await invalid(aprepare_file(tmp_path), "is a directory")
    await invalid(aprepare_file(b""), "empty")
    await invalid(aprepare_file(io.StringIO("x")), "text mode")
    await invalid(aprepare_file(42), "got int")  # type: ignore[arg-type]
    await invalid(aprepare_file(("a.wav", chunks_of(WAV), None, None)), "not 4")  # type: ignore[arg-type]
    await invalid(aprepare_file((b"a.wav", chunks_of(WAV))), "must be a str")  # type: ignore[arg-type]


async def test_async_source_cannot_go_through_the_sync_open() -> None:
    audio = await aprepare_file(chunks_of(WAV))
    with pytest.raises(InvalidFileError, match="only be sent with AsyncClient"), audio.open():
        pass
    assert await aread_back(audio) == WAV  # the refused sync open did not count as an attempt


# --- resources ----------------------------------------------------------------------------------


@needs_proc_fds
async def test_a_small_path_is_read_whole_once_and_holds_no_file_open() -> None:
    before = open_fds()
    audio = await aprepare_file(FIXTURES / "numbers.wav")  # under files.WHOLE_READ_LIMIT
    assert audio.in_memory
    assert audio.size == (FIXTURES / "numbers.wav").stat().st_size
    assert open_fds() == before
    assert await aread_back(audio) == (FIXTURES / "numbers.wav").read_bytes()
    assert await aread_back(audio) == (FIXTURES / "numbers.wav").read_bytes()  # replayable


async def test_a_path_over_the_whole_read_limit_is_streamed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(files, "WHOLE_READ_LIMIT", len(WAV) - 1)
    path = tmp_path / "a.wav"
    path.write_bytes(WAV)
    audio = await aprepare_file(path)
    assert not audio.in_memory
    assert audio.size == len(WAV)
    assert await aread_back(audio) == WAV
    monkeypatch.setattr(files, "WHOLE_READ_LIMIT", len(WAV))
    assert (await aprepare_file(path)).in_memory


async def test_a_small_path_that_grows_while_checked_is_streamed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "a.wav"
    path.write_bytes(WAV)
    real_stat = os.stat

    def stale_stat(target: Any, *args: Any, **kwargs: Any) -> os.stat_result:
        info = real_stat(target, *args, **kwargs)
        if os.fspath(target) != os.fspath(path):
            return info
        fields = list(info)
        fields[6] = 100  # st_size as it was before the file grew
        return os.stat_result(fields)

    monkeypatch.setattr(files, "WHOLE_READ_LIMIT", 1000)
    monkeypatch.setattr(files.os, "stat", stale_stat)
    audio = await aprepare_file(path)
    assert not audio.in_memory  # more than the limit came back: not held in memory
    assert audio.size == len(WAV)  # the size the open file has, not the stale one


@needs_proc_fds
async def test_aopen_closes_the_path_it_opened() -> None:
    audio = await aprepare_file(FIXTURES / "long_speech.wav")  # over WHOLE_READ_LIMIT
    before = open_fds()
    async with aopen(audio) as reader:
        await reader.read(10)
        assert open_fds() == before + 1
    assert open_fds() == before
    with pytest.raises(RuntimeError, match="send failed"):
        async with aopen(audio):
            raise RuntimeError("send failed")
    assert open_fds() == before


@needs_proc_fds
async def test_aopen_closes_the_file_when_cancelled() -> None:
    audio = await aprepare_file(FIXTURES / "long_speech.wav")
    before = open_fds()
    with anyio.fail_after(5), anyio.CancelScope() as scope:
        async with aopen(audio) as reader:
            assert await reader.read(10) == LONG[:10]
            scope.cancel()
            await anyio.sleep(5)
    assert scope.cancelled_caught
    assert open_fds() == before


async def test_aspool_makes_an_async_source_replayable() -> None:
    audio = await aprepare_file(("talk.wav", chunks_of(LONG, 100_000)))  # > 1 MB: two batches
    copied, handle = await aspool(audio)
    with handle:
        assert (copied.filename, copied.content_type, copied.size, copied.replayable) == (
            "talk.wav",
            "audio/wav",
            len(LONG),
            True,
        )
        assert await aread_back(copied) == LONG
        assert await aread_back(copied) == LONG
        assert not getattr(handle, "_rolled", True)
    assert handle.closed


async def test_aspool_spills_to_an_unlinked_temp_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(files, "SPOOL_MEMORY_LIMIT", 1024)
    before = open_fds() if HAS_PROC_FDS else 0
    copied, handle = await aspool(await aprepare_file(AsyncReadable(OGG)))
    with handle:
        assert getattr(handle, "_rolled", False)
        assert os.fstat(handle.fileno()).st_nlink == 0
        assert (copied.filename, copied.size) == ("audio.ogg", len(OGG))
        assert await aread_back(copied) == OGG
    assert handle.closed
    if HAS_PROC_FDS:
        assert open_fds() == before


async def test_aspool_closes_its_copy_when_the_source_fails(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(files, "SPOOL_MEMORY_LIMIT", 16)

    async def broken() -> AsyncIterator[bytes]:
        async for chunk in chunks_of(LONG, 100_000):  # 2 MB: a batch reaches the temp file
            yield chunk
        raise OSError("connection reset")

    before = open_fds() if HAS_PROC_FDS else 0
    audio = await aprepare_file(("x.wav", broken()))
    # As spool() does: a read that fails is the file's problem, a typed InvalidFileError.
    with pytest.raises(InvalidFileError, match="connection reset"):
        await aspool(audio)
    if HAS_PROC_FDS:
        assert open_fds() == before


async def test_aspool_of_a_sync_stream_and_of_a_spent_one() -> None:
    audio = await aprepare_file(OnlyRead(OGG))
    copied, handle = await aspool(audio)
    with handle:
        assert await aread_back(copied) == OGG
    await invalid(aspool(audio), "already sent once")


# --- the event loop keeps running while files are read ------------------------------------------


class SlowReader:
    """A sync, one-way stream whose every read blocks its thread for ``delay`` seconds."""

    def __init__(self, data: bytes, delay: float) -> None:
        self._stream = io.BytesIO(data)
        self._delay = delay
        self.threads: set[int] = set()

    def read(self, size: int = -1, /) -> bytes:
        self.threads.add(threading.get_ident())
        time.sleep(self._delay)
        return self._stream.read(size)


async def ticks_while(work: Any) -> tuple[Any, int]:
    """Run ``work`` while a task ticks every 10 ms; return its result and the tick count."""
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        for _ in range(1000):
            ticks += 1
            await anyio.sleep(0.01)

    with anyio.fail_after(5):
        async with anyio.create_task_group() as group:
            group.start_soon(tick)
            result = await work
            group.cancel_scope.cancel()
    return result, ticks


async def test_sync_stream_reads_happen_in_worker_threads() -> None:
    source = SlowReader(WAV, 0.2)

    async def upload() -> bytes:
        audio = await aprepare_file(source)
        async with aopen(audio) as reader:
            return await aread_all(reader, 1 << 20)

    data, ticks = await ticks_while(upload())
    assert data == WAV
    assert ticks >= 10  # three reads of 0.2 s each, none of them on the loop
    assert threading.get_ident() not in source.threads


@contextlib.contextmanager
def slow_fifo(path: Path, data: bytes, pause: float) -> Iterator[list[BaseException]]:
    """A named pipe whose writer sends 1000 bytes, waits ``pause`` seconds, sends the rest."""
    os.mkfifo(path)
    errors: list[BaseException] = []

    def write() -> None:
        try:
            with open(path, "wb") as sink:
                sink.write(data[:1000])
                sink.flush()
                time.sleep(pause)
                sink.write(data[1000:])
        except OSError as exc:
            errors.append(exc)

    def unblock() -> None:
        # Let anyone stuck in open() through, so a bug fails the test instead of hanging it.
        for flags in (os.O_RDONLY, os.O_WRONLY):
            with contextlib.suppress(OSError):
                os.close(os.open(path, flags | os.O_NONBLOCK))

    thread = threading.Thread(target=write, daemon=True)
    watchdog = threading.Timer(3.0, unblock)
    thread.start()
    watchdog.start()
    try:
        yield errors
    finally:
        watchdog.cancel()
        if thread.is_alive():
            unblock()
        thread.join(timeout=5)
        assert not thread.is_alive()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs os.mkfifo")
async def test_path_reads_happen_in_worker_threads(tmp_path: Path) -> None:
    fifo = tmp_path / "live"

    async def upload() -> tuple[AudioFile, bytes]:
        audio = await aprepare_file(fifo)
        return audio, await aread_back(audio)

    with slow_fifo(fifo, WAV, 0.3) as errors:
        (audio, data), ticks = await ticks_while(upload())
    assert errors == []
    assert (audio.filename, audio.size, audio.replayable) == ("live.wav", None, False)
    assert data == WAV
    assert ticks >= 10  # the loop ran while a thread waited 0.3 s for the pipe
