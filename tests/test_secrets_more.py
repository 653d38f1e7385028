"""Secrets under hostile input: a key that cannot be sent, a password in ``base_url``, a server
that echoes the ``Authorization`` header. None of them may show the secret in a message, a
repr, a pickled error, a traceback or a log line (sync and async)."""

from __future__ import annotations

import base64
import logging
import pickle
import traceback
from typing import Any

import anyio
import pytest
from conftest import FIXTURES
from socket_server import JSON, Answer, Recorded, Respond, ScriptedServer, json_reply

from transcribe_sdk import (
    ENV_API_KEY,
    AsyncClient,
    AuthenticationError,
    Client,
    InvalidInputError,
    TranscribeError,
    UnexpectedResponseError,
)

MODEL = "whisper-large-v3"
HELLO = FIXTURES / "hello.wav"
SECRET = "sk-live-SECRETPART-0123456789"
PASSWORD = "pw-SECRETPART-9876"


def everything_shown(error: BaseException) -> str:
    """Every way an error reaches a person or a log: str, repr, traceback, pickle, attributes."""
    shown = [str(error), repr(error), "".join(traceback.format_exception(error))]
    shown.append(repr(pickle.loads(pickle.dumps(error)).__dict__))
    shown.append(repr(pickle.dumps(error)))
    shown.append(repr(vars(error)))
    return "\n".join(shown)


# -- a key that cannot be a header value ----------------------------------------------------------
UNSENDABLE = ["\0", "\v", "\f", "\x7f", "\x1b", "é", "\u2028"]


@pytest.mark.parametrize("bad", UNSENDABLE, ids=[repr(c) for c in UNSENDABLE])
@pytest.mark.parametrize("kind", [Client, AsyncClient])
def test_an_unsendable_key_is_refused_without_being_shown(kind: Any, bad: str) -> None:
    key = SECRET[:10] + bad + SECRET[10:]
    with pytest.raises(InvalidInputError) as info:
        kind(api_key=key, base_url="http://127.0.0.1:9/v1")
    assert info.value.param == "api_key"
    assert "SECRETPART" not in everything_shown(info.value)
    assert "cannot be sent" in str(info.value)


def test_an_unsendable_key_from_the_environment_is_refused_too(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(ENV_API_KEY, SECRET + "\f")
    with pytest.raises(InvalidInputError) as info:
        Client(base_url="http://127.0.0.1:9/v1")
    assert "SECRETPART" not in everything_shown(info.value)


# -- a password in base_url ------------------------------------------------------------------------
def test_a_url_password_is_sent_as_basic_auth_and_never_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    with ScriptedServer([json_reply({"text": "ok"}), json_reply({"error": "no"}, 400)]) as server:
        url = server.base_url.replace("http://", f"http://user:{PASSWORD}@")
        with Client(api_key="", base_url=url, max_retries=0) as client:
            assert client.transcribe(HELLO, model=MODEL).text == "ok"
            with pytest.raises(TranscribeError) as info:
                client.transcribe(HELLO, model=MODEL)
            assert PASSWORD not in repr(client) + repr(vars(client))
    expected = base64.b64encode(f"user:{PASSWORD}".encode()).decode()
    assert server.attempts[0].header("authorization") == f"Basic {expected}"
    shown = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("HTTP Request: POST http://127.0.0.1:") for m in shown), shown
    assert PASSWORD not in "\n".join(r.getMessage() for r in caplog.records)
    assert PASSWORD not in everything_shown(info.value)


def test_with_a_key_the_url_password_is_dropped_from_the_url(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    with ScriptedServer([json_reply({"text": "ok"})]) as server:
        url = server.base_url.replace("http://", f"http://user:{PASSWORD}@")
        with Client(api_key=SECRET, base_url=url) as client:
            client.transcribe(HELLO, model=MODEL)
    assert server.attempts[0].header("authorization") == f"Bearer {SECRET}"
    assert PASSWORD not in "\n".join(r.getMessage() for r in caplog.records)


@pytest.mark.anyio
async def test_async_a_url_password_is_never_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with ScriptedServer([json_reply({"text": "ok"})]) as server:
        url = server.base_url.replace("http://", f"http://user:{PASSWORD}@")
        async with AsyncClient(api_key="", base_url=url) as client:
            await client.transcribe(HELLO, model=MODEL)
    assert (
        server.attempts[0]
        .header(
            "authorization",
        )
        .startswith("Basic ")
    )  # type: ignore[union-attr]
    assert PASSWORD not in "\n".join(r.getMessage() for r in caplog.records)


# -- a server that echoes the key ------------------------------------------------------------------
def _echo(status: int) -> Respond:
    def make(attempt: Recorded) -> Answer:
        auth = attempt.header("authorization") or ""
        return json_reply(
            {"error": {"message": f"invalid header {auth!r}", "param": auth, "type": auth}},
            status,
            headers=(("X-Echo", auth),),
        )

    return Respond(make)


def _echo_text_200() -> Respond:
    def make(attempt: Recorded) -> Answer:
        return Answer(200, JSON, f"not json {attempt.header('authorization')}".encode())

    return Respond(make)


@pytest.mark.parametrize(
    ("action", "error_type"),
    [(_echo(401), AuthenticationError), (_echo_text_200(), UnexpectedResponseError)],
    ids=["401-echo", "200-echo"],
)
def test_a_key_echoed_by_the_server_is_scrubbed(
    action: Respond, error_type: type[TranscribeError], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with (
        ScriptedServer([action]) as server,
        Client(api_key=SECRET, base_url=server.base_url, max_retries=0) as client,
        pytest.raises(error_type) as info,
    ):
        client.transcribe(HELLO, model=MODEL)
    assert SECRET not in everything_shown(info.value)
    assert "[redacted]" in str(info.value) + repr(info.value.__dict__)
    # Our log lines (httpcore's own DEBUG trace prints response headers as the server sent them).
    ours = [
        r.getMessage() for r in caplog.records if r.name.startswith(("transcribe_sdk", "httpx"))
    ]
    assert SECRET not in "\n".join(ours)


@pytest.mark.anyio
async def test_async_a_key_echoed_by_the_server_is_scrubbed() -> None:
    with ScriptedServer([_echo(503)], then=_echo(401)) as server:
        async with AsyncClient(api_key=SECRET, base_url=server.base_url) as client:
            with anyio.fail_after(30), pytest.raises(AuthenticationError) as info:
                await client.transcribe(HELLO, model=MODEL)
    assert SECRET not in everything_shown(info.value)
    assert info.value.error_param == "Bearer [redacted]"


@pytest.mark.parametrize(
    "url", [f"https://user:{PASSWORD}@host:port/v1", f"ftp://user:{PASSWORD}@host/v1"]
)
def test_a_bad_url_with_a_password_is_refused_without_showing_it(url: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        Client(api_key=SECRET, base_url=url)
    assert info.value.param == "base_url"
    assert "SECRETPART" not in everything_shown(info.value)
