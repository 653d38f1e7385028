"""The client against servers and inputs that would make it grow, hang or re-send without end.

Each class of fault runs with :class:`Client` and with :class:`AsyncClient`: a one-shot stream
longer than the spool limit, success bodies past ``max_response_bytes`` (a gzip bomb, an endless
chunked answer), a server dripping its answer past the ``deadline``, an early ``413`` while the
upload is still going, a keep-alive connection the server closed without saying so, and
``close()`` from elsewhere while a call runs. Servers are real sockets on 127.0.0.1
(tests/socket_server.py); every wait is bounded.
"""

from __future__ import annotations

import gzip
import json
import os
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from conftest import API_KEY, FIXTURES
from socket_server import JSON, Answer, Drip, Flood, ScriptedServer, Stall, json_reply

from transcribe_sdk import (
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_MAX_SPOOL_BYTES,
    APIConnectionError,
    APITimeoutError,
    AsyncClient,
    Client,
    ClientClosedError,
    FileTooLargeError,
    InternalServerError,
    InvalidInputError,
    ResponseTooLargeError,
    RetryPolicy,
    SpoolLimitError,
    TranscribeError,
)

MODEL = "whisper-large-v3"
HELLO = FIXTURES / "hello.wav"
MiB = 1024 * 1024
OK = json_reply({"text": "ok"})
WAIT = 20.0
"""Seconds any one test may take before it fails instead of hanging."""


def _pipe(total: int) -> tuple[Any, threading.Thread]:
    """A real pipe whose writer thread offers ``total`` bytes (it stops when the reader goes)."""
    read_fd, write_fd = os.pipe()

    def write() -> None:
        with open(write_fd, "wb") as out:
            try:
                for _ in range(total // 65536):
                    out.write(b"\0" * 65536)
            except (BrokenPipeError, ValueError):
                pass

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    return open(read_fd, "rb"), writer


# -- 1. a one-shot stream has a spool limit --------------------------------------------------------
def test_a_pipe_longer_than_the_spool_limit_is_refused_naming_the_limit() -> None:
    reader, writer = _pipe(8 * MiB)
    with ScriptedServer([OK]) as server, reader:
        client = Client(api_key=API_KEY, base_url=server.base_url, max_spool_bytes=MiB)
        with client, pytest.raises(SpoolLimitError) as info:
            client.transcribe(("talk.wav", reader), model=MODEL)
    writer.join(WAIT)
    message = str(info.value)
    assert info.value.limit == MiB
    assert "max_spool_bytes=1,048,576" in message
    assert "max_retries=0" in message
    # Copied as it is sent: the upload stops at the limit, and never completes.
    assert all(not attempt.complete for attempt in server.attempts)


def test_a_pipe_with_retries_off_is_streamed_without_a_copy() -> None:
    reader, writer = _pipe(4 * MiB)
    with ScriptedServer([OK]) as server, reader:
        client = Client(api_key=API_KEY, base_url=server.base_url, max_spool_bytes=MiB)
        with client:
            assert client.transcribe(("t.wav", reader), model=MODEL, max_retries=0).text == "ok"
    writer.join(WAIT)
    assert len(server.attempts[0].file_bytes()) == 4 * MiB


async def _zeros(total: int) -> AsyncIterator[bytes]:
    for _ in range(total // 65536):
        yield b"\0" * 65536


@pytest.mark.anyio
async def test_async_a_stream_longer_than_the_spool_limit_is_refused() -> None:
    with ScriptedServer([OK, OK]) as server:
        async with AsyncClient(
            api_key=API_KEY, base_url=server.base_url, max_spool_bytes=MiB
        ) as client:
            with pytest.raises(SpoolLimitError, match="max_spool_bytes") as info:
                await client.transcribe(("talk.wav", _zeros(8 * MiB)), model=MODEL)
            assert info.value.limit == MiB
            assert all(not attempt.complete for attempt in server.attempts)  # stopped there
            result = await client.transcribe(("t.wav", _zeros(2 * MiB)), model=MODEL, max_retries=0)
    assert result.text == "ok"
    assert len(server.attempts[-1].file_bytes()) == 2 * MiB


@pytest.mark.parametrize("value", [0, -1, 1.5, "1", True])
def test_the_limits_must_be_positive_ints(value: object) -> None:
    for option in ("max_spool_bytes", "max_response_bytes"):
        with pytest.raises(InvalidInputError) as info:
            Client(api_key=API_KEY, **{option: value})
        assert info.value.param == option
        with pytest.raises(InvalidInputError):
            AsyncClient(api_key=API_KEY, **{option: value})


def test_the_default_limits_are_far_above_any_real_use() -> None:
    assert 64 * MiB <= DEFAULT_MAX_RESPONSE_BYTES
    assert 1024 * MiB <= DEFAULT_MAX_SPOOL_BYTES


# -- 2. success bodies have a cap ------------------------------------------------------------------
GZIP_BOMB = gzip.compress(b'{"text": "' + b" " * (16 * MiB) + b'"}', compresslevel=9)
BOMB = Answer(200, (*JSON, ("Content-Encoding", "gzip")), GZIP_BOMB)
ENDLESS = Flood(b" " * 65536, 64 * MiB)


@pytest.mark.parametrize("action", [BOMB, ENDLESS], ids=["gzip-bomb", "endless-chunked"])
def test_a_success_body_past_the_cap_is_refused(action: Any) -> None:
    assert len(GZIP_BOMB) < 64 * 1024
    with ScriptedServer([action]) as server:
        client = Client(api_key=API_KEY, base_url=server.base_url, max_response_bytes=MiB)
        with client, pytest.raises(ResponseTooLargeError) as info:
            client.transcribe(HELLO, model=MODEL)
    assert info.value.limit == MiB
    assert "max_response_bytes=1,048,576" in str(info.value)
    assert len(server.attempts) == 1  # not retried: the same server would send the same


@pytest.mark.anyio
@pytest.mark.parametrize("action", [BOMB, ENDLESS], ids=["gzip-bomb", "endless-chunked"])
async def test_async_a_success_body_past_the_cap_is_refused(action: Any) -> None:
    with ScriptedServer([action]) as server:
        async with AsyncClient(
            api_key=API_KEY, base_url=server.base_url, max_response_bytes=MiB
        ) as client:
            with anyio.fail_after(WAIT), pytest.raises(ResponseTooLargeError):
                await client.transcribe(HELLO, model=MODEL)
    assert len(server.attempts) == 1


def test_a_large_real_transcript_is_under_the_default_cap() -> None:
    words = [{"word": "w", "start": i / 10, "end": i / 10 + 0.1} for i in range(50_000)]
    body = {"text": "w " * 50_000, "words": words, "duration": 5000.0}
    with (
        ScriptedServer([json_reply(body)]) as server,
        Client(api_key=API_KEY, base_url=server.base_url) as client,
    ):
        raw = client.with_raw_response.transcribe(
            HELLO, model=MODEL, response_format="verbose_json"
        )
    assert len(raw.parsed.words or []) == 50_000
    assert raw.http_response.json()["duration"] == 5000.0


# -- 3. the deadline is a hard stop ----------------------------------------------------------------
_BODY = json.dumps({"text": "dripped"}).encode()
_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(
    _BODY
)
# 5+ s of dripping at 0.05 s a byte: every read succeeds long before the read timeout.
DRIP_HEAD = Drip(_HEAD + _BODY, every=0.05)
"""About 5 s in all: what a call with no guard on the head waits out (the last test below)."""
LONG_DRIP_HEAD = Drip(_HEAD + _BODY, every=0.25)
LONG_DRIP_BODY = Drip(_HEAD + b" " * 100 + _BODY, every=0.25, burst=len(_HEAD))
"""About 25 s in all, so a call the deadline did not end would be far past :data:`BOUND`."""
DEADLINE = 0.5
BOUND = 10.0
"""Twenty times the deadline (a loaded machine is slow), under half of what the long drips
take: no timing flake either way."""


@pytest.mark.parametrize("action", [LONG_DRIP_HEAD, LONG_DRIP_BODY], ids=["headers", "body"])
def test_a_dripping_server_cannot_outlast_the_deadline(action: Drip) -> None:
    with ScriptedServer([action]) as server, Client(api_key=API_KEY, base_url=server.base_url) as c:
        started = time.monotonic()
        with pytest.raises(APITimeoutError) as info:
            c.transcribe(HELLO, model=MODEL, deadline=DEADLINE)
        took = time.monotonic() - started
    assert took < BOUND, took
    assert "deadline" in str(info.value)


@pytest.mark.anyio
@pytest.mark.parametrize("action", [LONG_DRIP_HEAD, LONG_DRIP_BODY], ids=["headers", "body"])
async def test_async_a_dripping_server_cannot_outlast_the_deadline(action: Drip) -> None:
    with ScriptedServer([action]) as server:
        async with AsyncClient(api_key=API_KEY, base_url=server.base_url) as client:
            started = time.monotonic()
            with anyio.fail_after(WAIT), pytest.raises(APITimeoutError) as info:
                await client.transcribe(HELLO, model=MODEL, deadline=DEADLINE)
            took = time.monotonic() - started
    assert took < BOUND, took
    assert "deadline" in str(info.value)


@pytest.mark.parametrize("action", [DRIP_HEAD, LONG_DRIP_BODY], ids=["headers", "body"])
def test_the_deadline_holds_with_a_user_http_client_too_for_bodies(action: Drip) -> None:
    # A client of the user's gets no socket guards; the body is still checked between reads,
    # and each read's timeout is what the deadline leaves.
    import httpx

    with ScriptedServer([action]) as server, httpx.Client() as http:
        client = Client(api_key=API_KEY, base_url=server.base_url, http_client=http)
        started = time.monotonic()
        with pytest.raises(APITimeoutError):
            client.transcribe(HELLO, model=MODEL, deadline=DEADLINE)
        took = time.monotonic() - started
    if action is LONG_DRIP_BODY:
        assert took < BOUND, took


# -- 4. an early 413 is reported, never re-sent ---------------------------------------------------
_TOO_LARGE = {"error": {"message": "file too large", "type": "invalid_request_error"}}


@pytest.fixture
def big_file(tmp_path: Path) -> Path:
    path = tmp_path / "big.wav"
    path.write_bytes(b"RIFF" + b"\0" * (24 * MiB))
    return path


def test_an_early_413_with_retries_on_is_reported_once(big_file: Path) -> None:
    with (
        ScriptedServer(lambda r: json_reply(_TOO_LARGE, 413), read_body=False) as running,
        Client(api_key=API_KEY, base_url=running.base_url, max_retries=2) as client,
        pytest.raises(FileTooLargeError, match="file too large"),
    ):
        client.transcribe(big_file, model=MODEL, timeout=WAIT)
    assert len(running.requests) == 1


@pytest.mark.anyio
async def test_async_an_early_413_with_retries_on_is_reported_once(big_file: Path) -> None:
    with ScriptedServer(lambda r: json_reply(_TOO_LARGE, 413), read_body=False) as running:
        async with AsyncClient(api_key=API_KEY, base_url=running.base_url) as client:
            with anyio.fail_after(WAIT), pytest.raises(FileTooLargeError) as info:
                await client.transcribe(big_file, model=MODEL)
    assert info.value.status_code == 413
    assert info.value.attempts == 1
    assert len(running.requests) == 1


# -- 5. a keep-alive connection the server closed is not a failure ---------------------------------
def test_a_stale_keep_alive_connection_is_resent_once_without_counting() -> None:
    # The second request goes out on the first one's connection, which the server then closes
    # without an answer: it is sent again on a new connection, not counted as a retry.
    script = [json_reply({"error": "boom"}, 500), Stall(0), OK]
    with (
        ScriptedServer(script) as server,
        Client(api_key=API_KEY, base_url=server.base_url, max_retries=0) as client,
    ):
        with pytest.raises(InternalServerError):
            client.transcribe(HELLO, model=MODEL)
        raw = client.with_raw_response.transcribe(HELLO, model=MODEL)
    assert raw.parsed.text == "ok"
    assert raw.attempts == 1
    assert len(server.attempts) == 3


@pytest.mark.anyio
async def test_async_a_stale_keep_alive_connection_is_resent_once_without_counting() -> None:
    script = [json_reply({"error": "boom"}, 500), Stall(0), OK]
    with ScriptedServer(script) as server:
        async with AsyncClient(api_key=API_KEY, base_url=server.base_url, max_retries=0) as client:
            with pytest.raises(InternalServerError):
                await client.transcribe(HELLO, model=MODEL)
            raw = await client.with_raw_response.transcribe(HELLO, model=MODEL)
    assert raw.parsed.text == "ok"
    assert raw.attempts == 1
    assert len(server.attempts) == 3


def test_a_new_connection_that_fails_is_not_resent() -> None:
    with (
        ScriptedServer([Stall(0), OK]) as server,
        Client(api_key=API_KEY, base_url=server.base_url, max_retries=0) as client,
        pytest.raises(APIConnectionError),
    ):
        client.transcribe(HELLO, model=MODEL)
    assert len(server.attempts) == 1


PAIRS = 10
QUIET_500 = Answer(500, JSON, b'{"error": "boom"}', hangup=0.05)
"""Closes 50 ms after answering: the client's next request is on its way by then."""


def test_after_a_500_that_closes_quietly_the_next_call_succeeds() -> None:
    # The race as it happens: the server closes right after answering, no Connection: close.
    with (
        ScriptedServer([QUIET_500, OK] * PAIRS) as server,
        Client(api_key=API_KEY, base_url=server.base_url, max_retries=0) as client,
    ):
        for _ in range(PAIRS):
            with pytest.raises(InternalServerError):
                client.transcribe(HELLO, model=MODEL)
            assert client.transcribe(HELLO, model=MODEL).text == "ok"


@pytest.mark.anyio
async def test_async_after_a_500_that_closes_quietly_the_next_call_succeeds() -> None:
    with ScriptedServer([QUIET_500, OK] * PAIRS) as server:
        async with AsyncClient(api_key=API_KEY, base_url=server.base_url, max_retries=0) as client:
            for _ in range(PAIRS):
                with pytest.raises(InternalServerError):
                    await client.transcribe(HELLO, model=MODEL)
                assert (await client.transcribe(HELLO, model=MODEL)).text == "ok"


# -- 7. close() while a call runs -----------------------------------------------------------------
SLOW_RETRY = RetryPolicy(initial_delay=0.5, max_delay=0.5, jitter=0.0)


def _wait_for(condition: Any) -> None:
    stop = time.monotonic() + WAIT
    while not condition() and time.monotonic() < stop:
        time.sleep(0.01)


def test_close_from_another_thread_gives_a_typed_error() -> None:
    with ScriptedServer([json_reply({"error": "busy"}, 503), OK]) as server:
        client = Client(api_key=API_KEY, base_url=server.base_url, retry_policy=SLOW_RETRY)

        def close_soon() -> None:
            _wait_for(lambda: len(server.attempts) >= 1)
            client.close()  # during the wait before the retry

        closer = threading.Thread(target=close_soon)
        closer.start()
        with pytest.raises(ClientClosedError, match="closed") as info:
            client.transcribe(HELLO, model=MODEL)
        closer.join(WAIT)
    assert isinstance(info.value, APIConnectionError)
    assert not isinstance(info.value.__cause__, TranscribeError)


@pytest.mark.anyio
async def test_close_from_another_task_gives_a_typed_error() -> None:
    with ScriptedServer([json_reply({"error": "busy"}, 503), OK]) as server:
        client = AsyncClient(api_key=API_KEY, base_url=server.base_url, retry_policy=SLOW_RETRY)
        caught: list[BaseException] = []

        async def call() -> None:
            try:
                await client.transcribe(HELLO, model=MODEL)
            except TranscribeError as exc:
                caught.append(exc)

        with anyio.fail_after(WAIT):
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(call)
                while not server.attempts:
                    await anyio.sleep(0.01)
                await client.close()
    assert len(caught) == 1
    assert isinstance(caught[0], ClientClosedError)


def _slow(request: Any) -> Answer:
    return Answer(200, JSON, b'{"text": "late"}', delay=1.0)


def test_close_while_waiting_for_the_answer_gives_a_typed_error() -> None:
    with ScriptedServer(_slow) as running:
        client = Client(api_key=API_KEY, base_url=running.base_url)

        def close_soon() -> None:
            _wait_for(lambda: len(running.requests) >= 1)
            client.close()  # the call is waiting for the answer

        closer = threading.Thread(target=close_soon)
        closer.start()
        with pytest.raises(ClientClosedError):
            client.transcribe(HELLO, model=MODEL)
        closer.join(WAIT)
    assert len(running.requests) == 1  # not retried into a closed client


@pytest.mark.anyio
async def test_async_close_while_waiting_for_the_answer_gives_a_typed_error() -> None:
    with ScriptedServer(_slow) as running:
        client = AsyncClient(api_key=API_KEY, base_url=running.base_url)
        caught: list[BaseException] = []

        async def call() -> None:
            try:
                await client.transcribe(HELLO, model=MODEL)
            except TranscribeError as exc:
                caught.append(exc)

        with anyio.fail_after(WAIT):
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(call)
                while not running.requests:
                    await anyio.sleep(0.01)
                await client.close()
    assert [type(e) for e in caught] == [ClientClosedError]
