"""Hostile clients against ``transcribe-sdk serve``'s bounds (uvicorn on 127.0.0.1, in a thread).

Each bound is set small here so that it is reached quickly: the body size, the body's pace,
the request head's size, an idle keep-alive connection's lifetime, the connections and the
transcriptions at once, the audio's duration. Every answer is read from a real socket.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from _serving import Running, health, raw_exchange, serving, silent_flac, wait_for

from transcribe_sdk import Client
from transcribe_sdk.errors import AuthenticationError

pytest.importorskip("faster_whisper")
pytest.importorskip("uvicorn")

pytestmark = pytest.mark.network

HELLO = Path(__file__).parent / "fixtures" / "hello.wav"
MODEL = "tiny.en"
LIMIT = 1024 * 1024
HEAD = (
    b"POST /v1/audio/transcriptions HTTP/1.1\r\nHost: x\r\n"
    b"Content-Type: multipart/form-data; boundary=b\r\n"
)


@pytest.fixture(scope="module")
def tight() -> Iterator[Running]:
    with serving(
        max_upload_bytes=LIMIT,
        body_timeout=1.0,
        header_timeout=1.0,
        max_header_bytes=8 * 1024,
        concurrency=1,
        queue_timeout=0.2,
        retry_after=7,
        max_audio_seconds=600,
        api_key="s3cret",
    ) as running:
        yield running


def status_of(answer: bytes) -> int:
    assert answer.startswith(b"HTTP/1.1 "), answer[:200]
    return int(answer[9:12])


AUTH = b"Authorization: Bearer s3cret\r\n"
PART = b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\n'
FILE_PART = b"%x\r\n" % len(PART) + PART + b"\r\n"


# -- the body ------------------------------------------------------------------------------------
def test_a_declared_oversized_body_is_refused_before_it_is_read(tight: Running) -> None:
    answer = raw_exchange(tight.port, HEAD + AUTH + b"Content-Length: 10000000000\r\n\r\n")
    assert status_of(answer) == 413
    assert b"file_too_large" in answer


def test_a_keyless_client_gets_its_401_without_the_body_being_read(tight: Running) -> None:
    # raw_exchange reads until the server closes: the 401 comes, and the connection ends.
    answer = raw_exchange(tight.port, HEAD + b"Content-Length: 10000000000\r\n\r\n")
    assert status_of(answer) == 401
    assert b"invalid_api_key" in answer


def test_a_chunked_body_is_refused_once_past_the_bound(tight: Running) -> None:
    chunk = b"%x\r\n" % 65536 + b"\0" * 65536 + b"\r\n"
    with socket.create_connection(("127.0.0.1", tight.port), timeout=30) as sock:
        sock.sendall(HEAD + AUTH + b"Transfer-Encoding: chunked\r\n\r\n" + FILE_PART)
        sent = 0
        answer = b""
        try:
            while sent < 4 * LIMIT:  # the server answers long before this
                sock.sendall(chunk)
                sent += 65536
        except OSError:
            pass
        try:
            while piece := sock.recv(65536):
                answer += piece
        except OSError:
            pass
    assert sent < 4 * LIMIT or answer
    if answer:  # a reset can beat the answer to the client; the bound held either way
        assert status_of(answer) == 413
    assert health(tight.base_url)["running"] == 0


@pytest.mark.parametrize(
    "size_line",
    [b"-1", b"-FFFFFFFF", b"1" * 40, b"zz"],
    ids=["negative", "very-negative", "huge", "not-hex"],
)
def test_bad_chunk_sizes_are_400s(tight: Running, size_line: bytes) -> None:
    answer = raw_exchange(
        tight.port, HEAD + AUTH + b"Transfer-Encoding: chunked\r\n\r\n" + size_line + b"\r\nxx"
    )
    assert status_of(answer) in (400, 413)


def test_an_unterminated_chunk_size_line_is_bounded(tight: Running) -> None:
    # A chunk-size line that never ends: h11 holds at most the head bound, then gives up.
    answer = raw_exchange(
        tight.port, HEAD + AUTH + b"Transfer-Encoding: chunked\r\n\r\n" + b"1" * (64 * 1024)
    )
    assert answer == b"" or status_of(answer) == 400


def test_a_stalled_body_gets_a_408(tight: Running) -> None:
    with socket.create_connection(("127.0.0.1", tight.port), timeout=30) as sock:
        sock.sendall(HEAD + AUTH + b"Content-Length: 1000\r\n\r\n--b\r\n")
        answer = sock.recv(65536)
    assert status_of(answer) == 408


def test_a_header_block_past_its_bound_is_refused(tight: Running) -> None:
    answer = raw_exchange(
        tight.port, b"GET /health HTTP/1.1\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n"
    )
    assert status_of(answer) in (400, 431)


# -- the request head's pace and the connections ------------------------------------------------
# uvicorn has no setting for the time a request head may take, so a connection that sends
# nothing, or its head a byte at a time, is not closed by the server (docs/server.md: a reverse
# proxy in front for untrusted clients). What holds is below: uvicorn's documented settings.
def test_the_bounds_reach_uvicorn_as_its_documented_settings() -> None:
    import uvicorn
    from internals import server_parser as build_parser
    from internals import settings_from
    from internals import uvicorn_options as _uvicorn_options

    args = build_parser().parse_args(
        ["serve", "--max-connections", "5", "--header-timeout", "2.5", "--max-header-kb", "4"]
    )
    options = _uvicorn_options(settings_from(args))
    assert options["http"] == "h11"  # a name uvicorn documents, not a protocol class
    assert options["limit_concurrency"] == 5
    assert options["timeout_keep_alive"] == 3  # whole seconds, rounded up
    assert options["h11_max_incomplete_event_size"] == 4 * 1024
    uvicorn.Config(lambda: None, **options)  # every key is one of uvicorn.Config's arguments


def _closed_within(sock: socket.socket, seconds: float) -> bool:
    """Whether the server closes ``sock`` within ``seconds`` (whatever it sends first)."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            if sock.recv(65536) == b"":
                return True
        except TimeoutError:
            return False
        except OSError:
            return True
    return False


def test_a_keep_alive_connection_is_closed_when_idle(tight: Running) -> None:
    with socket.create_connection(("127.0.0.1", tight.port), timeout=10) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(12).startswith(b"HTTP/1.1 200")
        assert _closed_within(sock, 20)


def test_a_head_sent_slowly_is_still_refused_past_its_bound(tight: Running) -> None:
    # A slow head holds its connection, but no more than --max-header-kb of it is buffered.
    answer = b""
    with socket.create_connection(("127.0.0.1", tight.port), timeout=30) as sock:
        with contextlib.suppress(OSError):
            sock.sendall(b"GET /health HTTP/1.1\r\nX-Slow: ")
            for _ in range(40):  # 20 KiB in 512-byte pieces, past the 8 KiB bound
                sock.sendall(b"a" * 512)
                time.sleep(0.01)
        with contextlib.suppress(OSError):
            while piece := sock.recv(65536):
                answer += piece
    assert status_of(answer) in (400, 431)


def test_past_max_connections_a_request_is_a_503() -> None:
    # Every open connection counts, one that has sent nothing too: past --max-connections
    # uvicorn answers 503 (limit_concurrency), and serves again once they are closed.
    request = b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    with serving(max_connections=3) as small:
        held = [socket.create_connection(("127.0.0.1", small.port), timeout=10) for _ in range(3)]
        try:
            wait_for(
                lambda: status_of(raw_exchange(small.port, request)) == 503,
                what="a 503 past --max-connections",
            )
        finally:
            for sock in held:
                sock.close()
        wait_for(
            lambda: status_of(raw_exchange(small.port, request)) == 200,
            what="a 200 once the connections are closed",
        )


# -- auth ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
def test_the_bearer_scheme_is_case_insensitive(tight: Running, scheme: str) -> None:
    answer = httpx.get(
        f"{tight.base_url}/models", headers={"Authorization": f"{scheme} s3cret"}, timeout=10
    )
    assert answer.status_code == 200


def test_a_wrong_key_is_a_401_and_health_needs_none(tight: Running) -> None:
    with (
        Client(base_url=tight.base_url, api_key="wrong", max_retries=0) as intruder,
        pytest.raises(AuthenticationError) as caught,
    ):
        intruder.transcribe(HELLO, model=MODEL)
    assert caught.value.error_code == "invalid_api_key"
    assert httpx.get(f"{tight.base_url}/models", timeout=10).status_code == 401
    assert health(tight.base_url)["status"] == "ok"


# -- the audio -----------------------------------------------------------------------------------
def test_audio_past_the_duration_cap_is_refused_from_its_header(
    tight: Running, tmp_path: Path
) -> None:
    hour = silent_flac(tmp_path / "hour.flac", 3600)
    assert hour.stat().st_size < LIMIT
    with httpx.Client(timeout=60, headers={"Authorization": "Bearer s3cret"}) as http:
        answer = http.post(
            f"{tight.base_url}/audio/transcriptions",
            files={"file": ("hour.flac", hour.read_bytes())},
            data={"model": MODEL},
        )
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == "audio_too_long"
    assert error["param"] == "file"
    assert "600" in error["message"]


# -- overload ------------------------------------------------------------------------------------
def test_overload_is_a_503_with_retry_after(
    tight: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = tight.state.app.engine
    release = threading.Event()
    start = engine.start

    def held(*args: Any, **kwargs: Any) -> Any:
        release.wait(60)
        return start(*args, **kwargs)

    monkeypatch.setattr(engine, "start", held)
    keyed = {"Authorization": "Bearer s3cret"}
    first: dict[str, int] = {}

    def occupy() -> None:
        with httpx.Client(timeout=120, headers=keyed) as http:
            first["status"] = http.post(
                f"{tight.base_url}/audio/transcriptions",
                files={"file": ("hello.wav", HELLO.read_bytes())},
                data={"model": MODEL},
            ).status_code

    thread = threading.Thread(target=occupy)
    thread.start()
    try:
        wait_for(lambda: health(tight.base_url)["running"] == 1, what="the first request")
        with httpx.Client(timeout=60, headers=keyed) as http:
            busy = http.post(
                f"{tight.base_url}/audio/transcriptions",
                files={"file": ("hello.wav", HELLO.read_bytes())},
                data={"model": MODEL},
            )
        assert busy.status_code == 503
        assert busy.headers["retry-after"] == "7"
        assert busy.json()["error"]["code"] == "server_busy"
    finally:
        release.set()
        thread.join(120)
    assert first["status"] == 200
