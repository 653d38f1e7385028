"""Uploads over real sockets: both clients against the scripted server of tests/socket_server.py.

What the mocked tests cannot show: the bytes that reach a server through httpx and a TCP
connection (framing, multipart, every byte of the file), one AsyncClient shared by many tasks
at once, and an event loop that keeps running while a large file goes out.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import io
import itertools
import os
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import httpx
import pytest
from conftest import API_KEY, FIXTURES
from socket_server import (
    IO_TIMEOUT,
    Answer,
    Recorded,
    ScriptedServer,
    echo_upload,
    json_reply,
    parse_multipart,
    text_reply,
)

from transcribe_sdk import (
    APIConnectionError,
    APITimeoutError,
    AsyncClient,
    Client,
    FileTooLargeError,
    InternalServerError,
    Transcription,
)

pytestmark = pytest.mark.network

HELLO = sorted(FIXTURES.glob("hello.*"))
HELLO_IDS = [p.suffix[1:] for p in HELLO]
MODEL = "whisper-large-v3"
WAIT = 30.0
"""Upper bound in seconds for any one test's waiting on the network."""


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as running:
        yield running
    assert running.errors == []


def _check_upload(
    request: Recorded, data: bytes, filename: str, content_type: str, *, chunked: bool
) -> None:
    """One request carried ``data`` whole as the file part, framed as expected."""
    assert request.method == "POST"
    assert request.path == "/v1/audio/transcriptions"
    assert request.header("authorization") == f"Bearer {API_KEY}"
    assert request.chunked is chunked
    if chunked:
        assert request.header("content-length") is None
        assert request.chunks >= 1
    else:
        assert request.header("transfer-encoding") is None
        assert request.header("content-length") == str(len(request.body))
    form = request.form()
    upload = form.file()
    assert upload.data == data
    assert upload.filename == filename
    assert upload.content_type == content_type
    assert form.field("model") == MODEL


def _expected_type(path: Path) -> str:
    return {
        ".flac": "audio/flac",
        ".m4a": "audio/x-m4a",
        ".mp3": "audio/mpeg",
        ".ogg": "audio/ogg",
        ".wav": "audio/wav",
        ".webm": "audio/webm",
    }[path.suffix]


def _sync_source(kind: str, path: Path, stack: contextlib.ExitStack) -> tuple[Any, str]:
    """The file input of ``kind`` for ``path`` and the filename the server should see."""
    if kind == "path":
        return path, path.name
    if kind == "str":
        return str(path), path.name
    if kind == "bytes":
        return path.read_bytes(), "audio" + path.suffix  # named from its first bytes
    if kind == "file":
        return stack.enter_context(path.open("rb")), path.name
    raise AssertionError(kind)


def _pipe_of(data: bytes, stack: contextlib.ExitStack) -> io.BufferedReader:
    """A real pipe (not seekable) with ``data`` written into it by a thread."""
    read_fd, write_fd = os.pipe()
    reader = os.fdopen(read_fd, "rb")

    def feed() -> None:
        # A reader that gave up early closes the pipe: that is the test's failure, not ours.
        with contextlib.suppress(BrokenPipeError), os.fdopen(write_fd, "wb") as writer:
            writer.write(data)

    feeder = threading.Thread(target=feed, name="pipe-feeder", daemon=True)
    feeder.start()
    stack.callback(feeder.join, WAIT)
    return stack.enter_context(reader)  # closed first, so a blocked feeder is released


async def _chunks(data: bytes, size: int = 4096) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        await anyio.lowlevel.checkpoint()
        yield data[start : start + size]


# -- the helper itself ----------------------------------------------------------------------------
def test_server_leaves_no_thread_or_socket() -> None:
    before = {t.ident for t in threading.enumerate()}
    with httpx.Client() as http:
        with ScriptedServer(lambda r: text_reply("pong")) as running:
            port = running.port
            assert http.get(f"{running.url}/ping").text == "pong"
            # The client keeps that connection open (keep-alive): closing must cut it.
            started = time.monotonic()
        # Well under the IO_TIMEOUT a server waiting on the idle connection would take.
        assert time.monotonic() - started < IO_TIMEOUT / 2
        assert running.closed  # the listening socket closed, every thread ended
        assert running.open_connections == 0
        left = [t.name for t in threading.enumerate() if t.ident not in before]
        assert left == []
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=2).close()


def test_server_reads_both_framings_and_follows_its_script(server: ScriptedServer) -> None:
    server.queue(json_reply({"n": 1}, status=201), text_reply("two", headers={"x-n": "2"}))
    with httpx.Client(timeout=WAIT) as http:
        first = http.post(server.url + "/a", content=b"x" * 70_000)
        second = http.post(server.url + "/b", content=iter([b"ab", b"", b"cd", b"e" * 70_000]))
        third = http.post(server.url + "/c", content=b"")
    assert (first.status_code, first.json()) == (201, {"n": 1})
    assert (second.text, second.headers["x-n"]) == ("two", "2")
    assert third.status_code == 400  # the default responder wants a multipart body
    one, two, three = server.requests
    assert (one.body, one.chunked) == (b"x" * 70_000, False)
    assert (two.body, two.chunked) == (b"abcd" + b"e" * 70_000, True)
    assert (three.path, three.body) == ("/c", b"")
    assert one.connection == two.connection == three.connection  # keep-alive was honoured


def test_parser_reads_what_httpx_encodes_and_rejects_damage() -> None:
    request = httpx.Request(
        "POST",
        "http://127.0.0.1/",
        data={"model": MODEL, "allowed_providers[]": ["ovh", "scaleway"]},
        files={"file": ("a b\u00e9.wav", b"RIFF\r\n--\x00data", "audio/wav")},
    )
    body = request.read()
    form = parse_multipart(request.headers["content-type"], body)
    assert form.fields() == [
        ("model", MODEL),
        ("allowed_providers[]", "ovh"),
        ("allowed_providers[]", "scaleway"),
    ]
    upload = form.file()
    assert (upload.filename, upload.content_type) == ("a b\u00e9.wav", "audio/wav")
    assert upload.data == b"RIFF\r\n--\x00data"
    content_type = request.headers["content-type"]
    for broken in (body[:-1], b"preamble" + body, body + b"epilogue"):
        with pytest.raises(ValueError, match="body"):
            parse_multipart(content_type, broken)
    with pytest.raises(ValueError, match="multipart"):
        parse_multipart("application/json", body)


# -- the sync client ------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["path", "str", "bytes", "file"])
@pytest.mark.parametrize("path", HELLO, ids=HELLO_IDS)
def test_sync_upload_has_a_length(server: ScriptedServer, path: Path, kind: str) -> None:
    with (
        contextlib.ExitStack() as stack,
        Client(api_key=API_KEY, base_url=server.base_url) as client,
    ):
        source, filename = _sync_source(kind, path, stack)
        result = client.transcribe(source, model=MODEL, timeout=WAIT)
    assert isinstance(result, Transcription)
    assert result.text == filename
    (request,) = server.requests
    _check_upload(request, path.read_bytes(), filename, _expected_type(path), chunked=False)


@pytest.mark.parametrize("path", HELLO, ids=HELLO_IDS)
def test_sync_pipe_without_retries_is_chunked(server: ScriptedServer, path: Path) -> None:
    data = path.read_bytes()
    with (
        contextlib.ExitStack() as stack,
        Client(api_key=API_KEY, base_url=server.base_url) as client,
    ):
        result = client.transcribe(_pipe_of(data, stack), model=MODEL, max_retries=0, timeout=WAIT)
    filename = "audio" + path.suffix
    assert result.text == filename
    (request,) = server.requests
    _check_upload(request, data, filename, _expected_type(path), chunked=True)


def test_sync_pipe_with_retries_is_spooled_and_sent_again(server: ScriptedServer) -> None:
    # A stream that cannot be rewound is copied while the first attempt sends it, so a retry
    # can resend it; its size is not known when the upload starts, so both go out chunked.
    data = (FIXTURES / "hello.wav").read_bytes()
    server.queue(json_reply({"error": {"message": "busy"}}, 503, {"retry-after-ms": "0"}))
    with (
        contextlib.ExitStack() as stack,
        Client(api_key=API_KEY, base_url=server.base_url) as client,
    ):
        result = client.transcribe(_pipe_of(data, stack), model=MODEL, timeout=WAIT)
    assert result.text == "audio.wav"
    first, second = server.requests
    for request in (first, second):
        _check_upload(request, data, "audio.wav", "audio/wav", chunked=True)


def test_sync_retry_after_a_dropped_connection_resends_the_whole_file(
    server: ScriptedServer,
) -> None:
    path = FIXTURES / "hello.flac"
    server.queue(Answer(drop=True))
    with Client(api_key=API_KEY, base_url=server.base_url) as client:
        raw = client.with_raw_response.transcribe(path, model=MODEL, timeout=WAIT)
    assert raw.attempts == 2
    assert raw.parsed.text == "hello.flac"
    assert len(server.requests) == 2
    for request in server.requests:
        _check_upload(request, path.read_bytes(), "hello.flac", "audio/flac", chunked=False)


def test_sync_gives_up_on_a_server_that_keeps_hanging_up(server: ScriptedServer) -> None:
    server.queue(Answer(drop=True), Answer(drop=True))
    with (
        Client(api_key=API_KEY, base_url=server.base_url, max_retries=1) as client,
        pytest.raises(APIConnectionError, match="after 2 attempts") as caught,
    ):
        client.transcribe(FIXTURES / "hello.ogg", model=MODEL, timeout=WAIT)
    assert caught.value.attempts == 2
    assert API_KEY not in str(caught.value)


# -- the async client -----------------------------------------------------------------------------
@pytest.mark.anyio
@pytest.mark.parametrize("kind", ["path", "bytes", "file", "async_generator"])
@pytest.mark.parametrize("path", HELLO, ids=HELLO_IDS)
async def test_async_upload(server: ScriptedServer, path: Path, kind: str) -> None:
    data = path.read_bytes()
    with contextlib.ExitStack() as stack:
        if kind == "async_generator":
            # One-shot: without retries nothing is spooled and its size is never known.
            source: Any = _chunks(data)
            filename, retries, chunked = "audio" + path.suffix, 0, True
        else:
            source, filename = _sync_source(kind, path, stack)
            retries, chunked = 2, False
        with anyio.fail_after(WAIT):
            async with AsyncClient(
                api_key=API_KEY, base_url=server.base_url, max_retries=retries
            ) as client:
                result = await client.transcribe(source, model=MODEL)
    assert isinstance(result, Transcription)
    assert result.text == filename
    (request,) = server.requests
    _check_upload(request, data, filename, _expected_type(path), chunked=chunked)


@pytest.mark.anyio
async def test_async_generator_with_retries_is_spooled_and_sent_again(
    server: ScriptedServer,
) -> None:
    data = (FIXTURES / "hello.mp3").read_bytes()
    server.queue(text_reply("overloaded", 502, headers={"retry-after-ms": "0"}))
    with anyio.fail_after(WAIT):
        async with AsyncClient(api_key=API_KEY, base_url=server.base_url) as client:
            raw = await client.with_raw_response.transcribe(
                ("talk.mp3", _chunks(data, 1000)), model=MODEL
            )
    assert (raw.attempts, raw.parsed.text) == (2, "talk.mp3")
    for request in server.requests:  # copied as it is sent: no length known up front
        _check_upload(request, data, "talk.mp3", "audio/mpeg", chunked=True)


@pytest.mark.anyio
async def test_one_async_client_serves_50_concurrent_tasks() -> None:
    lock = threading.Lock()
    in_flight = peak = 0

    def slow_echo(request: Recorded) -> Answer:
        # Held for a moment so that requests overlap at the server if the client overlaps them.
        nonlocal in_flight, peak
        with lock:
            in_flight += 1
            peak = max(peak, in_flight)
        time.sleep(0.05)
        with lock:
            in_flight -= 1
        return echo_upload(request)

    sources = {p.suffix: p.read_bytes() for p in HELLO}
    suffixes = sorted(sources)
    results: dict[int, Any] = {}
    with ScriptedServer(slow_echo) as running:
        async with AsyncClient(api_key=API_KEY, base_url=running.base_url) as client:

            async def one(i: int) -> None:
                suffix = suffixes[i % len(suffixes)]
                results[i] = await client.transcribe(
                    (f"task-{i:02d}{suffix}", sources[suffix]), model=MODEL, prompt=f"task {i}"
                )

            with anyio.fail_after(WAIT):
                async with anyio.create_task_group() as group:
                    for i in range(50):
                        group.start_soon(one, i)
        requests = running.requests
    assert running.errors == []
    assert sorted(results) == list(range(50))
    for i, result in results.items():
        suffix = suffixes[i % len(suffixes)]
        extra = result.model_extra or {}
        assert result.text == f"task {i}"
        assert extra["filename"] == f"task-{i:02d}{suffix}"
        assert extra["sha256"] == hashlib.sha256(sources[suffix]).hexdigest()
    assert len(requests) == 50
    assert {r.form().field("prompt") for r in requests} == {f"task {i}" for i in range(50)}
    assert peak > 1, "the 50 requests never overlapped"


async def _ticking_while(upload: Any) -> tuple[Any, float, int, float]:
    """Run ``upload()`` beside a task that ticks every 10 ms; return its result, how long it
    took, how many ticks happened meanwhile, and the longest stretch without a tick."""
    ticks: list[float] = []
    outcome: list[Any] = []

    async def ticker() -> None:
        while True:
            ticks.append(time.monotonic())
            await anyio.sleep(0.01)

    with anyio.fail_after(WAIT):
        async with anyio.create_task_group() as group:
            group.start_soon(ticker)
            await anyio.sleep(0.05)
            started = time.monotonic()
            outcome.append(await upload())
            ended = time.monotonic()
            group.cancel_scope.cancel()
    during = [t for t in ticks if started <= t <= ended]
    marks = [started, *during, ended]
    longest = max(b - a for a, b in itertools.pairwise(marks))
    return outcome[0], ended - started, len(during), longest


@pytest.fixture
def big_wav(tmp_path: Path) -> Path:
    path = tmp_path / "big.wav"
    block = os.urandom(1024 * 1024)
    with path.open("wb") as handle:
        for _ in range(20):
            handle.write(block)
    return path


@pytest.mark.anyio
async def test_async_upload_of_20_mb_does_not_block_the_event_loop(big_wav: Path) -> None:
    # The server reads slowly (~2 ms per 64 KiB), so the upload lasts about a second and a
    # loop stuck in it would miss ticks for as long.
    with ScriptedServer(read_pause=0.002) as running:
        async with AsyncClient(api_key=API_KEY, base_url=running.base_url) as client:
            result, took, ticks, longest = await _ticking_while(
                lambda: client.transcribe(big_wav, model=MODEL)
            )
        (request,) = running.requests
    assert running.errors == []
    assert result.model_extra["size"] == 20 * 1024 * 1024
    assert result.model_extra["sha256"] == hashlib.sha256(big_wav.read_bytes()).hexdigest()
    assert not request.chunked
    # An order, not a duration, so a loaded machine does not fail it: the loop kept ticking
    # while the body went out (a blocked loop ticks not once, see the control below). The
    # server's 2 ms pause per 64 KiB makes the upload last at least 0.6 s however fast the box.
    assert took > 0.3
    assert ticks >= 3, f"{ticks} ticks in {took:.2f} s (longest pause {longest:.3f} s)"


@pytest.mark.anyio
async def test_the_ticker_does_notice_a_blocking_upload(big_wav: Path) -> None:
    # A control for the test above: the sync client called on the loop does block it, and
    # the same measurement says so.
    with (
        ScriptedServer(read_pause=0.002) as running,
        Client(api_key=API_KEY, base_url=running.base_url, timeout=WAIT) as client,
    ):

        async def blocking() -> Any:
            return client.transcribe(big_wav, model=MODEL)

        _, took, ticks, longest = await _ticking_while(blocking)
    assert took > 0.3
    assert ticks == 0
    assert longest == pytest.approx(took)


def test_sync_read_timeout_is_an_api_timeout_error(server: ScriptedServer) -> None:
    server.queue(Answer(delay=0.5))
    with (
        Client(api_key=API_KEY, base_url=server.base_url, max_retries=0) as client,
        pytest.raises(APITimeoutError, match=r"read timeout is 0\.1 s"),
    ):
        client.transcribe(FIXTURES / "hello.wav", model=MODEL, timeout=httpx.Timeout(5, read=0.1))


_HTML_PAGE = "<html><body>" + "proxy error " * 100_000 + "</body></html>"


def test_sync_reads_only_the_start_of_a_huge_error_page_and_goes_on(
    server: ScriptedServer,
) -> None:
    server.queue(text_reply(_HTML_PAGE, 502, "text/html"))
    with Client(api_key=API_KEY, base_url=server.base_url, max_retries=0) as client:
        with pytest.raises(InternalServerError, match="502") as caught:
            client.transcribe(FIXTURES / "hello.wav", model=MODEL, timeout=WAIT)
        result = client.transcribe(FIXTURES / "hello.mp3", model=MODEL, timeout=WAIT)
    assert len(str(caught.value)) < 10_000
    assert result.text == "hello.mp3"
    first, second = server.requests
    assert second.connection != first.connection  # the half-read one was not reused


@pytest.mark.anyio
async def test_async_reads_only_the_start_of_a_huge_error_page_and_goes_on(
    server: ScriptedServer,
) -> None:
    server.queue(text_reply(_HTML_PAGE, 502, "text/html"))
    with anyio.fail_after(WAIT):
        async with AsyncClient(api_key=API_KEY, base_url=server.base_url, max_retries=0) as client:
            with pytest.raises(InternalServerError, match="502"):
                await client.transcribe(FIXTURES / "hello.wav", model=MODEL)
            result = await client.transcribe(FIXTURES / "hello.mp3", model=MODEL)
    gc.collect()
    assert result.text == "hello.mp3"
    first, second = server.requests
    assert second.connection != first.connection


_TOO_LARGE = {
    "error": {"message": "file too large", "type": "invalid_request_error", "code": "413"}
}


def test_sync_reads_a_413_sent_before_the_upload_ends(big_wav: Path) -> None:
    # Servers refuse a large body as soon as they see its headers and hang up; the answer
    # must still reach the caller, not a broken-pipe error.
    with (
        ScriptedServer(lambda r: json_reply(_TOO_LARGE, 413), read_body=False) as running,
        Client(api_key=API_KEY, base_url=running.base_url, max_retries=0) as client,
        pytest.raises(FileTooLargeError, match="file too large") as caught,
    ):
        client.transcribe(big_wav, model=MODEL, timeout=WAIT)
    assert caught.value.status_code == 413
    assert running.errors == []


@pytest.mark.anyio
async def test_async_reads_a_413_sent_before_the_upload_ends(big_wav: Path) -> None:
    with ScriptedServer(lambda r: json_reply(_TOO_LARGE, 413), read_body=False) as running:
        async with AsyncClient(api_key=API_KEY, base_url=running.base_url, max_retries=0) as client:
            with anyio.fail_after(WAIT), pytest.raises(FileTooLargeError) as caught:
                await client.transcribe(big_wav, model=MODEL)
    assert caught.value.status_code == 413


@pytest.mark.anyio
async def test_a_cancelled_async_upload_leaves_the_client_usable(big_wav: Path) -> None:
    with ScriptedServer(read_pause=0.002) as running:
        async with AsyncClient(api_key=API_KEY, base_url=running.base_url) as client:
            with anyio.move_on_after(0.2) as scope:
                await client.transcribe(big_wav, model=MODEL)
            assert scope.cancelled_caught
            with anyio.fail_after(WAIT):
                result = await client.transcribe(FIXTURES / "hello.wav", model=MODEL)
        gc.collect()  # a file left open by the cancelled attempt would warn here (an error)
    assert result.text == "hello.wav"
    assert [r.form().file().filename for r in running.requests] == ["hello.wav"]
    assert len(running.aborted) == 1, running.aborted
    assert running.errors == []
