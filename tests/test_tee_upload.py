"""A one-shot stream with retries on is sent while it is copied (not copied whole first), a
retry replays the copy and goes on where the stream stopped, and an endless stream is stopped at
``max_spool_bytes`` or ``max_upload_bytes``. Real sockets on 127.0.0.1."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import AsyncIterator
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from conftest import API_KEY, FIXTURES
from socket_server import Reset, json_reply
from socket_server import ScriptedServer as FaultServer
from socket_server import ScriptedServer as LoopbackServer

from transcribe_sdk import AsyncClient, Client, SpoolLimitError
from transcribe_sdk.errors import InvalidFileError

pytestmark = pytest.mark.network

MiB = 1024 * 1024
OK = json_reply({"text": "ok"})
WAV = (FIXTURES / "hello.wav").read_bytes()


def riff(total: int) -> bytes:
    """``total`` bytes that start as a WAV file and differ everywhere (a shifted copy shows)."""
    body = hashlib.sha256(b"seed").digest() * (total // 32 + 1)
    return (WAV[:44] + body)[:total]


class Slow:
    """A one-shot file object giving ``data`` in 64 KiB reads, pausing before its last read;
    ``last_read`` is ``time.monotonic()`` when it gave its last bytes."""

    def __init__(self, data: bytes, pause: float = 0.3) -> None:
        self.data, self.pause, self.position = data, pause, 0
        self.last_read = 0.0
        self.closed = False

    def read(self, size: int = -1, /) -> bytes:
        size = 65536 if size is None or size < 0 else min(size, 65536)
        if self.position + size >= len(self.data) and self.position < len(self.data):
            time.sleep(self.pause)  # the upload is under way by now, unless it waits for us
            self.last_read = time.monotonic()
        chunk = self.data[self.position : self.position + size]
        self.position += len(chunk)
        return chunk


class Endless:
    """A one-shot stream that never ends (bounded by ``cap`` so a failing test stops)."""

    def __init__(self, cap: int = 256 * MiB) -> None:
        self.given = 0
        self.cap = cap

    def read(self, size: int = -1, /) -> bytes:
        size = 65536 if size is None or size < 0 else min(size, 65536)
        if self.given >= self.cap:
            return b""
        self.given += size
        return (WAV[:44] + bytes(size))[:size] if self.given == size else bytes(size)


def fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def transcribe(
    kind: str, base_url: str, file: Any, call: dict[str, Any] | None = None, **kwargs: Any
) -> Any:
    call = call or {}
    if kind == "sync":
        with Client(api_key=API_KEY, base_url=base_url, timeout=30, **kwargs) as client:
            return client.with_raw_response.transcribe(file, model="m", **call)

    async def main() -> Any:
        async with AsyncClient(api_key=API_KEY, base_url=base_url, timeout=30, **kwargs) as client:
            return await client.with_raw_response.transcribe(file, model="m", **call)

    return anyio.run(main)


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_the_upload_starts_before_the_stream_ends(kind: str) -> None:
    data = riff(2 * MiB)
    source = Slow(data)
    with LoopbackServer() as server:
        server.queue(json_reply({"error": {"message": "busy"}}, 503, {"retry-after-ms": "0"}))
        raw = transcribe(kind, server.base_url, ("talk.wav", source))
        first, second = server.requests
    # The first request was on the wire before the stream gave its last bytes: it was sent
    # while it was copied, not copied whole first.
    assert first.started < source.last_read
    assert raw.attempts == 2
    for request in (first, second):  # the retry replays the copy, byte for byte
        assert request.form().file().data == data


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_retry_after_a_cut_replays_the_copy_then_reads_on(kind: str) -> None:
    # The first attempt is reset a quarter of the way in: the copy holds only part of the
    # stream; the retry sends that part again, then the rest from the stream.
    data = riff(4 * MiB)
    source = Slow(data, pause=0)
    with FaultServer([Reset(after_bytes=MiB), OK]) as server:
        raw = transcribe(kind, server.base_url, ("talk.wav", source))
        assert raw.parsed.text == "ok"
        assert server.attempts[-1].file_bytes() == data
    assert raw.attempts == 2


@pytest.mark.parametrize("kind", ["sync", "async"])
@pytest.mark.parametrize("limit", ["max_spool_bytes", "max_upload_bytes"])
def test_an_endless_stream_is_stopped_at_the_limit(kind: str, limit: str) -> None:
    source = Endless()
    before = fds()
    with FaultServer([OK]) as server:
        if limit == "max_spool_bytes":
            with pytest.raises(SpoolLimitError, match="max_spool_bytes") as caught:
                transcribe(kind, server.base_url, ("live.wav", source), max_spool_bytes=4 * MiB)
        else:
            call = {"max_upload_bytes": MiB}
            with pytest.raises(InvalidFileError, match="max_upload_bytes") as caught:
                transcribe(kind, server.base_url, ("live.wav", source), call)
        assert all(not attempt.complete for attempt in server.attempts)
    assert caught.value.param == "file"
    # Read up to the limit and a chunk or two past it, not the 256 MiB it would give.
    assert source.given <= 4 * MiB + 8 * MiB
    assert fds() <= before  # the copy (a temporary file past 4 MiB) is closed


async def _generated(data: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(data), 100_000):
        await anyio.lowlevel.checkpoint()
        yield data[start : start + 100_000]


def test_an_async_generator_is_sent_while_copied_and_replayed() -> None:
    data = riff(3 * MiB)
    with FaultServer([Reset(after_bytes=2 * MiB), OK]) as server:

        async def main() -> Any:
            async with AsyncClient(api_key=API_KEY, base_url=server.base_url) as client:
                return await client.with_raw_response.transcribe(
                    ("talk.wav", _generated(data)), model="m"
                )

        raw = anyio.run(main)
        assert server.attempts[-1].file_bytes() == data
    assert raw.attempts == 2
