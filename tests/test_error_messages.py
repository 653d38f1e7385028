"""What servers really send, read the way a person needs it: faster-whisper-server's nested
error shape, sentences that do not run together, sizes in bytes and MiB, router advice only
from a router, the local engine named as such, and one whitespace rule for ``text``."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest
from conftest import API_KEY, FIXTURES
from internals import Exchange, error_from_response, settle
from pytest_httpx import HTTPXMock

from transcribe_sdk import (
    DEFAULT_BASE_URL,
    AsyncClient,
    BadRequestError,
    Client,
    InternalServerError,
)

MODEL = "whisper-large-v3"
HELLO = FIXTURES / "hello.wav"
URL = "http://127.0.0.1:9/v1"
FASTER_WHISPER = {
    "detail": {
        "error": {
            "message": "Invalid file: audio could not be decoded",
            "type": "invalid_request_error",
            "param": "file",
            "code": "bad_audio",
        }
    }
}


def _error(status: int, body: Any, **kwargs: Any) -> Any:
    return error_from_response(
        status_code=status,
        headers={"content-type": "application/json"},
        content=json.dumps(body).encode(),
        method="POST",
        url=f"{URL}/audio/transcriptions",
        **kwargs,
    )


def test_faster_whisper_servers_nested_error_reads_like_openais() -> None:
    error = _error(400, FASTER_WHISPER)
    assert isinstance(error, BadRequestError)
    assert error.error_type == "invalid_request_error"
    assert error.error_code == "bad_audio"
    assert error.error_param == "file"
    assert "Invalid file: audio could not be decoded (param: file)." in str(error)
    assert "{" not in str(error)


def test_the_servers_text_and_our_hint_are_separate_sentences() -> None:
    error = _error(413, {"error": {"message": "File too large"}}, upload_size=26_214_400)
    assert "File too large. The upload was 26,214,400 bytes (25.0 MiB). Compress" in str(error)


def test_a_message_that_ends_a_sentence_gets_no_second_stop() -> None:
    assert ": Busy! The server failed" in str(_error(503, {"error": {"message": "Busy!"}}))


@pytest.mark.parametrize("status", [400, 500])
def test_router_advice_only_from_a_router(status: int) -> None:
    plain = str(_error(status, {"error": {"message": "no"}}))
    routed = str(_error(status, {"error": {"message": "no"}}, router=True))
    assert "allowed_providers" not in plain
    assert "allowed_providers" in routed


def _settled(client: Client, status: int, headers: dict[str, str] | None = None) -> str:
    call = client._prepare_call(MODEL, None, {})
    response = httpx.Response(status, headers=headers or {}, request=httpx.Request("POST", URL))
    with pytest.raises(BadRequestError) as info:
        settle(call, 1, Exchange(response, b'{"error": {"message": "unsupported"}}'))
    return str(info.value)


def test_the_router_is_known_by_its_url_or_its_headers() -> None:
    with Client(api_key=API_KEY, base_url=DEFAULT_BASE_URL) as router:
        assert "allowed_providers" in _settled(router, 400)
    with Client(api_key=API_KEY, base_url=URL) as other:
        assert "allowed_providers" not in _settled(other, 400)
        assert "allowed_providers" in _settled(other, 400, {"x-litellm-call-id": "abc"})


def test_the_local_engine_is_named_and_gets_no_router_advice() -> None:
    with Client(base_url="local") as client, pytest.raises(BadRequestError) as info:
        client.transcribe(("x.wav", b"RIFF" + b"not audio" * 100), model="tiny.en")
    message = str(info.value)
    assert "from the local engine:" in message
    assert "local.invalid" not in message
    assert "allowed_providers" not in message
    assert "Check the parameters" not in message  # its own words say what is wrong


def test_a_corrupt_file_is_named_as_corrupt() -> None:
    with Client(base_url="local") as client, pytest.raises(BadRequestError) as info:
        client.transcribe(("x.mp3", bytes(range(256)) * 40), model="tiny.en")
    message = str(info.value)
    assert "could not be decoded as audio" in message
    assert "corrupt, cut short, or not a sound or video file" in message
    assert "Errno" not in message
    assert "'None'" not in message


# -- one rule for text: no surrounding whitespace ------------------------------------------------
SPACED = " The quick brown fox. \n"


@pytest.mark.parametrize(
    ("response_format", "answer"),
    [
        ("json", {"json": {"text": SPACED}}),
        ("verbose_json", {"json": {"text": SPACED, "segments": [], "duration": 1.0}}),
        ("text", {"text": SPACED}),
        ("text", {"json": {"text": SPACED}}),
        ("json", {"text": SPACED}),  # a text/plain answer to a JSON request
    ],
)
def test_text_has_no_surrounding_whitespace_in_every_format(
    httpx_mock: HTTPXMock, response_format: str, answer: dict[str, Any]
) -> None:
    httpx_mock.add_response(**answer)
    httpx_mock.add_response(**answer)
    with Client(api_key=API_KEY, base_url=URL, max_retries=0) as client:
        one = client.transcribe(HELLO, model=MODEL, response_format=response_format)
        long = client.transcribe_long(HELLO, model=MODEL, response_format=response_format)
    for result in (one, long):
        text = result if isinstance(result, str) else result.text
        assert text == "The quick brown fox."


@pytest.mark.anyio
@pytest.mark.parametrize("response_format", ["json", "verbose_json", "text"])
async def test_async_text_has_no_surrounding_whitespace(
    httpx_mock: HTTPXMock, response_format: str
) -> None:
    body = {"text": SPACED, "segments": [], "duration": 1.0}
    httpx_mock.add_response(json=body)
    httpx_mock.add_response(json=body)
    async with AsyncClient(api_key=API_KEY, base_url=URL, max_retries=0) as client:
        one = await client.transcribe(HELLO, model=MODEL, response_format=response_format)
        long = await client.transcribe_long(HELLO, model=MODEL, response_format=response_format)
    for result in (one, long):
        text = result if isinstance(result, str) else result.text
        assert text == "The quick brown fox."


def test_subtitles_are_kept_byte_for_byte(httpx_mock: HTTPXMock) -> None:
    srt = "1\n00:00:00,000 --> 00:00:01,000\n The quick\n\n"
    httpx_mock.add_response(text=srt)
    with Client(api_key=API_KEY, base_url=URL) as client:
        assert client.transcribe(HELLO, model=MODEL, response_format="srt") == srt


def test_an_internal_error_from_a_plain_server_says_retry_later() -> None:
    error = _error(502, {"error": {"message": "upstream"}})
    assert isinstance(error, InternalServerError)
    assert str(error).endswith("upstream. The server failed; retry later.")


# -- LiteLLM's words, read right (issue 23) ------------------------------------------------------
LITELLM_UNKNOWN_MODEL = {
    "error": {
        "message": "400: {'error': '/audio/transcriptions: Invalid model name passed in "
        "model=whisper-9. Call `/v1/models` to view available models for your key.'}",
        "type": "None",
        "param": "None",
        "code": "400",
    }
}


def test_litellms_none_strings_read_as_none() -> None:
    error = _error(400, LITELLM_UNKNOWN_MODEL, router=True)
    assert (error.error_type, error.error_param, error.error_code) == (None, None, "400")
    assert "(param: None)" not in str(error)
    assert "None" not in str(error).replace("model=whisper-9", "")


def test_dict_text_in_a_message_is_unwrapped_to_its_words() -> None:
    message = str(_error(400, LITELLM_UNKNOWN_MODEL, router=True))
    assert (
        ": /audio/transcriptions: Invalid model name passed in model=whisper-9. Call "
        "`/v1/models` to view available models for your key."
    ) in message
    assert "{" not in message
    assert "'error'" not in message


def test_an_unknown_model_gets_the_models_advice_only() -> None:
    message = str(_error(400, LITELLM_UNKNOWN_MODEL, router=True))
    assert "GET /v1/models" in message
    assert "file format" not in message
    assert "allowed_providers" not in message
    openai_style = {"error": {"message": "The model `whisper-9` does not exist", "code": None}}
    message = str(_error(404, openai_style, router=True))
    assert "GET /v1/models" in message
    assert "allowed_providers" not in message


@pytest.mark.parametrize(
    ("body", "present", "absent"),
    [
        # a parameter the provider refuses: that parameter, and another provider may help
        (
            {"error": {"message": "timestamp_granularities not supported", "param": "language"}},
            ["Check the language parameter.", "allowed_providers"],
            ["file format"],
        ),
        # the file: nothing about parameters or providers
        (
            {"error": {"message": "could not decode", "param": "file"}},
            ["Check the file"],
            ["allowed_providers", "parameters"],
        ),
        # nothing named: the general advice, as before
        ({"error": {"message": "bad"}}, ["file format", "allowed_providers"], []),
    ],
)
def test_advice_only_where_it_applies(
    body: dict[str, Any], present: list[str], absent: list[str]
) -> None:
    message = str(_error(400, body, router=True))
    for words in present:
        assert words in message
    for words in absent:
        assert words not in message


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("{'error': 'plain words'}", "plain words"),
        ('{"message": "json words"}', "json words"),
        ("Upstream: {'error': {'message': 'nested words'}}", "Upstream: nested words"),
        ("{'error': \"400: {'error': 'twice wrapped'}\"}", "twice wrapped"),
        ("no dict here {", "no dict here {"),
        ("{'x': 1}", "{'x': 1}"),  # no words inside: left as it is
        ("{'error': __import__('os')}", "{'error': __import__('os')}"),  # never evaluated
        ("{" * 5000 + "}" * 5000, "{" * 5000 + "}" * 5000),
        ("{'error': " * 900 + "'x'" + "}" * 900, "{'error': " * 900 + "'x'" + "}" * 900),
    ],
)
def test_unwrapping_is_safe_and_bounded(message: str, expected: str) -> None:
    from internals import unwrap_message

    assert unwrap_message(message) == expected


@pytest.mark.parametrize(
    "message",
    [
        "{'error': None}",  # LiteLLM's style: Python's dict text, None for what it lacks
        "{'error': {'error': None}}",
        "400: {'error': {}}",
        "{'detail': None, 'error': None}",
        "{'error': [None]}",
    ],
)
def test_dict_text_without_words_never_unwraps_forever(message: str) -> None:
    # Each used to read back as its own JSON text, which was unwrapped again with a fresh
    # depth, until Python's recursion limit: a RecursionError instead of the server's error.
    from internals import unwrap_message

    assert isinstance(unwrap_message(message), str)
    body = json.dumps({"error": {"message": message, "type": "None"}}).encode()
    error = error_from_response(
        status_code=400,
        headers={"content-type": "application/json"},
        content=body,
        method="POST",
        url="http://router/v1/audio/transcriptions",
    )
    assert isinstance(error, BadRequestError)
    assert error.error_type is None


@pytest.mark.parametrize("spelled", ["None", "null", "NONE"])
def test_a_message_of_none_reads_as_no_message(spelled: str) -> None:
    fields = {"message": spelled, "type": spelled, "param": spelled, "code": spelled}
    error = error_from_response(
        status_code=400,
        headers={"content-type": "application/json"},
        content=json.dumps({"error": fields}).encode(),
        method="POST",
        url="http://router/v1/audio/transcriptions",
    )
    assert (error.error_type, error.error_code, error.error_param) == (None, None, None)
    assert "(no message)" in str(error)
    assert f": {spelled}." not in str(error)


@pytest.mark.parametrize(
    "page",
    [
        b"<html>" + b"<" * 65536,  # a tag that never ends, from every "<"
        b"<html>" + b"<title>x" * 8192,  # titles that never close
        b"<html>" + b"<h1 " * 16384,
        b"<html>" + b"<script>" * 8192,  # code that never ends
    ],
    ids=["tags", "titles", "headings", "scripts"],
)
def test_an_html_error_page_is_read_in_linear_time(page: bytes) -> None:
    # 64 KiB, the most of an error body read: the patterns that rescanned the rest of the page
    # from each "<" took 10-18 s of CPU per failed attempt here; now milliseconds. The bound is
    # wide on purpose.
    started = time.monotonic()
    error = error_from_response(
        status_code=502,
        headers={"content-type": "text/html"},
        content=page,
        method="POST",
        url="http://proxy/v1/audio/transcriptions",
    )
    assert time.monotonic() - started < 5
    assert str(error).startswith("502 Bad Gateway from POST http://proxy/")


def test_an_html_error_page_still_reads_as_its_words() -> None:
    page = (
        b"<html><head><title>502 Bad Gateway</title><style>p{color:red}</style></head>"
        b"<body><H1 class='x'>Bad <b>Gateway</b></H1><script>var a = '<x>';</script></body>"
    )
    error = error_from_response(
        status_code=502,
        headers={"content-type": "text/html"},
        content=page,
        method="POST",
        url="http://proxy/v1/audio/transcriptions",
    )
    assert ": Bad Gateway." in str(error)
    page = b"<html><body><p>Upstream <i>timed</i> out</p><script>alert(1)</script> late</body>"
    error = error_from_response(
        status_code=504, headers={}, content=page, method="POST", url="http://proxy/v1"
    )
    assert ": Upstream timed out late." in str(error)


def test_a_success_status_carrying_an_error_of_none_says_so() -> None:
    from socket_server import JSON, Answer, ScriptedServer

    from transcribe_sdk import UnexpectedResponseError

    body = json.dumps({"error": {"message": "None", "type": "None"}}).encode()
    with (
        ScriptedServer([Answer(200, JSON, body)]) as server,
        Client(api_key=API_KEY, base_url=server.base_url, max_retries=0) as client,
        pytest.raises(UnexpectedResponseError, match=r"its body is an error: \(no message\)"),
    ):
        client.transcribe(FIXTURES / "hello.wav", model="m")


def test_a_request_id_header_of_100_kb_is_not_repeated_in_the_message() -> None:
    from socket_server import JSON, Answer, ScriptedServer

    headers = (*JSON, ("x-request-id", "r" * 100_000), ("request-id", "req_123"))
    body = json.dumps({"error": {"message": "bad"}}).encode()
    with (
        ScriptedServer([Answer(400, headers, body)]) as server,
        Client(api_key=API_KEY, base_url=server.base_url, max_retries=0) as client,
        pytest.raises(BadRequestError) as caught,
    ):
        client.transcribe(FIXTURES / "hello.wav", model="m")
    assert len(str(caught.value)) < 1000
    assert caught.value.request_id == "req_123"  # the next header that names one
