"""An upload the server cuts short: its early answer is reported once, never sent again.

A server refusing a large upload answers (``413``) as soon as it has the headers and closes the
connection without reading the body, while the client is still writing it. With ``Client`` and
``AsyncClient``, over plain ``http://`` and over TLS (a ``trustme`` CA, trusted the way httpx's
own clients trust one: ``SSL_CERT_FILE``), the answer is reported from the one request the
server saw. An answer that breaks off (the server closed before all of it was out) still stops
the upload for good (:class:`UploadInterruptedError`); an upload cut off with no answer at all is
left to the retry policy. Servers are real sockets on 127.0.0.1 (tests/socket_server.py); every wait
is bounded.
"""

from __future__ import annotations

import gc
import json
import os
import ssl
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import pytest
from conftest import API_KEY
from internals import AttemptTrace, answered_mid_upload
from socket_server import Answer, ScriptedServer, json_reply

from transcribe_sdk import (
    APIConnectionError,
    AsyncClient,
    Client,
    FileTooLargeError,
    UploadInterruptedError,
)

pytestmark = pytest.mark.network

MODEL = "whisper-large-v3"
MiB = 1024 * 1024
WAIT = 20.0
"""Seconds any one call may take before the test fails instead of hanging."""
TOO_LARGE = {"error": {"message": "file too large", "type": "invalid_request_error"}}
BODY = json.dumps(TOO_LARGE).encode()
EARLY_413 = json_reply(TOO_LARGE, 413)
CUT_413 = Answer(413, (("Content-Type", "application/json"),), BODY, length=len(BODY) + 1000)
"""A 413 whose body breaks off: the server closes 1000 bytes short of what it declared."""
NO_ANSWER = Answer(drop=True)


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("upload") / "big.wav"
    path.write_bytes(b"RIFF" + b"\0" * (24 * MiB))
    return path


def _open_descriptors() -> dict[str, str]:
    found = {}
    for fd in os.listdir("/proc/self/fd"):
        try:
            found[fd] = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue  # the listing's own descriptor, closed already
    return found


@pytest.fixture(autouse=True)
def no_descriptor_left() -> Iterator[None]:
    """The spare descriptors kept for reading an early answer are closed with the client."""
    before = _open_descriptors()
    yield
    gc.collect()
    left = {fd: to for fd, to in _open_descriptors().items() if before.get(fd) != to}
    assert not any("socket" in to for to in left.values()), left


# -- the early answer is reported, from one request -----------------------------------------------
def test_an_early_413_is_reported_once(tls: ssl.SSLContext | None, big_file: Path) -> None:
    with (
        ScriptedServer(lambda r: EARLY_413, read_body=False, tls=tls) as server,
        Client(api_key=API_KEY, base_url=server.base_url, max_retries=2) as client,
        pytest.raises(FileTooLargeError, match="file too large") as info,
    ):
        client.transcribe(big_file, model=MODEL, timeout=WAIT)
    assert info.value.status_code == 413
    assert info.value.attempts == 1
    assert len(server.requests) == 1


@pytest.mark.anyio
async def test_async_an_early_413_is_reported_once(
    tls: ssl.SSLContext | None, big_file: Path
) -> None:
    with ScriptedServer(lambda r: EARLY_413, read_body=False, tls=tls) as server:
        async with AsyncClient(api_key=API_KEY, base_url=server.base_url, max_retries=2) as client:
            with anyio.fail_after(WAIT), pytest.raises(FileTooLargeError) as info:
                await client.transcribe(big_file, model=MODEL)
    assert "file too large" in str(info.value)
    assert info.value.status_code == 413
    assert info.value.attempts == 1
    assert len(server.requests) == 1


# -- an answer that breaks off still ends the upload for good -------------------------------------
def _check_cut_off(error: UploadInterruptedError, server: ScriptedServer) -> None:
    assert error.status_code == 413
    assert error.attempts == 1
    assert "answered 413 while the upload of 25,165,828 bytes was still going" in str(error)
    assert "not sent again" in str(error)
    assert len(server.requests) == 1


def test_an_answer_cut_short_mid_upload_is_not_sent_again(
    tls: ssl.SSLContext | None, big_file: Path
) -> None:
    with (
        ScriptedServer(lambda r: CUT_413, read_body=False, tls=tls) as server,
        Client(api_key=API_KEY, base_url=server.base_url, max_retries=2) as client,
        pytest.raises(UploadInterruptedError) as info,
    ):
        client.transcribe(big_file, model=MODEL, timeout=WAIT)
    _check_cut_off(info.value, server)


@pytest.mark.anyio
async def test_async_an_answer_cut_short_mid_upload_is_not_sent_again(
    tls: ssl.SSLContext | None, big_file: Path
) -> None:
    with ScriptedServer(lambda r: CUT_413, read_body=False, tls=tls) as server:
        async with AsyncClient(api_key=API_KEY, base_url=server.base_url, max_retries=2) as client:
            with anyio.fail_after(WAIT), pytest.raises(UploadInterruptedError) as info:
                await client.transcribe(big_file, model=MODEL)
    _check_cut_off(info.value, server)


# -- no answer at all: a reset, a restart; the retry policy decides --------------------------------
def test_an_upload_cut_off_without_an_answer_is_retried(
    tls: ssl.SSLContext | None, big_file: Path
) -> None:
    with (
        ScriptedServer(lambda r: NO_ANSWER, read_body=False, tls=tls) as server,
        Client(api_key=API_KEY, base_url=server.base_url, max_retries=1) as client,
        pytest.raises(APIConnectionError) as info,
    ):
        client.transcribe(big_file, model=MODEL, timeout=WAIT)
    assert not isinstance(info.value, UploadInterruptedError)
    assert info.value.attempts == 2
    assert len(server.requests) == 2


@pytest.mark.anyio
async def test_async_an_upload_cut_off_without_an_answer_is_retried(
    tls: ssl.SSLContext | None, big_file: Path
) -> None:
    with ScriptedServer(lambda r: NO_ANSWER, read_body=False, tls=tls) as server:
        async with AsyncClient(api_key=API_KEY, base_url=server.base_url, max_retries=1) as client:
            with anyio.fail_after(WAIT), pytest.raises(APIConnectionError) as info:
                await client.transcribe(big_file, model=MODEL)
    assert not isinstance(info.value, UploadInterruptedError)
    assert info.value.attempts == 2
    assert len(server.requests) == 2


# -- the rule itself, on what an attempt recorded --------------------------------------------------
_BODY_FAILED = "http11.send_request_body.failed"
_SHORT_BODY = httpx.RemoteProtocolError("peer closed connection without sending complete body")


def _trace(
    *events: str, status: int | None = None, answer_bytes: int | None = None
) -> AttemptTrace:
    """A trace of httpcore's events; ``answer_bytes``: what our transport counted (``None``:
    the request went through another transport, which counts nothing)."""
    trace = AttemptTrace()
    for event in events:
        trace.record(event, {})
    if status is not None:
        head = (b"HTTP/1.1", status, b"", [], b"")
        trace.record("http11.receive_response_headers.complete", {"return_value": head})
    if answer_bytes is not None:
        trace.wire.carried = True
        trace.wire.answer_bytes = answer_bytes
    return trace


def test_the_trace_keeps_the_status_of_an_answer_whose_head_arrived() -> None:
    trace = _trace("connection.connect_tcp.started", status=413, answer_bytes=120)
    assert trace.status == 413
    assert "connection.connect_tcp.started" in trace.events
    assert trace.answer_began
    trace.clear()
    assert trace.status is None
    assert not trace.events
    assert trace.wire.answer_bytes == 0


@pytest.mark.parametrize(
    ("trace", "exc", "final"),
    [
        (_trace(_BODY_FAILED, status=413), httpx.ReadError("reset"), True),
        (_trace(_BODY_FAILED, answer_bytes=12), _SHORT_BODY, True),  # part of an answer came
        (_trace(_BODY_FAILED, answer_bytes=0), _SHORT_BODY, False),  # cut off without an answer
        (_trace(_BODY_FAILED), _SHORT_BODY, False),  # another transport: no answer known
        (_trace(_BODY_FAILED, answer_bytes=0), httpx.ReadError("reset"), False),
        (_trace(status=502, answer_bytes=200), httpx.ReadError("reset"), False),  # whole upload
        (_trace(status=502), _SHORT_BODY, False),
    ],
    ids=[
        "head-then-reset",
        "part-of-an-answer",
        "no-answer",
        "no-answer-known",
        "reset",
        "whole-upload",
        "short",
    ],
)
def test_only_an_upload_cut_off_by_an_answer_is_final(
    trace: AttemptTrace, exc: httpx.RequestError, final: bool
) -> None:
    assert answered_mid_upload(exc, trace) is final
