"""File objects that bend the ``read``/``seek`` contract, sent by both clients over real sockets.

A reader that hands back more than it was asked for, one that turns to ``str`` or ``int`` part
way, ``seek()`` that returns ``None`` (paramiko's files) and ``read()`` that takes no size: each
either uploads correctly or fails as an :class:`InvalidFileError`, never as a raw ``TypeError``
or an ``h11.LocalProtocolError``, and a refused upload is not retried.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from conftest import API_KEY, FIXTURES
from socket_server import ScriptedServer, json_reply

from transcribe_sdk import AsyncClient, Client, InvalidFileError

pytestmark = pytest.mark.network

MODEL = "whisper-large-v3"
WAV = (FIXTURES / "hello.wav").read_bytes()
PIECE = 1000
"""The short reads the streams below hand out, so a misstep comes after the first bytes."""


class Stream:
    """A one-way stream with only ``read``, handing out short chunks like a socket."""

    def __init__(self, data: bytes = WAV) -> None:
        self.data = data
        self.pos = 0
        self.reads = 0

    def read(self, size: int = -1, /) -> Any:
        self.reads += 1
        n = PIECE if size < 0 else min(size, PIECE)
        out = self.data[self.pos : self.pos + n]
        self.pos += len(out)
        return out


class TurnsToStr(Stream):
    def read(self, size: int = -1, /) -> Any:
        chunk = super().read(size)
        return chunk.decode("latin-1") if self.reads > 3 else chunk


class TurnsToInt(Stream):
    def read(self, size: int = -1, /) -> Any:
        chunk = super().read(size)
        return len(chunk) if self.reads > 3 else chunk


class Overfeeds(io.BytesIO):
    """Seekable, so its size is known; each read returns one byte more than asked."""

    def read(self, size: int | None = -1, /) -> bytes:
        chunk = super().read(size)
        return chunk + b"\0" if chunk else chunk


class SeekSaysNone(io.BytesIO):
    """paramiko's SFTPFile: ``seek`` moves but returns ``None``."""

    def seek(self, offset: int, whence: int = os.SEEK_SET, /) -> Any:
        super().seek(offset, whence)
        return None


class ReadTakesNoSize:
    """A seekable file whose ``read()`` returns all the rest and takes no size."""

    def __init__(self, data: bytes = WAV) -> None:
        self._buffer = io.BytesIO(data)

    def read(self) -> bytes:
        return self._buffer.read()

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = os.SEEK_SET, /) -> int:
        return self._buffer.seek(offset, whence)

    def tell(self) -> int:
        return self._buffer.tell()


class StreamReadTakesNoSize:
    """A one-way stream whose ``read()`` takes no size: all of it, then ``b""``."""

    def __init__(self, data: bytes = WAV) -> None:
        self._data: bytes | None = data

    def read(self) -> bytes:
        data, self._data = self._data or b"", None
        return data


BROKEN: dict[str, tuple[Callable[[], Any], str]] = {
    "str part-way": (TurnsToStr, "returned str"),
    "int part-way": (TurnsToInt, "returned int"),
    "more than asked": (lambda: Overfeeds(WAV), "more than its"),
}
WORKING: dict[str, Callable[[], Any]] = {
    "seek returns None": lambda: SeekSaysNone(WAV),
    "seek returns None, not at 0": lambda: _at_5(SeekSaysNone(b"12345" + WAV)),
    "read() takes no size": ReadTakesNoSize,
    "stream read() takes no size": StreamReadTakesNoSize,
}


def _at_5(handle: Any) -> Any:
    handle.seek(5)
    return handle


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as running:
        yield running


def _check_sent_whole(result: Any) -> None:
    extra = result.model_extra or {}
    assert extra["size"] == len(WAV)
    assert extra["sha256"] == hashlib.sha256(WAV).hexdigest()


@pytest.mark.parametrize("retries", [0, 2])
@pytest.mark.parametrize("kind", sorted(BROKEN))
def test_sync_broken_reader_is_an_invalid_file_error(
    server: ScriptedServer, kind: str, retries: int
) -> None:
    make, fragment = BROKEN[kind]
    with (
        Client(api_key=API_KEY, base_url=server.base_url, max_retries=retries) as client,
        pytest.raises(InvalidFileError, match=fragment),
    ):
        client.transcribe(("talk.wav", make()), model=MODEL)
    assert len(server.requests) <= 1  # never sent again


@pytest.mark.anyio
@pytest.mark.parametrize("retries", [0, 2])
@pytest.mark.parametrize("kind", sorted(BROKEN))
async def test_async_broken_reader_is_an_invalid_file_error(
    server: ScriptedServer, kind: str, retries: int
) -> None:
    make, fragment = BROKEN[kind]
    async with AsyncClient(api_key=API_KEY, base_url=server.base_url, max_retries=retries) as c:
        with pytest.raises(InvalidFileError, match=fragment):
            await c.transcribe(("talk.wav", make()), model=MODEL)
    assert len(server.requests) <= 1


@pytest.mark.parametrize("kind", sorted(WORKING))
def test_sync_odd_but_fair_reader_uploads_whole(server: ScriptedServer, kind: str) -> None:
    server.queue(json_reply({"error": {"message": "busy"}}, status=503))  # and once again
    with Client(api_key=API_KEY, base_url=server.base_url, max_retries=1) as client:
        raw = client.with_raw_response.transcribe(("talk.wav", WORKING[kind]()), model=MODEL)
    assert raw.attempts == 2
    _check_sent_whole(raw.parsed)


@pytest.mark.anyio
@pytest.mark.parametrize("kind", sorted(WORKING))
async def test_async_odd_but_fair_reader_uploads_whole(server: ScriptedServer, kind: str) -> None:
    server.queue(json_reply({"error": {"message": "busy"}}, status=503))
    async with AsyncClient(api_key=API_KEY, base_url=server.base_url, max_retries=1) as client:
        raw = await client.with_raw_response.transcribe(("talk.wav", WORKING[kind]()), model=MODEL)
    assert raw.attempts == 2
    _check_sent_whole(raw.parsed)


class AsyncReadTakesNoSize:
    """An async source whose ``read()`` takes no size: all of it, then ``b""``."""

    def __init__(self, data: bytes = WAV) -> None:
        self._data: bytes | None = data

    async def read(self) -> bytes:
        data, self._data = self._data or b"", None
        return data


@pytest.mark.anyio
async def test_async_source_whose_read_takes_no_size(server: ScriptedServer) -> None:
    async with AsyncClient(api_key=API_KEY, base_url=server.base_url, max_retries=0) as client:
        result = await client.transcribe(("talk.wav", AsyncReadTakesNoSize()), model=MODEL)
    _check_sent_whole(result)
