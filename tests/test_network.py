"""The network layer's behaviours of issue 21, through the public API on real sockets.

Every server is on 127.0.0.1: ``tests/socket_server.py`` (http and https, a ``trustme`` CA
trusted the way httpx's own clients trust one: ``SSL_CERT_FILE``; resets, drips, quiet
hang-ups), a real uvicorn, or a socket whose accept queue is full. Each
behaviour is checked with ``Client`` and ``AsyncClient``, and over https where TLS changes the
code that runs. Every wait is bounded: timeouts on each call, ``anyio.fail_after`` around each
awaited one, and the servers' own I/O timeouts.

1. An interim ``1xx`` answer mid-upload (``100 Continue``, ``103 Early Hints``) does not stop
   the upload: the final answer is read at once (before: the call hung until the read timeout).
2. A ``413`` sent before the upload is over (as the head arrives, or once the upload waits on
   full buffers) is the answer, once, however the server goes on: it drains the rest (a
   lingering close) or holds the connection without reading (before: the write timeout).
3. A keep-alive connection the server closed (after a ``500`` or a ``200``, with no
   ``Connection: close``) costs the next calls nothing; a request reset on a new connection
   is a real failure, not sent again for free.
4. The call's ``deadline`` bounds a slow source (``from_url`` of a dripping download), an
   answer whose head drips in, and a connect that is never accepted; the bytes of a
   ``from_url`` download are no answer of the upload.
"""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from conftest import API_KEY
from socket_server import JSON, Answer, Drip, Reset, ScriptedServer, json_reply

from transcribe_sdk import (
    APIConnectionError,
    APITimeoutError,
    AsyncClient,
    Client,
    FileTooLargeError,
    InternalServerError,
    RetryPolicy,
    UploadInterruptedError,
    from_url,
)

pytestmark = pytest.mark.network

MODEL = "whisper-large-v3"
MiB = 1024 * 1024
WAIT = 60.0
"""Seconds an awaited call may take before the test fails instead of hanging."""
QUICK = 10.0
"""Seconds a call that must not wait out any timeout may take: ten times what it takes on an
idle machine, a third of the 30 s timeouts (:data:`INTERIM_TIMEOUT`, :data:`LONG`) that a call
waiting one out would take."""
SLACK = 5.0
"""What a call bounded by a deadline may take past it on a loaded machine; each test below
makes the wait it guards against at least twice as long as deadline plus slack."""
OK = json_reply({"text": "ok"})
TOO_LARGE = json_reply({"error": {"message": "file too large"}}, 413)
HELLO = ("hello.wav", b"RIFF" + b"\0" * 4096)


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """24 MiB: far more than the socket buffers of both ends hold, so the upload is still
    going when the server speaks."""
    path = tmp_path_factory.mktemp("upload") / "big.wav"
    path.write_bytes(b"RIFF" + bytes(range(256)) * (24 * MiB // 256))
    return path


def _elapsed(started: float) -> float:
    return time.monotonic() - started


# -- 1. an interim answer mid-upload does not stop it ---------------------------------------------
INTERIM = {
    "100-continue": b"HTTP/1.1 100 Continue\r\n\r\n",
    "103-early-hints": (
        b"HTTP/1.1 103 Early Hints\r\nLink: </hints.css>; rel=preload; as=style\r\n\r\n"
    ),
    "100-then-103": (
        b"HTTP/1.1 100 Continue\r\n\r\n"
        b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\nLink: </b.js>; rel=preload\r\n"
        b"\r\n"
    ),
}
INTERIM_TIMEOUT = httpx.Timeout(30.0)
"""What a call hung until, before: long enough that waiting it out fails on the time taken."""


@pytest.fixture(params=list(INTERIM))
def interim(request: pytest.FixtureRequest) -> bytes:
    return INTERIM[request.param]


def _check_whole_upload(server: ScriptedServer, big_file: Path) -> None:
    assert len(server.requests) == 1
    assert server.requests[0].form().file().data == big_file.read_bytes()
    assert server.errors == []


def test_an_interim_answer_mid_upload_does_not_stop_it(
    tls: ssl.SSLContext | None, interim: bytes, big_file: Path
) -> None:
    with (
        ScriptedServer(lambda r: OK, tls=tls, interim=interim) as server,
        Client(api_key=API_KEY, base_url=server.base_url, max_retries=0) as client,
    ):
        started = time.monotonic()
        raw = client.with_raw_response.transcribe(big_file, model=MODEL, timeout=INTERIM_TIMEOUT)
        took = _elapsed(started)
    assert raw.parsed.text == "ok"
    assert raw.attempts == 1
    assert took < QUICK, took
    _check_whole_upload(server, big_file)


@pytest.mark.anyio
async def test_async_an_interim_answer_mid_upload_does_not_stop_it(
    tls: ssl.SSLContext | None, interim: bytes, big_file: Path
) -> None:
    with ScriptedServer(lambda r: OK, tls=tls, interim=interim) as server:
        async with AsyncClient(api_key=API_KEY, base_url=server.base_url, max_retries=0) as client:
            started = time.monotonic()
            with anyio.fail_after(WAIT):
                raw = await client.with_raw_response.transcribe(
                    big_file, model=MODEL, timeout=INTERIM_TIMEOUT
                )
            took = _elapsed(started)
    assert raw.parsed.text == "ok"
    assert raw.attempts == 1
    assert took < QUICK, took
    _check_whole_upload(server, big_file)


# -- 1b. Expect: 100-continue to a real uvicorn (as `transcribe-sdk serve` runs) -------------------
SERVER_STOP = 15.0


@contextlib.contextmanager
def _uvicorn(app: Any, **settings: Any) -> Iterator[str]:
    """``app`` under uvicorn on a free port of 127.0.0.1, served from a thread; its base URL."""
    uvicorn = pytest.importorskip("uvicorn")
    config = uvicorn.Config(
        app, log_config=None, access_log=False, lifespan="off", ws="none", **settings
    )
    server = uvicorn.Server(config)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="uvicorn")
    thread.start()
    try:
        deadline = time.monotonic() + SERVER_STOP
        while not server.started and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert server.started, "uvicorn did not start"
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        server.should_exit = True
        thread.join(SERVER_STOP)
        sock.close()
        assert not thread.is_alive(), "uvicorn did not stop"


def _form_app(answer: Callable[[int, int], tuple[int, dict[str, Any]]]) -> Any:
    """A Starlette app whose ``POST /v1/audio/transcriptions`` reads the whole form, then
    answers ``answer(request_number, file_size)`` (a status and a JSON body)."""
    for module in ("uvicorn", "starlette", "multipart"):  # the local extra: not in every CI job
        pytest.importorskip(module)
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    count = 0

    async def transcriptions(request: Request) -> JSONResponse:
        nonlocal count
        count += 1
        async with request.form() as form:
            upload: Any = form["file"]
            size = len(await upload.read())
        status, body = answer(count, size)
        return JSONResponse(body, status_code=status)

    return Starlette(routes=[Route("/v1/audio/transcriptions", transcriptions, methods=["POST"])])


def _sized(number: int, size: int) -> tuple[int, dict[str, Any]]:
    return 200, {"text": "ok", "size": size}


EXPECT = {"Expect": "100-continue"}
"""What a user sends to have the server say ``100 Continue`` (uvicorn does, once the app reads
the body: mid-upload, since the client does not wait for it)."""


@pytest.fixture(scope="module")
def upload_20mb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("serve") / "talk.wav"
    path.write_bytes(b"RIFF" + b"\1" * (20 * 1000 * 1000))
    return path


def test_expect_100_continue_to_uvicorn_succeeds_quickly(upload_20mb: Path) -> None:
    with (
        _uvicorn(_form_app(_sized)) as base_url,
        Client(api_key=API_KEY, base_url=base_url, max_retries=0, default_headers=EXPECT) as c,
    ):
        started = time.monotonic()
        raw = c.with_raw_response.transcribe(upload_20mb, model=MODEL, timeout=INTERIM_TIMEOUT)
        took = _elapsed(started)
    assert raw.http_response.json() == {"text": "ok", "size": upload_20mb.stat().st_size}
    assert raw.attempts == 1
    assert took < QUICK, took


@pytest.mark.anyio
async def test_async_expect_100_continue_to_uvicorn_succeeds_quickly(upload_20mb: Path) -> None:
    with _uvicorn(_form_app(_sized)) as base_url:
        async with AsyncClient(
            api_key=API_KEY, base_url=base_url, max_retries=0, default_headers=EXPECT
        ) as client:
            started = time.monotonic()
            with anyio.fail_after(WAIT):
                raw = await client.with_raw_response.transcribe(
                    upload_20mb, model=MODEL, timeout=INTERIM_TIMEOUT
                )
            took = _elapsed(started)
    assert raw.http_response.json() == {"text": "ok", "size": upload_20mb.stat().st_size}
    assert raw.attempts == 1
    assert took < QUICK, took


# -- 2. an early 413, the server going on: draining the body, or holding the connection ----------
LONG = httpx.Timeout(30.0)
"""The write timeout a call that holds on must not wait out."""
REFUSALS = {
    # As soon as the head is in: the client hears it between two writes.
    "at-once": TOO_LARGE,
    # Once the client has filled both ends' buffers and waits to write more: heard while the
    # write waits.
    "to-a-blocked-upload": Answer(TOO_LARGE.status, TOO_LARGE.headers, TOO_LARGE.body, delay=0.5),
}


@pytest.fixture(params=list(REFUSALS))
def refusal(request: pytest.FixtureRequest) -> Answer:
    return REFUSALS[request.param]


def _check_refused(error: FileTooLargeError, took: float, server: ScriptedServer) -> None:
    assert error.status_code == 413
    assert "file too large" in str(error)
    assert error.attempts == 1
    assert took < QUICK, took
    assert len(server.requests) == 1
    assert server.errors == []


def test_an_early_413_then_draining_is_the_answer(
    tls: ssl.SSLContext | None, refusal: Answer, big_file: Path
) -> None:
    with (
        ScriptedServer(lambda r: refusal, read_body=False, unread="drain", tls=tls) as server,
        Client(api_key=API_KEY, base_url=server.base_url, max_retries=2) as client,
    ):
        started = time.monotonic()
        with pytest.raises(FileTooLargeError) as info:
            client.transcribe(big_file, model=MODEL, timeout=LONG)
        took = _elapsed(started)
    _check_refused(info.value, took, server)
    # The upload stopped at the answer: the server drained far less than the file.
    assert len(server.drained) == 1
    assert server.drained[0] < big_file.stat().st_size // 2, server.drained


@pytest.mark.anyio
async def test_async_an_early_413_then_draining_is_the_answer(
    tls: ssl.SSLContext | None, refusal: Answer, big_file: Path
) -> None:
    with ScriptedServer(lambda r: refusal, read_body=False, unread="drain", tls=tls) as server:
        async with AsyncClient(api_key=API_KEY, base_url=server.base_url, max_retries=2) as client:
            started = time.monotonic()
            with anyio.fail_after(WAIT), pytest.raises(FileTooLargeError) as info:
                await client.transcribe(big_file, model=MODEL, timeout=LONG)
            took = _elapsed(started)
    _check_refused(info.value, took, server)
    assert len(server.drained) == 1
    assert server.drained[0] < big_file.stat().st_size // 2, server.drained


def test_an_early_413_then_holding_on_is_the_answer_at_once(
    tls: ssl.SSLContext | None, refusal: Answer, big_file: Path
) -> None:
    with (
        ScriptedServer(lambda r: refusal, read_body=False, unread="hold", tls=tls) as server,
        Client(api_key=API_KEY, base_url=server.base_url, max_retries=2) as client,
    ):
        started = time.monotonic()
        with pytest.raises(FileTooLargeError) as info:
            client.transcribe(big_file, model=MODEL, timeout=LONG)
        took = _elapsed(started)
    _check_refused(info.value, took, server)


@pytest.mark.anyio
async def test_async_an_early_413_then_holding_on_is_the_answer_at_once(
    tls: ssl.SSLContext | None, refusal: Answer, big_file: Path
) -> None:
    with ScriptedServer(lambda r: refusal, read_body=False, unread="hold", tls=tls) as server:
        async with AsyncClient(api_key=API_KEY, base_url=server.base_url, max_retries=2) as client:
            started = time.monotonic()
            with anyio.fail_after(WAIT), pytest.raises(FileTooLargeError) as info:
                await client.transcribe(big_file, model=MODEL, timeout=LONG)
            took = _elapsed(started)
    _check_refused(info.value, took, server)


# -- 3. keep-alive connections the server closed --------------------------------------------------
FOLLOW_UPS = 5
CLOSES = {
    # FIN at once after the answer: the next request races it.
    "at-once": {"hangup": 0.0},
    # The next request is on its way when the server resets the connection, unread.
    "as-the-next-request-comes": {"reset_next": True},
}


def _answer(status: int, close: str) -> Answer:
    body = {"text": "ok"} if status == 200 else {"error": {"message": "boom"}}
    return Answer(status, JSON, json.dumps(body).encode(), **CLOSES[close])


@pytest.fixture(params=list(CLOSES))
def close(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.mark.parametrize("first", [500, 200])
def test_follow_ups_on_connections_the_server_closed_all_succeed(first: int, close: str) -> None:
    script = [_answer(first, close)] + [_answer(200, close)] * FOLLOW_UPS
    with (
        ScriptedServer(script, then=Answer(503)) as server,
        Client(api_key=API_KEY, base_url=server.base_url, max_retries=0) as client,
    ):
        if first == 500:
            with pytest.raises(InternalServerError):
                client.transcribe(HELLO, model=MODEL)
        else:
            assert client.transcribe(HELLO, model=MODEL).text == "ok"
        for _ in range(FOLLOW_UPS):
            raw = client.with_raw_response.transcribe(HELLO, model=MODEL)
            assert raw.parsed.text == "ok"
            assert raw.attempts == 1
    assert len(server.attempts) == 1 + FOLLOW_UPS
    assert server.connections == 1 + FOLLOW_UPS
    assert server.errors == []


@pytest.mark.anyio
@pytest.mark.parametrize("first", [500, 200])
async def test_async_follow_ups_on_connections_the_server_closed_all_succeed(
    first: int, close: str
) -> None:
    script = [_answer(first, close)] + [_answer(200, close)] * FOLLOW_UPS
    with ScriptedServer(script, then=Answer(503)) as server:
        async with AsyncClient(api_key=API_KEY, base_url=server.base_url, max_retries=0) as client:
            with anyio.fail_after(WAIT):
                if first == 500:
                    with pytest.raises(InternalServerError):
                        await client.transcribe(HELLO, model=MODEL)
                else:
                    assert (await client.transcribe(HELLO, model=MODEL)).text == "ok"
                for _ in range(FOLLOW_UPS):
                    raw = await client.with_raw_response.transcribe(HELLO, model=MODEL)
                    assert raw.parsed.text == "ok"
                    assert raw.attempts == 1
    assert len(server.attempts) == 1 + FOLLOW_UPS
    assert server.connections == 1 + FOLLOW_UPS
    assert server.errors == []


# uvicorn closes an idle connection timeout_keep_alive seconds after an answer (no Connection:
# close on it; a fraction of a second works, it goes to the loop's call_later). The pauses put
# the follow-ups before, around and after that moment.
KEEP_ALIVE = 0.3
PAUSES = (0.0, 0.28, 0.3, 0.32, 0.45)


def _first_fails(number: int, size: int) -> tuple[int, dict[str, Any]]:
    if number == 1:
        return 500, {"error": {"message": "boom"}}
    return 200, {"text": "ok", "size": size}


def test_follow_ups_after_a_500_from_uvicorn_all_succeed() -> None:
    with (
        _uvicorn(_form_app(_first_fails), timeout_keep_alive=KEEP_ALIVE) as base_url,
        Client(api_key=API_KEY, base_url=base_url, max_retries=0) as client,
    ):
        with pytest.raises(InternalServerError):
            client.transcribe(HELLO, model=MODEL)
        for pause in PAUSES:
            time.sleep(pause)
            raw = client.with_raw_response.transcribe(HELLO, model=MODEL)
            assert raw.parsed.text == "ok", pause
            assert raw.attempts == 1


@pytest.mark.anyio
async def test_async_follow_ups_after_a_500_from_uvicorn_all_succeed() -> None:
    with _uvicorn(_form_app(_first_fails), timeout_keep_alive=KEEP_ALIVE) as base_url:
        async with AsyncClient(api_key=API_KEY, base_url=base_url, max_retries=0) as client:
            with anyio.fail_after(WAIT):
                with pytest.raises(InternalServerError):
                    await client.transcribe(HELLO, model=MODEL)
                for pause in PAUSES:
                    await anyio.sleep(pause)
                    raw = await client.with_raw_response.transcribe(HELLO, model=MODEL)
                    assert raw.parsed.text == "ok", pause
                    assert raw.attempts == 1


# A request reset on a new connection is a real failure: sent once, for the retry policy.
RESETS = {
    "before-the-answer": [Reset()],
    "mid-upload": [Reset(after_bytes=256 * 1024)],
    # The free re-send after a stale keep-alive connection is one; its new connection is reset.
    "after-a-stale-connection": [_answer(200, "as-the-next-request-comes"), Reset()],
}
SMALL = ("small.wav", b"RIFF" + b"\0" * (2 * MiB))


@pytest.fixture(params=list(RESETS))
def resets(request: pytest.FixtureRequest) -> list[Any]:
    return RESETS[request.param]


def test_a_reset_on_a_new_connection_is_not_resent(resets: list[Any]) -> None:
    with (
        ScriptedServer(resets, then=Answer(200, JSON, b'{"text": "again"}')) as server,
        Client(api_key=API_KEY, base_url=server.base_url, max_retries=0) as client,
    ):
        if len(resets) > 1:
            assert client.transcribe(SMALL, model=MODEL).text == "ok"
        with pytest.raises(APIConnectionError) as info:
            client.transcribe(SMALL, model=MODEL)
    assert not isinstance(info.value, UploadInterruptedError)
    assert info.value.attempts == 1
    assert len(server.attempts) == len(resets)
    assert server.errors == []


@pytest.mark.anyio
async def test_async_a_reset_on_a_new_connection_is_not_resent(resets: list[Any]) -> None:
    with ScriptedServer(resets, then=Answer(200, JSON, b'{"text": "again"}')) as server:
        async with AsyncClient(api_key=API_KEY, base_url=server.base_url, max_retries=0) as client:
            with anyio.fail_after(WAIT):
                if len(resets) > 1:
                    assert (await client.transcribe(SMALL, model=MODEL)).text == "ok"
                with pytest.raises(APIConnectionError) as info:
                    await client.transcribe(SMALL, model=MODEL)
    assert not isinstance(info.value, UploadInterruptedError)
    assert info.value.attempts == 1
    assert len(server.attempts) == len(resets)
    assert server.errors == []


# -- 4. the deadline bounds slow sources, dripping heads and connects -----------------------------
_WAV_HEAD = b"RIFF\x24\x00\x10\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00\x80\x3e\x00\x00"


def _download(size: int) -> tuple[bytes, bytes]:
    """A WAV file of ``size`` bytes and the head of the answer that brings it."""
    data = _WAV_HEAD + b"\0" * (size - len(_WAV_HEAD))
    head = b"HTTP/1.1 200 OK\r\nContent-Type: audio/wav\r\nContent-Length: %d\r\n\r\n" % size
    return head, data


_SLOW_HEAD, _SLOW_DATA = _download(4096 + 400)
SLOW_SOURCE = Drip(_SLOW_HEAD + _SLOW_DATA, every=0.5, burst=len(_SLOW_HEAD) + 4096, step=10)
"""A download whose head and first 4 KiB come at once, then 10 bytes every 0.5 s: 20 s in all,
so a call that waits it out ends (and fails) instead of hanging."""
SOURCE_DEADLINE = 2.0
SOURCE_BOUND = SOURCE_DEADLINE + SLACK
"""Far under the 20 s of the whole drip."""


def _check_deadline(error: APITimeoutError, took: float, bound: float) -> None:
    assert error.reason == "deadline", error
    assert "deadline" in str(error)
    assert took < bound, took


def test_a_slow_source_cannot_outlast_the_deadline() -> None:
    with (
        ScriptedServer([SLOW_SOURCE]) as source,
        ScriptedServer() as server,
        Client(api_key=API_KEY, base_url=server.base_url, max_retries=0) as client,
    ):
        audio = from_url(f"http://127.0.0.1:{source.port}/talk.wav")
        started = time.monotonic()
        with pytest.raises(APITimeoutError) as info:
            client.transcribe(audio, model=MODEL, deadline=SOURCE_DEADLINE)
        took = _elapsed(started)
    _check_deadline(info.value, took, SOURCE_BOUND)
    assert server.requests == []  # the upload never finished


@pytest.mark.anyio
async def test_async_a_slow_source_cannot_outlast_the_deadline() -> None:
    with ScriptedServer([SLOW_SOURCE]) as source, ScriptedServer() as server:
        audio = from_url(f"http://127.0.0.1:{source.port}/talk.wav")
        async with AsyncClient(api_key=API_KEY, base_url=server.base_url, max_retries=0) as client:
            started = time.monotonic()
            with anyio.fail_after(WAIT), pytest.raises(APITimeoutError) as info:
                await client.transcribe(audio, model=MODEL, deadline=SOURCE_DEADLINE)
            took = _elapsed(started)
    _check_deadline(info.value, took, SOURCE_BOUND)
    assert server.requests == []


# The download is no answer of the upload: an upload reset mid-body, with no answer at all, is
# for the retry policy, as with any other file (the download's bytes were once counted as the
# upload's answer: UploadInterruptedError, never retried).
_SOURCE_HEAD, _SOURCE_DATA = _download(16 * MiB)  # more than the buffers hold: reset mid-body
SOURCE = Answer(200, (("Content-Type", "audio/wav"),), _SOURCE_DATA)
QUICK_RETRY = RetryPolicy(max_retries=1, initial_delay=0.01, max_delay=0.01, jitter=0.0)
RESET_THEN_OK = [Reset(after_bytes=256 * 1024), Answer(200, JSON, b'{"text": "ok"}')]


def _check_retried(raw: Any, source: ScriptedServer, server: ScriptedServer) -> None:
    assert raw.parsed.text == "ok"
    assert raw.attempts == 2
    assert len(server.attempts) == 2
    assert server.attempts[1].file_bytes() == _SOURCE_DATA
    assert len(source.attempts) == 2  # a retry downloads again


def test_a_from_url_upload_reset_mid_body_is_retried() -> None:
    with (
        ScriptedServer([SOURCE]) as source,
        ScriptedServer(RESET_THEN_OK) as server,
        Client(api_key=API_KEY, base_url=server.base_url, retry_policy=QUICK_RETRY) as client,
    ):
        audio = from_url(f"http://127.0.0.1:{source.port}/talk.wav")
        raw = client.with_raw_response.transcribe(audio, model=MODEL, timeout=INTERIM_TIMEOUT)
    _check_retried(raw, source, server)


@pytest.mark.anyio
async def test_async_a_from_url_upload_reset_mid_body_is_retried() -> None:
    with ScriptedServer([SOURCE]) as source, ScriptedServer(RESET_THEN_OK) as server:
        audio = from_url(f"http://127.0.0.1:{source.port}/talk.wav")
        async with AsyncClient(
            api_key=API_KEY, base_url=server.base_url, retry_policy=QUICK_RETRY
        ) as client:
            with anyio.fail_after(WAIT):
                raw = await client.with_raw_response.transcribe(audio, model=MODEL)
    _check_retried(raw, source, server)


# An answer whose head comes a byte every 0.2 s: every read is short, the head never done in
# time. tests/test_hostile_server.py has the same on plain http with a loose bound; here the
# bound is the deadline plus :data:`SLACK`, and https too.
HEAD_DEADLINE = 2.0
HEAD_BOUND = HEAD_DEADLINE + SLACK
"""Far under the ~20 s the head and body take to drip in whole."""
DRIPPED_HEAD = Answer(200, JSON, b'{"text": "late"}', drip=0.2)


def test_a_head_dripping_in_cannot_outlast_the_deadline(tls: ssl.SSLContext | None) -> None:
    with (
        ScriptedServer(lambda r: DRIPPED_HEAD, tls=tls) as server,
        Client(api_key=API_KEY, base_url=server.base_url) as client,
    ):
        started = time.monotonic()
        with pytest.raises(APITimeoutError) as info:
            client.transcribe(HELLO, model=MODEL, deadline=HEAD_DEADLINE)
        took = _elapsed(started)
    _check_deadline(info.value, took, HEAD_BOUND)
    assert len(server.requests) == 1


@pytest.mark.anyio
async def test_async_a_head_dripping_in_cannot_outlast_the_deadline(
    tls: ssl.SSLContext | None,
) -> None:
    with ScriptedServer(lambda r: DRIPPED_HEAD, tls=tls) as server:
        async with AsyncClient(api_key=API_KEY, base_url=server.base_url) as client:
            started = time.monotonic()
            with anyio.fail_after(WAIT), pytest.raises(APITimeoutError) as info:
                await client.transcribe(HELLO, model=MODEL, deadline=HEAD_DEADLINE)
            took = _elapsed(started)
    _check_deadline(info.value, took, HEAD_BOUND)
    assert len(server.requests) == 1


# A connect that is never accepted: a listening socket whose accept queue is full drops the
# SYNs (Linux); the probe below skips the test where the kernel behaves otherwise.
CONNECT_DEADLINE = 0.5
CONNECT_BOUND = CONNECT_DEADLINE + SLACK
"""Far under the 30 s connect timeout (:data:`LONG`) that would end the call otherwise."""


@pytest.fixture
def unanswered_port() -> Iterator[int]:
    """A port on 127.0.0.1 where a connect hangs: a listener with a full accept queue."""
    with contextlib.ExitStack() as stack:
        listener = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        for _ in range(3):  # fill the queue (its length is the backlog plus one or more)
            filler = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))
        probe = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
        probe.settimeout(0.3)
        try:
            probe.connect(("127.0.0.1", port))
        except TimeoutError:
            pass
        else:
            pytest.skip("this kernel accepts connections past a full accept queue")
        yield port


def test_a_connect_never_accepted_cannot_outlast_the_deadline(unanswered_port: int) -> None:
    base_url = f"http://127.0.0.1:{unanswered_port}/v1"
    with Client(api_key=API_KEY, base_url=base_url, timeout=LONG) as client:
        started = time.monotonic()
        with pytest.raises(APITimeoutError) as info:
            client.transcribe(HELLO, model=MODEL, deadline=CONNECT_DEADLINE)
        took = _elapsed(started)
    _check_deadline(info.value, took, CONNECT_BOUND)


@pytest.mark.anyio
async def test_async_a_connect_never_accepted_cannot_outlast_the_deadline(
    unanswered_port: int,
) -> None:
    base_url = f"http://127.0.0.1:{unanswered_port}/v1"
    async with AsyncClient(api_key=API_KEY, base_url=base_url, timeout=LONG) as client:
        started = time.monotonic()
        with anyio.fail_after(WAIT), pytest.raises(APITimeoutError) as info:
            await client.transcribe(HELLO, model=MODEL, deadline=CONNECT_DEADLINE)
        took = _elapsed(started)
    _check_deadline(info.value, took, CONNECT_BOUND)
