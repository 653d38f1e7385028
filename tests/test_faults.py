"""Retries and timeouts against a real socket server misbehaving on purpose (socket_server.py).

Each scenario runs once with :class:`Client` and once with :class:`AsyncClient` (the async one
inside its own ``anyio.run``, so its event loop and worker threads are gone when the test ends)
and asserts the outcome, the number of attempts (as the server counted them and as the result or
error reports them), that every attempt the server read whole carried the original file byte for
byte, and that nothing is left open: every connection closed, no new file descriptor, no
ResourceWarning (the suite turns warnings into errors). Sleeping between retries is recorded
instead of done, so the file runs in seconds.
"""

from __future__ import annotations

import contextlib
import email.utils
import gc
import io
import logging
import os
import ssl
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import httpx
import pytest
from conftest import API_KEY, FIXTURES
from internals import Call, build_params, map_transport_error, record_sleeps
from socket_server import (
    JSON,
    Action,
    Answer,
    Recorded,
    Reset,
    Respond,
    ScriptedServer,
    Stall,
    Truncate,
    json_reply,
    refused_port,
)

import transcribe_sdk
from transcribe_sdk import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AsyncClient,
    BadRequestError,
    Client,
    InternalServerError,
    InvalidFileError,
    RateLimitError,
    TranscribeError,
    UnexpectedResponseError,
    files,
)

pytestmark = [
    pytest.mark.network,
    # An unclosed socket or file fails the test even if the global warning filter changes.
    pytest.mark.filterwarnings(
        "error::ResourceWarning", "error::pytest.PytestUnraisableExceptionWarning"
    ),
]

MODEL = "whisper-large-v3"
AUDIO = FIXTURES / "hello.wav"
DATA = AUDIO.read_bytes()
OK = json_reply({"text": "hello world"}, headers=[("x-request-id", "req-ok")])
TIMEOUT = httpx.Timeout(5.0)
STALL = 60.0
"""Seconds a stalling server stays silent: what a call that ignored its timeout would wait."""
SLACK = 15.0
"""A bound on calls that must end early: far over a 0.3-0.8 s timeout or deadline on a loaded
machine, far under the 30-60 s that ignoring it would take."""
_SSL = ssl.create_default_context()
KINDS = ["sync", "async"]
HTML = (
    b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body>"
    b"<h1>Upstream exploded</h1><p>nginx</p></body></html>"
)


# -- fixtures ----------------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The delays the clients asked to sleep, in order; nobody actually sleeps."""
    return record_sleeps(monkeypatch)


def _open_fds() -> dict[str, str]:
    found = {}
    for fd in os.listdir("/proc/self/fd"):
        try:
            found[fd] = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue  # the listing's own descriptor, already closed
    return found


@pytest.fixture(autouse=True)
def no_leaks() -> Iterator[None]:
    """Fail a test that leaves a socket, a file or a thread behind."""
    before = _open_fds()
    threads = set(threading.enumerate())
    gc.freeze()  # the collection below then looks at this test's objects only: 10x faster
    try:
        yield
        gc.collect()  # an unclosed socket or file warns (an error here) when collected
    finally:
        gc.unfreeze()
    leaked = {fd: target for fd, target in _open_fds().items() if before.get(fd) != target}
    assert not leaked, f"descriptors left open: {leaked}"
    deadline = time.monotonic() + 5
    while (extra := set(threading.enumerate()) - threads) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not extra, f"threads left running: {extra}"


@dataclass
class Outcome:
    """What one call ended with: a result or an error, never both."""

    result: transcribe_sdk.RawResponse[Any] | None = None
    error: TranscribeError | None = None

    @property
    def attempts(self) -> int:
        if self.result is not None:
            return self.result.attempts
        attempts: int = getattr(self.error, "attempts", 1)
        return attempts


def call(
    kind: str,
    base_url: str,
    file: Any = AUDIO,
    *,
    client_options: dict[str, Any] | None = None,
    own_http: bool = False,
    **options: Any,
) -> Outcome:
    """One ``with_raw_response.transcribe`` with a fresh client, closed before returning.

    ``file`` may be a function that makes the input inside the event loop. The SDK client gets
    an httpx client that shares one SSL context (building one per test costs 0.3 s), unless
    ``own_http``: then it builds and closes its own, as an application's would.
    """
    settings: dict[str, Any] = {"max_retries": 2, "timeout": TIMEOUT, **(client_options or {})}
    try:
        if kind == "sync":
            with contextlib.ExitStack() as stack:
                if not own_http:
                    settings["http_client"] = stack.enter_context(httpx.Client(verify=_SSL))
                client = stack.enter_context(Client(api_key=API_KEY, base_url=base_url, **settings))
                made = file() if callable(file) else file
                return Outcome(client.with_raw_response.transcribe(made, model=MODEL, **options))

        async def main() -> Outcome:
            async with contextlib.AsyncExitStack() as stack:
                if not own_http:
                    http = httpx.AsyncClient(verify=_SSL)
                    settings["http_client"] = await stack.enter_async_context(http)
                client = AsyncClient(api_key=API_KEY, base_url=base_url, **settings)
                await stack.enter_async_context(client)
                made = file() if callable(file) else file
                raw = await client.with_raw_response.transcribe(made, model=MODEL, **options)
                return Outcome(raw)

        return anyio.run(main)
    except TranscribeError as exc:
        return Outcome(error=exc)


def check_server(
    server: ScriptedServer, attempts: int, data: bytes = DATA, *, last_whole: bool = True
) -> None:
    """The server saw ``attempts`` requests; each one it read whole carried ``data``; the last
    one was read whole (unless cut on purpose); every connection is closed; no server thread
    failed."""
    assert len(server.attempts) == attempts, [a.number for a in server.attempts]
    assert server.attempts[-1].complete is last_whole
    for attempt in server.attempts:
        assert attempt.method == "POST"
        assert attempt.target == "/v1/audio/transcriptions"
        if attempt.complete:
            assert attempt.file_bytes() == data, f"attempt {attempt.number} sent other bytes"
    assert server.wait_until_idle(), "the client left a connection open"
    assert not server.errors, server.errors


# -- the scenario table ------------------------------------------------------------------------
@dataclass(frozen=True)
class Scenario:
    script: list[Action]
    error: type[TranscribeError] | None  # None: success
    attempts: int
    options: dict[str, Any] = field(default_factory=dict)
    client_options: dict[str, Any] = field(default_factory=dict)
    message: str | None = None  # a piece the error message must contain
    last_whole: bool = True  # False when the server cuts every upload short


def _http_date(seconds_from_now: float) -> str:
    return email.utils.formatdate(time.time() + seconds_from_now, usegmt=True)


SCENARIOS: dict[str, Scenario] = {
    "reset-mid-upload-then-ok": Scenario([Reset(after_bytes=4096), OK], None, 2),
    "reset-mid-upload-always": Scenario(
        [Reset(after_bytes=4096)],
        APIConnectionError,
        3,
        message="after 3 attempts",
        last_whole=False,
    ),
    "reset-before-answer-then-ok": Scenario([Reset(), OK], None, 2),
    "reset-before-answer-always": Scenario(
        [Reset()], APIConnectionError, 3, message="after 3 attempts"
    ),
    "stall-before-headers-then-ok": Scenario(
        [Stall(5), OK], None, 2, client_options={"timeout": httpx.Timeout(5, read=0.5)}
    ),
    "stall-before-headers-always": Scenario(
        [Stall(5)],
        APITimeoutError,
        2,
        options={"max_retries": 1},
        client_options={"timeout": httpx.Timeout(5, read=0.5)},
        message="read timeout is 0.5 s",
    ),
    "truncated-body-then-ok": Scenario([Truncate(200, b'{"text": "hel'), OK], None, 2),
    "truncated-body-always": Scenario(
        [Truncate(200, b'{"text": "hel')], APIConnectionError, 3, message="after 3 attempts"
    ),
    "truncated-error-body": Scenario(
        [Truncate(5000, b"<html>", status=502)], APIConnectionError, 3
    ),
    "429-retry-after-seconds": Scenario(
        [json_reply({"error": {"message": "slow down"}}, 429, [("Retry-After", "2")]), OK],
        None,
        2,
    ),
    "429-retry-after-http-date": Scenario(
        [json_reply({"error": "slow down"}, 429, [("Retry-After", _http_date(30))]), OK],
        None,
        2,
    ),
    "429-retry-after-ms": Scenario(
        [json_reply({"error": "slow down"}, 429, [("retry-after-ms", "250")]), OK], None, 2
    ),
    "429-retry-after-over-cap": Scenario(
        [json_reply({"error": "quota"}, 429, [("Retry-After", "3600")])],
        RateLimitError,
        1,
        message="wait 3600 s",
    ),
    "429-always": Scenario(
        [json_reply({"error": "slow down"}, 429, [("Retry-After", "0")])],
        RateLimitError,
        3,
        message="after 3 attempts",
    ),
    "503-then-200": Scenario([json_reply({"error": "busy"}, 503), OK], None, 2),
    "503-do-not-retry": Scenario(
        [json_reply({"error": "down"}, 503, [("x-should-retry", "false")])],
        InternalServerError,
        1,
    ),
    "500-html-page": Scenario(
        [Answer(500, [("Content-Type", "text/html")], HTML)],
        InternalServerError,
        3,
        message="Upstream exploded",
    ),
    "200-invalid-json": Scenario(
        [Answer(200, JSON, b'{"text": "hello", ')], UnexpectedResponseError, 1
    ),
    "503-then-200-invalid-json": Scenario(
        [json_reply({"error": "busy"}, 503), Answer(200, JSON, b"{not json")],
        UnexpectedResponseError,
        2,
        message="after 2 attempts",
    ),
    "200-wrong-shape": Scenario(
        [json_reply({"text": ["not", "a", "string"]})], UnexpectedResponseError, 1
    ),
    "200-json-list": Scenario([json_reply([1, 2, 3])], UnexpectedResponseError, 1),
    "200-empty-body": Scenario([Answer(200, JSON, b"")], UnexpectedResponseError, 1),
    "500-10mb-body": Scenario(
        [Answer(500, [("Content-Type", "text/html")], b"<p>" + b"x" * 10_000_000 + b"</p>")],
        InternalServerError,
        3,
        message="[body truncated]",
    ),
    "200-bad-gzip": Scenario(
        [Answer(200, [*JSON, ("Content-Encoding", "gzip")], b"this is not gzip")],
        APIConnectionError,
        3,
    ),
    "400-never-retried": Scenario(
        [json_reply({"error": {"message": "bad file", "param": "file"}}, 400)],
        BadRequestError,
        1,
    ),
    "per-call-max-retries": Scenario(
        [json_reply({"error": "busy"}, 503)],
        InternalServerError,
        5,
        options={"max_retries": 4},
        client_options={"max_retries": 0},
    ),
    "per-call-no-retries": Scenario(
        [json_reply({"error": "busy"}, 503)], InternalServerError, 1, options={"max_retries": 0}
    ),
    "deadline-stops-retry-after": Scenario(
        [json_reply({"error": "busy"}, 503, [("Retry-After", "5")])],
        InternalServerError,
        1,
        options={"deadline": 2},
    ),
}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", list(SCENARIOS))
def test_scenario(kind: str, name: str) -> None:
    scenario = SCENARIOS[name]
    with ScriptedServer(scenario.script) as server:
        outcome = call(
            kind, server.base_url, client_options=scenario.client_options, **scenario.options
        )
        check_server(server, scenario.attempts, last_whole=scenario.last_whole)
    if scenario.error is None:
        assert outcome.error is None, repr(outcome.error)
        assert outcome.result is not None
        assert outcome.result.parsed.text == "hello world"
        assert outcome.result.request_id == "req-ok"
    else:
        assert type(outcome.error) is scenario.error, repr(outcome.error)
        assert scenario.message is None or scenario.message in str(outcome.error)
        # What is raised is ours; httpx's exception may only be chained to it, for debugging.
        assert outcome.error.__cause__ is None or isinstance(
            outcome.error.__cause__, (TranscribeError, httpx.HTTPError)
        )
    assert outcome.attempts == scenario.attempts


# -- connection refused: no server at all -------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_connection_refused_is_retried_then_raised(kind: str, sleeps: list[float]) -> None:
    outcome = call(kind, f"http://127.0.0.1:{refused_port()}/v1", own_http=True)
    assert type(outcome.error) is APIConnectionError
    assert outcome.attempts == 3
    assert "after 3 attempts" in str(outcome.error)
    assert "base_url" in str(outcome.error)  # says what to check
    assert len(sleeps) == 2
    assert 0.375 <= sleeps[0] <= 0.5  # the first backoff, less up to 25 % jitter
    assert 0.75 <= sleeps[1] <= 1.0  # doubled


# -- how long the clients waited ----------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("headers", "low", "high"),
    [
        ([("Retry-After", "2")], 2.0, 2.0),
        ([("Retry-After", "HTTP-DATE")], 27.0, 30.0),
        ([("retry-after-ms", "250")], 0.25, 0.25),
        ([("retry-after-ms", "1500"), ("Retry-After", "9")], 1.5, 1.5),
        ([("Retry-After", "soon")], 0.375, 0.5),  # unreadable: the computed backoff
    ],
    ids=["seconds", "http-date", "ms", "ms-wins", "garbage"],
)
def test_retry_after_sets_the_delay(
    kind: str, headers: list[tuple[str, str]], low: float, high: float, sleeps: list[float]
) -> None:
    headers = [(k, _http_date(30) if v == "HTTP-DATE" else v) for k, v in headers]
    with ScriptedServer([json_reply({"error": "slow"}, 429, headers), OK]) as server:
        outcome = call(kind, server.base_url)
        check_server(server, 2)
    assert outcome.result is not None
    assert len(sleeps) == 1
    assert low <= sleeps[0] <= high


@pytest.mark.parametrize("kind", KINDS)
def test_over_cap_retry_after_is_reported_not_slept(kind: str, sleeps: list[float]) -> None:
    answer = json_reply({"error": "quota"}, 429, [("Retry-After", "3600")])
    with ScriptedServer([answer]) as server:
        outcome = call(kind, server.base_url)
        check_server(server, 1)
    assert isinstance(outcome.error, RateLimitError)
    assert outcome.error.retry_after == 3600
    assert sleeps == []


# -- timeouts -----------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_per_call_timeout_overrides_the_client(kind: str) -> None:
    # The client's own read timeout is 30 s: the call's 0.3 s must be what ends it.
    with ScriptedServer([Stall(STALL)]) as server:
        started = time.monotonic()
        outcome = call(
            kind,
            server.base_url,
            client_options={"timeout": httpx.Timeout(30)},
            max_retries=0,
            timeout=0.3,
        )
        elapsed = time.monotonic() - started
        check_server(server, 1)
    assert type(outcome.error) is APITimeoutError
    assert "read timeout is 0.3 s" in str(outcome.error)
    assert elapsed < SLACK


@pytest.mark.parametrize("kind", KINDS)
def test_write_timeout_when_the_server_stops_reading(kind: str) -> None:
    big = bytes(DATA[:44]) + bytes(40_000_000)  # more than the socket buffers hold
    with ScriptedServer([Stall(1, read_body=False)]) as server:
        outcome = call(
            kind,
            server.base_url,
            ("big.wav", big),
            max_retries=0,
            timeout=httpx.Timeout(5, write=0.3),
        )
        assert server.wait_until_idle()
    assert type(outcome.error) is APITimeoutError
    assert "write timeout is 0.3 s" in str(outcome.error)
    assert "uploading" in str(outcome.error)


@pytest.mark.parametrize("kind", KINDS)
def test_deadline_bounds_the_whole_call(kind: str) -> None:
    # The read timeout alone would wait 30 s per attempt; the deadline ends the call in ~1 s.
    with ScriptedServer([Stall(STALL)]) as server:
        started = time.monotonic()
        outcome = call(
            kind, server.base_url, client_options={"timeout": httpx.Timeout(30)}, deadline=0.8
        )
        elapsed = time.monotonic() - started
        assert server.wait_until_idle()
    assert isinstance(outcome.error, APITimeoutError)
    assert elapsed < SLACK


def test_default_timeouts_suit_long_audio() -> None:
    timeout = transcribe_sdk.DEFAULT_TIMEOUT
    assert timeout.connect is not None
    assert timeout.connect <= 30  # a dead host is found quickly
    assert timeout.read is not None
    assert timeout.read >= 300  # an hour of audio can take minutes to transcribe
    assert timeout.write is not None
    assert timeout.write >= 300  # and minutes to upload on a slow line
    assert timeout.pool is not None


def _a_call(timeout: httpx.Timeout, deadline: float | None = None) -> Call:
    return Call(
        url="http://127.0.0.1:9/v1/audio/transcriptions",
        params=build_params(model=MODEL),
        headers={},
        timeout=timeout,
        policy=transcribe_sdk.RetryPolicy(deadline=deadline),
        started=time.monotonic(),
    )


@pytest.mark.parametrize(
    ("error", "phase", "words"),
    [
        (httpx.ConnectTimeout, "connect", "connecting"),
        (httpx.WriteTimeout, "write", "uploading"),
        (httpx.ReadTimeout, "read", "waiting for the answer"),
        (httpx.PoolTimeout, "pool", "free connection"),
    ],
)
def test_every_httpx_timeout_becomes_ours(
    error: type[httpx.TimeoutException], phase: str, words: str
) -> None:
    limits = httpx.Timeout(connect=1.5, read=2.5, write=3.5, pool=4.5)
    mapped = map_transport_error(error("timed out"), _a_call(limits))
    assert type(mapped) is APITimeoutError
    assert f"the {phase} timeout is {getattr(limits, phase):g} s" in str(mapped)
    assert words in str(mapped)
    assert f"{phase}=" in str(mapped)  # how to raise it


def test_a_timeout_under_a_deadline_says_so() -> None:
    mapped = map_transport_error(httpx.ReadTimeout("x"), _a_call(httpx.Timeout(1.0), 3.0))
    assert "deadline is 3 s" in str(mapped)


@pytest.mark.parametrize(
    "error",
    [
        httpx.ConnectError("refused"),
        httpx.ReadError("reset"),
        httpx.WriteError("broken pipe"),
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
        httpx.LocalProtocolError("bad"),
        httpx.ProxyError("proxy"),
        httpx.UnsupportedProtocol("gopher"),
        httpx.DecodingError("Error -3 while decompressing data"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_every_other_httpx_failure_becomes_a_connection_error(error: httpx.RequestError) -> None:
    mapped = map_transport_error(error, _a_call(TIMEOUT))
    assert type(mapped) is APIConnectionError
    assert str(error).rstrip(".") in str(mapped)
    assert ".." not in str(mapped)


def test_pool_timeout_is_a_timeout_error() -> None:
    limits = httpx.Limits(max_connections=1)
    timeout = httpx.Timeout(5, pool=0.2)
    errors: list[BaseException] = []
    with (
        ScriptedServer([Stall(0.6), OK]) as server,
        httpx.Client(limits=limits, timeout=timeout) as http,
    ):
        client = Client(api_key=API_KEY, base_url=server.base_url, http_client=http)

        def hold_the_connection() -> None:
            try:
                client.transcribe(AUDIO, model=MODEL, max_retries=0, timeout=timeout)
            except TranscribeError as exc:
                errors.append(exc)

        holder = threading.Thread(target=hold_the_connection)
        holder.start()
        deadline = time.monotonic() + 5
        while not server.attempts and time.monotonic() < deadline:
            time.sleep(0.01)
        with pytest.raises(APITimeoutError, match="free connection") as info:
            client.transcribe(AUDIO, model=MODEL, max_retries=0, timeout=timeout)
        holder.join(10)
        assert not holder.is_alive()
    assert "pool timeout is 0.2 s" in str(info.value)
    # The holder's request ended when the stalling server hung up without an answer.
    assert [type(e) for e in errors] == [APIConnectionError]


# -- inputs that can be read only once are spooled, then re-sent byte for byte ---------------
class ReadOnly:
    """A stream with nothing but ``read()``: no seek, no tell, no name, no mode."""

    def __init__(self, data: bytes) -> None:
        self._buffer = io.BytesIO(data)

    def read(self, size: int = -1) -> bytes:
        return self._buffer.read(size)


async def _chunks() -> AsyncIterator[bytes]:
    for start in range(0, len(DATA), 10_000):
        yield DATA[start : start + 10_000]
        await anyio.lowlevel.checkpoint()


@pytest.fixture
def spools(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every spool file the clients make, kept to look at after the call."""
    made: list[Any] = []

    class RecordingSpool(tempfile.SpooledTemporaryFile):  # type: ignore[type-arg]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(tempfile, "SpooledTemporaryFile", RecordingSpool)
    return made


def _pipe_with(data: bytes) -> tuple[io.BufferedReader, threading.Thread]:
    """The read end of a pipe that a thread fills with ``data`` and then closes."""
    read_fd, write_fd = os.pipe()

    def feed() -> None:
        with open(write_fd, "wb") as sink:
            sink.write(data)

    feeder = threading.Thread(target=feed)
    feeder.start()
    return open(read_fd, "rb"), feeder


@pytest.mark.parametrize("where", ["memory", "disk"])
@pytest.mark.parametrize(
    ("kind", "source"),
    [
        ("sync", "read-only"),
        ("async", "read-only"),
        ("sync", "pipe"),
        ("async", "pipe"),
        ("async", "async-generator"),
    ],
)
def test_one_shot_input_is_spooled_and_resent(
    *,
    kind: str,
    source: str,
    where: str,
    spools: list[Any],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where a spool file would go
    if where == "disk":  # past this size the spool moves to an (unlinked) temporary file
        monkeypatch.setattr(files, "SPOOL_MEMORY_LIMIT", 16 * 1024)
    feeder = None
    file: Any
    if source == "read-only":
        file = ReadOnly(DATA)
    elif source == "pipe":
        file, feeder = _pipe_with(DATA)
    else:
        file = _chunks
    try:
        with ScriptedServer([json_reply({"error": "busy"}, 503), OK]) as server:
            outcome = call(kind, server.base_url, file, own_http=True)
            check_server(server, 2)
    finally:
        if feeder is not None:
            feeder.join(10)
            file.close()
    assert outcome.result is not None, repr(outcome.error)
    assert outcome.attempts == 2
    assert all(a.file_bytes() == DATA for a in server.attempts)
    assert len(spools) == 1
    assert spools[0]._rolled is (where == "disk")
    assert spools[0].closed
    assert list(tmp_path.iterdir()) == []  # the temporary file is gone, if it was ever named


@pytest.mark.parametrize("kind", KINDS)
def test_one_shot_input_without_retries_is_not_spooled(kind: str, spools: list[Any]) -> None:
    with ScriptedServer([json_reply({"error": "busy"}, 503)]) as server:
        outcome = call(kind, server.base_url, ReadOnly(DATA), max_retries=0)
        check_server(server, 1)
    assert type(outcome.error) is InternalServerError
    assert spools == []


@pytest.mark.parametrize("kind", KINDS)
def test_a_seekable_file_is_rewound_for_each_attempt(kind: str) -> None:
    handle = io.BytesIO(b"prefix that is not sent" + DATA)
    handle.seek(len(b"prefix that is not sent"))  # sent from where it stands, every time
    with ScriptedServer([Reset(), json_reply({"error": "busy"}, 502), OK]) as server:
        outcome = call(kind, server.base_url, ("take.wav", handle))
        check_server(server, 3)
    assert outcome.attempts == 3
    assert not handle.closed  # the caller's handle stays the caller's


@pytest.mark.parametrize("kind", KINDS)
def test_a_file_deleted_between_attempts_is_a_file_error(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A file over files.WHOLE_READ_LIMIT is streamed, so each attempt opens it again.
    monkeypatch.setattr(transcribe_sdk.files, "WHOLE_READ_LIMIT", len(DATA) - 1)
    path = tmp_path / "take.wav"
    path.write_bytes(DATA)

    def delete_then_refuse(_attempt: Recorded) -> Answer:
        path.unlink()
        return json_reply({"error": "busy"}, 503)

    with ScriptedServer([Respond(delete_then_refuse), OK]) as server:
        outcome = call(kind, server.base_url, path)
        check_server(server, 1)
    assert type(outcome.error) is InvalidFileError  # not a bare FileNotFoundError, not retried
    assert outcome.error.param == "file"
    assert "deleted" in str(outcome.error)


@pytest.mark.parametrize("kind", KINDS)
def test_a_small_file_deleted_between_attempts_is_sent_from_its_copy(
    kind: str, tmp_path: Path
) -> None:
    # A file up to files.WHOLE_READ_LIMIT was read whole when the call began: every attempt
    # sends those same bytes.
    path = tmp_path / "take.wav"
    path.write_bytes(DATA)

    def delete_then_refuse(_attempt: Recorded) -> Answer:
        path.unlink()
        return json_reply({"error": "busy"}, 503)

    with ScriptedServer([Respond(delete_then_refuse), OK]) as server:
        outcome = call(kind, server.base_url, path)
        check_server(server, 2)
    assert outcome.error is None
    assert outcome.attempts == 2


# -- what the retries log ---------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_each_retry_is_logged_with_attempt_reason_and_delay(
    kind: str, caplog: pytest.LogCaptureFixture, sleeps: list[float]
) -> None:
    caplog.set_level(logging.INFO, logger="transcribe_sdk")
    with ScriptedServer([json_reply({"error": "busy"}, 503), Reset(), OK]) as server:
        outcome = call(kind, server.base_url)
        check_server(server, 3)
    assert outcome.attempts == 3
    retries = [r for r in caplog.records if r.levelno == logging.INFO]
    assert [r.name for r in retries] == ["transcribe_sdk", "transcribe_sdk"]
    first, second = (r.getMessage() for r in retries)
    assert "attempt 1 " in first
    assert "503" in first
    assert f"retrying in {sleeps[0]:.2f} s" in first
    assert "attempt 2 " in second
    assert "APIConnectionError" in second
    assert f"retrying in {sleeps[1]:.2f} s" in second


@pytest.mark.parametrize("kind", KINDS)
def test_the_final_error_counts_the_attempts(kind: str) -> None:
    with ScriptedServer([json_reply({"error": {"message": "overloaded"}}, 503)]) as server:
        outcome = call(kind, server.base_url, max_retries=3)
        check_server(server, 4)
    assert isinstance(outcome.error, InternalServerError)
    assert outcome.error.attempts == 4
    assert "Gave up after 4 attempts" in str(outcome.error)
    assert "overloaded" in str(outcome.error)


# -- which statuses are retried -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("status", "attempts"),
    [
        *[(status, 1) for status in (400, 401, 403, 404, 413, 415, 422)],
        *[(status, 3) for status in (408, 409, 429, 500, 502, 503, 504, 599)],
    ],
)
def test_which_statuses_are_retried(status: int, attempts: int) -> None:
    with ScriptedServer([json_reply({"error": {"message": "no"}}, status)]) as server:
        outcome = call("sync", server.base_url)
        check_server(server, attempts)
    assert isinstance(outcome.error, APIStatusError)
    assert outcome.error.status_code == status
    assert outcome.error.attempts == attempts
