"""Answers compressed to hurt: a body a few kilobytes on the wire that inflates to hundreds of
megabytes, stacked codings (``gzip, gzip``), deflate with and without its zlib wrapper. Every
answer the client reads (a stream, a whole result, a ``from_url`` download) is decoded a bounded
piece at a time, so memory stays far below the inflated size. Real sockets on 127.0.0.1."""

from __future__ import annotations

import contextlib
import gzip
import json
import tracemalloc
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from internals import INFLATE_PIECE, BodyDecoder
from socket_server import JSON, Answer, ScriptedServer

from transcribe_sdk import (
    APIConnectionError,
    AsyncClient,
    Client,
    InvalidFileError,
    ResponseTooLargeError,
    StreamInterruptedError,
    from_url,
)

pytestmark = pytest.mark.network

HELLO = Path(__file__).parent / "fixtures" / "hello.wav"
SSE = (("Content-Type", "text/event-stream"),)
INFLATED = 256 << 20  # what the bombs below inflate to
PEAK_BOUND = 32 << 20  # a bounded reader stays far below it (a few MiB measured)


def twice_gzipped(data: bytes) -> bytes:
    return gzip.compress(gzip.compress(data, 9), 9)


def codings(name: str) -> Callable[[bytes], bytes]:
    return {
        "gzip, gzip": twice_gzipped,
        "deflate": lambda data: zlib.compress(data, 9),
        "deflate, gzip": lambda data: gzip.compress(zlib.compress(data, 9), 9),
    }[name]


@pytest.fixture(scope="module")
def blank_lines() -> bytes:
    return twice_gzipped(b"\n" * INFLATED)  # about 2 KB on the wire


def peak_of(work: Callable[[], Any]) -> int:
    tracemalloc.start()
    try:
        with contextlib.suppress(Exception):  # the error is the caller's to check
            work()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def stream_sync(base_url: str) -> list[Any]:
    with (
        Client(base_url=base_url, api_key="k", max_retries=0) as client,
        client.transcribe(HELLO, model="m", stream=True) as stream,
    ):
        return list(stream)


def stream_async(base_url: str) -> list[Any]:
    async def main() -> list[Any]:
        async with AsyncClient(base_url=base_url, api_key="k", max_retries=0) as client:
            stream = await client.transcribe(HELLO, model="m", stream=True)
            async with stream:
                return [event async for event in stream]

    return anyio.run(main)


def whole_sync(base_url: str) -> Any:
    with Client(base_url=base_url, api_key="k", max_retries=0) as client:
        return client.transcribe(HELLO, model="m")


def whole_async(base_url: str) -> Any:
    async def main() -> Any:
        async with AsyncClient(base_url=base_url, api_key="k", max_retries=0) as client:
            return await client.transcribe(HELLO, model="m")

    return anyio.run(main)


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_stacked_gzip_stream_bomb_costs_little_memory(kind: str, blank_lines: bytes) -> None:
    headers = (*SSE, ("Content-Encoding", "gzip, gzip"))
    run = stream_sync if kind == "sync" else stream_async
    with ScriptedServer([Answer(200, headers, blank_lines)]) as server:
        peak = peak_of(lambda: run(server.base_url))
        with pytest.raises(StreamInterruptedError, match="limit on answers"):
            run(server.base_url)  # the answer cap (64 MiB) still ends it
    assert peak < PEAK_BOUND, f"{peak / 2**20:.0f} MiB for {len(blank_lines)} bytes on the wire"


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_stacked_gzip_result_bomb_stops_at_the_cap(kind: str, blank_lines: bytes) -> None:
    headers = (*JSON, ("Content-Encoding", "gzip, gzip"))
    run = whole_sync if kind == "sync" else whole_async
    with ScriptedServer([Answer(200, headers, blank_lines)]) as server:
        peak = peak_of(lambda: run(server.base_url))
        with pytest.raises(ResponseTooLargeError):
            run(server.base_url)
    # The body kept is at most the 64 MiB cap; a gigabyte-sized step would be far past this.
    assert peak < (64 << 20) + PEAK_BOUND, f"{peak / 2**20:.0f} MiB"


def test_a_stacked_gzip_download_stops_at_max_bytes(blank_lines: bytes) -> None:
    headers = (("Content-Type", "audio/wav"), ("Content-Encoding", "gzip, gzip"))
    with ScriptedServer([Answer(200, headers, blank_lines)]) as server:

        def download() -> None:
            with from_url(f"{server.base_url}/a.wav", max_bytes=1 << 20).open() as reader:
                while reader.read(1 << 16):
                    pass

        peak = peak_of(download)
        with pytest.raises(InvalidFileError, match="max_bytes"):
            download()
    assert peak < PEAK_BOUND, f"{peak / 2**20:.0f} MiB"


EVENTS = b"".join(
    b"data: " + json.dumps(event).encode() + b"\n\n"
    for event in (
        {"type": "transcript.text.delta", "delta": "Packed"},
        {"type": "transcript.text.done", "text": "Packed"},
    )
)


@pytest.mark.parametrize("kind", ["sync", "async"])
@pytest.mark.parametrize("coding", ["gzip, gzip", "deflate", "deflate, gzip"])
def test_stacked_and_deflate_codings_read_right(kind: str, coding: str) -> None:
    stream_headers = (*SSE, ("Content-Encoding", coding))
    json_headers = (*JSON, ("Content-Encoding", coding))
    body = json.dumps({"text": "Packed"}).encode()
    script = [
        Answer(200, stream_headers, codings(coding)(EVENTS)),
        Answer(200, json_headers, codings(coding)(body)),
    ]
    with ScriptedServer(script) as server:
        events = (stream_sync if kind == "sync" else stream_async)(server.base_url)
        assert events[-1].text == "Packed"
        assert (whole_sync if kind == "sync" else whole_async)(server.base_url).text == "Packed"


def test_raw_deflate_is_read_as_httpx_reads_it() -> None:
    squeeze = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)  # no zlib wrapper
    body = squeeze.compress(b'{"text": "raw"}') + squeeze.flush()
    headers = (*JSON, ("Content-Encoding", "deflate"))
    with ScriptedServer([Answer(200, headers, body)]) as server:
        assert whole_sync(server.base_url).text == "raw"


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_stream_stacking_too_many_codings_is_a_typed_error(kind: str) -> None:
    body = EVENTS
    for _ in range(5):
        body = gzip.compress(body)
    headers = (*SSE, ("Content-Encoding", ", ".join(["gzip"] * 5)))
    with (
        ScriptedServer([Answer(200, headers, body)]) as server,
        pytest.raises(StreamInterruptedError, match="content codings"),
    ):
        (stream_sync if kind == "sync" else stream_async)(server.base_url)


def test_too_many_codings_or_a_broken_body_is_a_typed_error() -> None:
    body = json.dumps({"text": "x"}).encode()
    for _ in range(5):
        body = gzip.compress(body)
    stacked = (*JSON, ("Content-Encoding", ", ".join(["gzip"] * 5)))
    broken = (*JSON, ("Content-Encoding", "gzip, gzip"))
    script = [Answer(200, stacked, body), Answer(200, broken, gzip.compress(b"not gzip"))]
    with ScriptedServer(script) as server:
        with pytest.raises(APIConnectionError, match="content codings"):
            whole_sync(server.base_url)
        with pytest.raises(APIConnectionError, match="not valid gzip"):
            whole_sync(server.base_url)


DATA = b"hello world " * 20_000


def raw_deflate(data: bytes) -> bytes:
    squeeze = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    return squeeze.compress(data) + squeeze.flush()


@pytest.mark.parametrize(
    ("coding", "body", "expected"),
    [
        ("deflate", zlib.compress(DATA), DATA),
        ("deflate", raw_deflate(DATA), DATA),  # its first two bytes judged as zlib's header
        ("deflate, gzip", gzip.compress(raw_deflate(DATA)), DATA),
        ("gzip", gzip.compress(DATA) * 2, DATA * 2),  # two members in a row
        ("gzip", gzip.compress(DATA) + bytes(16), DATA),  # zero padding after it, as httpx
    ],
)
@pytest.mark.parametrize("step", [1, 2, 3, 1000, 1 << 20])
def test_the_decoder_reads_any_chunking(
    coding: str, body: bytes, expected: bytes, step: int
) -> None:
    decoder = BodyDecoder([name.strip() for name in coding.split(",")])
    pieces = [p for at in range(0, len(body), step) for p in decoder.feed(body[at : at + step])]
    assert b"".join(pieces) == expected
    assert max(map(len, pieces)) <= INFLATE_PIECE
