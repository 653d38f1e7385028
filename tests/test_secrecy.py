"""The API key never leaks: not in a log record (DEBUG on, every logger), not in a repr, not in
an error (its message, args, attributes, pickled form, or the chain of causes it carries).

A full run of requests -- successes in each format, each error status, retries after a 503 and
after a reset, an unexpected body, a timeout, a refused connection, and bad input -- goes through
real sockets to the scripted server (socket_server.py), so httpx's and httpcore's own DEBUG records
are in the capture too.
"""

from __future__ import annotations

import logging
import pickle
import traceback
from typing import Any

import anyio
import httpx
import pytest
from conftest import API_KEY, FIXTURES
from internals import record_sleeps
from socket_server import (
    JSON,
    Action,
    Answer,
    Reset,
    ScriptedServer,
    Stall,
    json_reply,
    refused_port,
)

from transcribe_sdk import (
    APIConnectionError,
    APITimeoutError,
    AsyncClient,
    Client,
    InvalidInputError,
    MissingAPIKeyError,
    TranscribeError,
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
KINDS = ["sync", "async"]
FRAGMENTS = (API_KEY, API_KEY[:16], API_KEY[-16:])
"""The key, and long enough pieces of it that a partial leak is caught as well."""

OK = json_reply({"text": "hello world", "language": "en"}, headers=[("x-request-id", "r-1")])
VERBOSE = json_reply({"text": "hello world", "duration": 1.5, "segments": []})
TEXT = Answer(200, [("Content-Type", "text/plain; charset=utf-8")], b"hello world")


def _error(status: int) -> Answer:
    return json_reply(
        {"error": {"message": f"failed with {status}", "type": "x", "code": str(status)}},
        status,
        [("x-request-id", f"req-{status}")],
    )


FINAL_STATUSES = [400, 401, 403, 404, 413, 415, 422]
RETRIED_STATUSES = [408, 409, 429, 500, 502, 503, 504]

# One request per entry, in order: (the server's actions for it, the call's options).
RUN: list[tuple[list[Action], dict[str, Any]]] = [
    ([OK], {}),
    ([VERBOSE], {"response_format": "verbose_json"}),
    ([TEXT], {"response_format": "text"}),
    *[([_error(status)], {}) for status in FINAL_STATUSES],
    *[([_error(status)], {"max_retries": 0}) for status in RETRIED_STATUSES],
    ([_error(503), OK], {}),  # retried after a status
    ([Reset(), OK], {}),  # retried after a reset
    ([Reset(after_bytes=1000), OK], {}),  # retried after a reset mid-upload
    ([Answer(200, JSON, b"{not json")], {}),  # unexpected body
    ([Stall(5)], {"max_retries": 0, "timeout": 0.3}),  # timeout
]


@pytest.fixture(autouse=True)
def _free_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    record_sleeps(monkeypatch)


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Every log record of every logger, from DEBUG up."""
    caplog.set_level(logging.DEBUG)
    return caplog


def leaks(text: object) -> list[str]:
    """The key fragments found in ``text`` (its str, or its bytes for bytes)."""
    if isinstance(text, bytes):
        return [f for f in FRAGMENTS if f.encode() in text]
    shown = str(text)
    return [f for f in FRAGMENTS if f in shown]


def error_texts(error: BaseException) -> list[object]:
    """Every way an error can be shown, stored or passed on."""
    return [
        str(error),
        repr(error),
        error.args,
        repr(vars(error)),
        "".join(traceback.format_exception(error)),  # the whole __cause__/__context__ chain
        pickle.dumps(error),
    ]


def record_texts(record: logging.LogRecord) -> list[object]:
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    return [
        record.getMessage(),
        record.msg,
        repr(record.args),
        formatter.format(record),  # with the traceback, if the record has one
    ]


def run_all(kind: str, base_url: str) -> list[Any]:
    """Send every request of :data:`RUN` through one client; the results and errors, in order."""
    outcomes: list[Any] = []

    def one(send: Any, options: dict[str, Any]) -> None:
        try:
            outcomes.append(send(AUDIO, model=MODEL, **options))
        except TranscribeError as exc:
            outcomes.append(exc)

    if kind == "sync":
        with Client(api_key=API_KEY, base_url=base_url, timeout=5) as client:
            outcomes.append(client)
            for _actions, options in RUN:
                one(client.with_raw_response.transcribe, options)
        return outcomes

    async def main() -> None:
        async with AsyncClient(api_key=API_KEY, base_url=base_url, timeout=5) as client:
            outcomes.append(client)
            for _actions, options in RUN:
                try:
                    outcomes.append(
                        await client.with_raw_response.transcribe(AUDIO, model=MODEL, **options)
                    )
                except TranscribeError as exc:
                    outcomes.append(exc)

    anyio.run(main)
    return outcomes


@pytest.mark.parametrize("kind", KINDS)
def test_a_full_run_leaks_the_key_nowhere(kind: str, debug_logs: pytest.LogCaptureFixture) -> None:
    script = [action for actions, _ in RUN for action in actions]
    with ScriptedServer(script) as server:
        outcomes = run_all(kind, server.base_url)
        assert server.wait_until_idle()
        assert len(server.attempts) == len(script)
        # The key did go out, where it belongs: in the Authorization header of each request.
        assert all(a.header("authorization") == f"Bearer {API_KEY}" for a in server.attempts)

    client, results = outcomes[0], outcomes[1:]
    errors = [r for r in results if isinstance(r, TranscribeError)]
    successes = [r for r in results if not isinstance(r, TranscribeError)]
    assert len(successes) == 3 + 3  # three formats, three retried to success
    assert len(errors) == len(FINAL_STATUSES) + len(RETRIED_STATUSES) + 2
    assert any(isinstance(e, APITimeoutError) for e in errors)

    found: list[tuple[str, list[str]]] = []
    for error in errors:
        found += [(f"{type(error).__name__}", leaks(t)) for t in error_texts(error)]
    for raw in successes:
        shown = [repr(raw), repr(raw.parsed), repr(raw.http_response), repr(raw.headers)]
        shown += [repr(raw.http_response.request), repr(raw.http_response.request.headers)]
        found += [("result", leaks(t)) for t in shown]
    found += [("client", leaks(t)) for t in (repr(client), str(client), repr(vars(client)))]

    records = debug_logs.records
    assert any(r.name == "transcribe_sdk" and r.levelno == logging.DEBUG for r in records)
    assert any(r.name == "transcribe_sdk" and r.levelno == logging.INFO for r in records)
    assert any(r.name.startswith("httpcore") for r in records)  # the transport's own debug
    for record in records:
        found += [(f"log {record.name}", leaks(t)) for t in record_texts(record)]
    assert [where for where, hits in found if hits] == []


@pytest.mark.parametrize("kind", KINDS)
def test_a_refused_connection_leaks_nothing(
    kind: str, debug_logs: pytest.LogCaptureFixture
) -> None:
    url = f"http://127.0.0.1:{refused_port()}/v1"

    def send() -> None:
        if kind == "sync":
            with Client(api_key=API_KEY, base_url=url) as client:
                client.transcribe(AUDIO, model=MODEL)
            return

        async def main() -> None:
            async with AsyncClient(api_key=API_KEY, base_url=url) as client:
                await client.transcribe(AUDIO, model=MODEL)

        anyio.run(main)

    with pytest.raises(APIConnectionError) as info:
        send()
    assert info.value.attempts == 3
    texts = error_texts(info.value)
    texts += [t for r in debug_logs.records for t in record_texts(r)]
    assert [t for t in texts if leaks(t)] == []


@pytest.mark.parametrize(
    "options",
    [
        {"language": "english"},
        {"temperature": 3},
        {"extra_headers": {"Authorization": f"Bearer {API_KEY}\r\n"}},
        {"extra_body": {"api_key": object()}},
        {"timeout": -1},
    ],
    ids=["language", "temperature", "header-with-key", "extra-body", "timeout"],
)
def test_bad_input_errors_leak_nothing(
    options: dict[str, Any], debug_logs: pytest.LogCaptureFixture
) -> None:
    with Client(api_key=API_KEY, base_url="http://127.0.0.1:9/v1") as client:
        with pytest.raises(InvalidInputError) as info:
            client.transcribe(AUDIO, model=MODEL, **options)
        assert not leaks(repr(client))
    texts = error_texts(info.value) + [t for r in debug_logs.records for t in record_texts(r)]
    assert [t for t in texts if leaks(t)] == []


def test_a_bad_key_is_refused_without_being_shown() -> None:
    bad = API_KEY + "\n"
    with pytest.raises(InvalidInputError) as info:
        Client(api_key=bad, base_url="http://127.0.0.1:9/v1")
    assert info.value.param == "api_key"
    assert [t for t in error_texts(info.value) if leaks(t)] == []


def test_the_client_cannot_be_pickled_with_its_key() -> None:
    with Client(api_key=API_KEY, base_url="http://127.0.0.1:9/v1") as client:
        with pytest.raises(TypeError):
            pickle.dumps(client)
        assert API_KEY not in repr(client)


def test_missing_key_error_names_the_variable_not_a_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("TRANSCRIBE_API_KEY", raising=False)
    with pytest.raises(MissingAPIKeyError, match="TRANSCRIBE_API_KEY"):
        Client(base_url="http://127.0.0.1:9/v1")


def test_request_headers_repr_hides_the_key() -> None:
    # What a user may print from a raw response: httpx masks Authorization in the repr.
    request = httpx.Request("POST", "http://x/", headers={"Authorization": f"Bearer {API_KEY}"})
    assert not leaks(repr(request.headers))
