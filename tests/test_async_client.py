"""``AsyncClient`` against a mocked server (pytest-httpx): the same contract as ``Client``.

``test_client.py`` covers each rule in depth; here every rule is checked again through the async
shell, plus what only it has: async byte iterators and async readers as files.
"""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import httpx
import pytest
from _answers import (
    GROQ_VERBOSE,
    HELLO,
    MISTRAL_VERBOSE,
    MODEL,
    NGINX_502,
    OPENAI_VERBOSE,
    ROUTER_JSON,
    VLLM_VERBOSE,
)
from _wire import assert_transcription_request, file_part, form_fields
from conftest import API_KEY, BASE_URL
from internals import record_sleeps
from pytest_httpx import HTTPXMock

from transcribe_sdk import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AsyncClient,
    AuthenticationError,
    BadRequestError,
    Client,
    ConflictError,
    FileTooLargeError,
    InternalServerError,
    InvalidFileError,
    InvalidInputError,
    LanguageMismatchWarning,
    MissingAPIKeyError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RawResponse,
    TranscribeError,
    Transcription,
    UnexpectedResponseError,
    UnprocessableEntityError,
    UnsupportedMediaTypeError,
    VerboseTranscription,
)

pytestmark = pytest.mark.anyio

URL = f"{BASE_URL}/audio/transcriptions"


@pytest.fixture(scope="module")
def http_client() -> Iterator[httpx.AsyncClient]:
    # Shared by most tests, as in test_client.py. pytest-httpx replaces the transport's send,
    # so no connection (and nothing bound to one test's event loop) is ever opened.
    http_client = httpx.AsyncClient()
    yield http_client
    anyio.run(http_client.aclose)


@pytest.fixture
async def client(http_client: httpx.AsyncClient) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(
        api_key=API_KEY, base_url=BASE_URL, max_retries=0, http_client=http_client
    ) as client:
        yield client


def make_client(http_client: httpx.AsyncClient, **kwargs: Any) -> AsyncClient:
    return AsyncClient(api_key=API_KEY, base_url=BASE_URL, http_client=http_client, **kwargs)


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record the client's waits between retries instead of waiting."""
    return record_sleeps(monkeypatch)


async def chunks_of(data: bytes, size: int = 10_000) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        await anyio.lowlevel.checkpoint()  # not anyio.sleep: the retry tests replace it
        yield data[start : start + size]


class AsyncReadable:
    """An object with ``async def read`` and a ``name``, like an aiofiles handle."""

    def __init__(self, data: bytes, name: str) -> None:
        self._data = data
        self._position = 0
        self.name = name

    async def read(self, size: int = -1, /) -> bytes:
        end = len(self._data) if size < 0 else self._position + size
        chunk = self._data[self._position : end]
        self._position += len(chunk)
        return chunk


# -- the request on the wire ----------------------------------------------------------------


async def test_minimal_request(client: AsyncClient, httpx_mock: HTTPXMock, hello_wav: Path) -> None:
    httpx_mock.add_response(json={"text": HELLO})
    result = await client.transcribe(hello_wav, model=MODEL)
    assert_transcription_request(
        httpx_mock.get_request(),
        url=URL,
        api_key=API_KEY,
        fields=[("model", MODEL)],
        filename="hello.wav",
        content_type="audio/wav",
        data=hello_wav.read_bytes(),
    )
    assert result == Transcription(text=HELLO)


async def transcribe_every_parameter(client: AsyncClient, path: Path) -> None:
    await client.transcribe(
        str(path),
        model=MODEL,
        language="fr",
        prompt="Bonjour",
        temperature=1e-05,
        preference="cost",
        allowed_providers=("scaleway",),
        eu_native=False,
        allow_quantization=True,
        allow_zero_data_retention=False,
        enable_model_fallback=True,
        timestamp_granularities="word",
        extra_body={"diarize": False, "options": {"vad": True}, "tags": ["a", "b"], "x": None},
        extra_headers={"X-Trace": "t1"},
        timeout=45,
    )


async def test_every_parameter_is_sent_in_order(
    client: AsyncClient, httpx_mock: HTTPXMock, fixtures_dir: Path
) -> None:
    httpx_mock.add_response(json=OPENAI_VERBOSE)
    path = fixtures_dir / "hello.mp3"
    with pytest.warns(LanguageMismatchWarning):  # asked "fr", answered "english"
        await transcribe_every_parameter(client, path)
    request = httpx_mock.get_request()
    assert_transcription_request(
        request,
        url=URL,
        api_key=API_KEY,
        fields=[
            ("model", MODEL),
            ("language", "fr"),
            ("prompt", "Bonjour"),
            ("timestamp_granularities[]", "word"),
            ("response_format", "verbose_json"),
            ("temperature", "0.00001"),
            ("preference", "cost"),
            ("allowed_providers[]", "scaleway"),
            ("eu_native", "false"),
            ("allow_quantization", "true"),
            ("allow_zero_data_retention", "false"),
            ("enable_model_fallback", "true"),
            ("diarize", "false"),
            ("options[vad]", "true"),
            ("tags[]", "a"),
            ("tags[]", "b"),
        ],
        filename="hello.mp3",
        content_type="audio/mpeg",
        data=path.read_bytes(),
    )
    assert request.headers["x-trace"] == "t1"
    assert request.extensions["timeout"] == httpx.Timeout(45).as_dict()


@pytest.mark.parametrize(
    ("make_input", "filename"),
    [
        pytest.param(lambda data: data, "audio.wav", id="bytes"),
        pytest.param(lambda data: ("talk.wav", data), "talk.wav", id="tuple"),
        pytest.param(lambda data: ("talk.wav", memoryview(data)), "talk.wav", id="memoryview"),
    ],
)
async def test_in_memory_inputs(
    client: AsyncClient, httpx_mock: HTTPXMock, hello_wav: Path, make_input: Any, filename: str
) -> None:
    httpx_mock.add_response(json={})
    data = hello_wav.read_bytes()
    await client.transcribe(make_input(data), model=MODEL)
    assert_transcription_request(
        httpx_mock.get_request(),
        url=URL,
        api_key=API_KEY,
        fields=[("model", MODEL)],
        filename=filename,
        content_type="audio/wav",
        data=data,
    )


async def test_a_sync_file_handle(
    client: AsyncClient, httpx_mock: HTTPXMock, fixtures_dir: Path
) -> None:
    httpx_mock.add_response(json={})
    path = fixtures_dir / "hello.flac"
    with path.open("rb") as handle:
        await client.transcribe(handle, model=MODEL)
        assert not handle.closed
    part = file_part(httpx_mock.get_request())
    assert (part.filename, part.content_type, part.data) == (
        "hello.flac",
        "audio/flac",
        path.read_bytes(),
    )


@pytest.mark.parametrize(
    ("make_source", "filename"),
    [
        pytest.param(chunks_of, "audio.wav", id="async-iterator"),
        pytest.param(lambda data: AsyncReadable(data, "/tmp/rec.wav"), "rec.wav", id="reader"),
        pytest.param(lambda data: ("meeting", chunks_of(data)), "meeting.wav", id="tuple"),
    ],
)
async def test_an_async_source_is_sent_chunked_without_retries(
    client: AsyncClient, httpx_mock: HTTPXMock, hello_wav: Path, make_source: Any, filename: str
) -> None:
    httpx_mock.add_response(json={})
    data = hello_wav.read_bytes()
    await client.transcribe(make_source(data), model=MODEL)
    assert_transcription_request(
        httpx_mock.get_request(),
        url=URL,
        api_key=API_KEY,
        fields=[("model", MODEL)],
        filename=filename,
        content_type="audio/wav",
        data=data,
        chunked=True,
    )


async def test_an_anyio_file_is_an_async_source(
    client: AsyncClient, httpx_mock: HTTPXMock, fixtures_dir: Path
) -> None:
    httpx_mock.add_response(json={})
    path = fixtures_dir / "hello.ogg"
    async with await anyio.open_file(path, "rb") as handle:
        await client.transcribe(handle, model=MODEL)
    request = httpx_mock.get_request()
    part = file_part(request)
    assert (part.filename, part.content_type, part.data) == (
        "hello.ogg",
        "audio/ogg",
        path.read_bytes(),
    )
    assert request.headers["transfer-encoding"] == "chunked"


async def test_an_async_source_is_copied_while_sent_when_retries_are_on(
    http_client: httpx.AsyncClient, httpx_mock: HTTPXMock, hello_wav: Path
) -> None:
    httpx_mock.add_response(json={})
    data = hello_wav.read_bytes()
    async with make_client(http_client, max_retries=2) as client:
        await client.transcribe(chunks_of(data), model=MODEL)
    assert_transcription_request(
        httpx_mock.get_request(),
        url=URL,
        api_key=API_KEY,
        fields=[("model", MODEL)],
        filename="audio.wav",
        content_type="audio/wav",
        data=data,
        chunked=True,  # sent as it is copied, before its length is known
    )


async def test_the_sync_client_refuses_an_async_source(httpx_mock: HTTPXMock) -> None:
    with (
        Client(api_key=API_KEY, base_url=BASE_URL) as client,
        pytest.raises(InvalidFileError, match="AsyncClient"),
    ):
        client.transcribe(chunks_of(b"RIFF"), model=MODEL)  # type: ignore[arg-type]
    assert httpx_mock.get_requests() == []


# -- results per response_format ------------------------------------------------------------


PLAIN = {"content-type": "text/plain"}
SRT = "1\n00:00:00,000 --> 00:00:01,000\nHi\n"


@pytest.mark.parametrize(
    ("response_format", "answer", "expected"),
    [
        (None, {"json": ROUTER_JSON}, Transcription.model_validate(ROUTER_JSON)),
        ("json", {"json": {}}, Transcription()),
        ("json", {"text": "plain", "headers": PLAIN}, Transcription(text="plain")),
        ("verbose_json", {"json": OPENAI_VERBOSE}, VerboseTranscription(**OPENAI_VERBOSE)),
        ("text", {"text": "42", "headers": PLAIN}, "42"),
        ("text", {"json": {"text": HELLO}}, HELLO),
        ("srt", {"text": SRT}, SRT),
        ("vtt", {"text": "WEBVTT\n", "headers": {"content-type": "text/vtt"}}, "WEBVTT\n"),
    ],
)
async def test_the_result_type_follows_the_format(
    client: AsyncClient,
    httpx_mock: HTTPXMock,
    hello_wav: Path,
    *,
    response_format: str | None,
    answer: dict[str, Any],
    expected: Any,
) -> None:
    httpx_mock.add_response(**answer)
    result = await client.transcribe(hello_wav, model=MODEL, response_format=response_format)
    assert type(result) is type(expected)
    assert result == expected


async def test_server_variants_of_verbose_json(
    client: AsyncClient, httpx_mock: HTTPXMock, hello_wav: Path
) -> None:
    for answer in (VLLM_VERBOSE, GROQ_VERBOSE, MISTRAL_VERBOSE):
        httpx_mock.add_response(json=answer)
    vllm, groq, mistral = [
        await client.transcribe(hello_wav, model=MODEL, response_format="verbose_json")
        for _ in range(3)
    ]
    assert vllm.duration == 5.0
    assert groq.model_extra is not None
    assert groq.model_extra["x_groq"]["id"] == "req_01jbd6g2qdfw2adyrt2az8hz4w"
    assert mistral.language is None
    assert mistral.segments is not None
    assert mistral.segments[0].model_extra == {"type": "transcription_segment", "speaker_id": None}


async def test_with_raw_response(
    client: AsyncClient, httpx_mock: HTTPXMock, hello_wav: Path
) -> None:
    httpx_mock.add_response(json=ROUTER_JSON, headers={"x-request-id": "req_async_raw"})
    raw = await client.with_raw_response.transcribe(hello_wav, model=MODEL)
    assert isinstance(raw, RawResponse)
    assert type(raw.parsed) is Transcription
    assert raw.parsed.provider == "ovh"
    assert isinstance(raw.http_response, httpx.Response)
    assert raw.request_id == "req_async_raw"
    assert raw.status_code == 200
    assert raw.attempts == 1


# -- configuration --------------------------------------------------------------------------


async def test_key_and_base_url_from_the_environment(
    http_client: httpx.AsyncClient,
    httpx_mock: HTTPXMock,
    monkeypatch: pytest.MonkeyPatch,
    hello_wav: Path,
) -> None:
    monkeypatch.setenv("TRANSCRIBE_API_KEY", "sk-async-env-0123456789")
    monkeypatch.setenv("TRANSCRIBE_BASE_URL", "http://localhost:8000/v1/")
    httpx_mock.add_response(url="http://localhost:8000/v1/audio/transcriptions", json={})
    async with AsyncClient(http_client=http_client) as client:
        await client.transcribe(hello_wav, model=MODEL)
    assert httpx_mock.get_request().headers["authorization"] == "Bearer sk-async-env-0123456789"


async def test_the_default_base_url(httpx_mock: HTTPXMock, hello_wav: Path) -> None:
    httpx_mock.add_response(url="https://api.cortecs.ai/v1/audio/transcriptions", json={})
    async with AsyncClient(api_key=API_KEY) as client:
        await client.transcribe(hello_wav, model=MODEL)


async def test_a_missing_api_key() -> None:
    with pytest.raises(MissingAPIKeyError) as info:
        AsyncClient(base_url=BASE_URL)
    assert "api_key" in str(info.value)
    assert "TRANSCRIBE_API_KEY" in str(info.value)


async def test_default_headers_and_the_user_agent(
    http_client: httpx.AsyncClient, httpx_mock: HTTPXMock, hello_wav: Path
) -> None:
    httpx_mock.add_response(json={})
    async with make_client(http_client, default_headers={"X-Tenant": "acme"}) as client:
        await client.transcribe(hello_wav, model=MODEL, extra_headers={"X-Call": "1"})
    headers = httpx_mock.get_request().headers
    assert headers["x-tenant"] == "acme"
    assert headers["x-call"] == "1"
    assert headers["user-agent"].startswith("transcribe-sdk/")


async def test_a_users_http_client_is_used_and_left_open(
    httpx_mock: HTTPXMock, hello_wav: Path
) -> None:
    httpx_mock.add_response(json={})
    async with httpx.AsyncClient(headers={"X-From-User-Client": "yes"}) as http_client:
        async with AsyncClient(api_key=API_KEY, base_url=BASE_URL, http_client=http_client) as c:
            await c.transcribe(hello_wav, model=MODEL)
        assert not http_client.is_closed
        await c.close()
        assert not http_client.is_closed
    assert httpx_mock.get_request().headers["x-from-user-client"] == "yes"


async def test_its_own_http_client_is_closed() -> None:
    client = AsyncClient(api_key=API_KEY, base_url=BASE_URL)
    await client.close()
    assert client._http.is_closed
    async with AsyncClient(api_key=API_KEY, base_url=BASE_URL) as client:
        assert not client._http.is_closed
    assert client._http.is_closed


async def test_a_sync_http_client_is_refused() -> None:
    with httpx.Client() as sync_http, pytest.raises(InvalidInputError) as info:
        AsyncClient(api_key=API_KEY, base_url=BASE_URL, http_client=sync_http)  # type: ignore[arg-type]
    assert info.value.param == "http_client"


# -- checks before anything is sent ---------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"language": "EN"}, "language"),
        ({"language": "en-US"}, "language"),
        ({"language": "english"}, "language"),
        ({"language": "xx"}, "language"),
        ({"language": 5}, "language"),
        ({"temperature": -0.1}, "temperature"),
        ({"temperature": 1.5}, "temperature"),
        ({"temperature": math.nan}, "temperature"),
        ({"temperature": "0.2"}, "temperature"),
        ({"temperature": True}, "temperature"),
        ({"preference": "fast"}, "preference"),
        ({"allowed_providers": "ovh"}, "allowed_providers"),
        ({"allowed_providers": []}, "allowed_providers"),
        ({"allowed_providers": [""]}, "allowed_providers"),
        ({"allowed_providers": [1]}, "allowed_providers"),
        ({"eu_native": "true"}, "eu_native"),
        ({"allow_quantization": 1}, "allow_quantization"),
        ({"response_format": "xml"}, "response_format"),
        ({"model": ""}, "model"),
        ({"model": None}, "model"),
        ({"timestamp_granularities": "word", "response_format": "text"}, "timestamp_granularities"),
        ({"extra_body": {"prompt": "b"}, "prompt": "a"}, "extra_body"),
        ({"extra_body": {"file": "x"}}, "extra_body"),
        ({"extra_headers": {"Content-Type": "text/plain"}}, "extra_headers"),
        ({"lang": "en"}, "lang"),
    ],
)
async def test_bad_input_is_refused_before_sending(
    client: AsyncClient, httpx_mock: HTTPXMock, *, kwargs: dict[str, Any], param: str
) -> None:
    source = AsyncReadable(b"RIFF\x00\x00\x00\x00WAVEfmt ", "a.wav")
    call: dict[str, Any] = {"model": MODEL, **kwargs}
    with pytest.raises(InvalidInputError) as info:
        await client.transcribe(source, **call)
    assert info.value.param == param
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, TypeError)
    assert httpx_mock.get_requests() == []
    assert await source.read() == b"RIFF\x00\x00\x00\x00WAVEfmt "  # not touched


async def test_an_empty_async_source_is_refused(client: AsyncClient, httpx_mock: HTTPXMock) -> None:
    with pytest.raises(InvalidFileError):
        await client.transcribe(chunks_of(b""), model=MODEL)
    assert httpx_mock.get_requests() == []


# -- the key stays secret -------------------------------------------------------------------


async def test_the_key_is_not_logged_or_shown(
    http_client: httpx.AsyncClient,
    httpx_mock: HTTPXMock,
    hello_wav: Path,
    caplog: pytest.LogCaptureFixture,
    sleeps: list[float],
) -> None:
    caplog.set_level(logging.DEBUG)
    httpx_mock.add_response(json={"text": HELLO})
    httpx_mock.add_exception(httpx.ConnectError("refused"))
    httpx_mock.add_response(status_code=403, json={"error": {"message": "model not allowed"}})
    async with make_client(http_client, max_retries=1) as client:
        assert API_KEY not in repr(client)
        await client.transcribe(hello_wav, model=MODEL)
        with pytest.raises(PermissionDeniedError) as info:
            await client.transcribe(hello_wav, model=MODEL)
    assert API_KEY not in str(info.value)
    assert API_KEY not in repr(vars(info.value))
    assert any(r.name == "transcribe_sdk" for r in caplog.records)
    assert API_KEY not in caplog.text
    assert all(API_KEY not in record.getMessage() for record in caplog.records)
    assert len(sleeps) == 1


# -- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error_class"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (409, ConflictError),
        (413, FileTooLargeError),
        (415, UnsupportedMediaTypeError),
        (422, UnprocessableEntityError),
        (429, RateLimitError),
        (500, InternalServerError),
        (502, InternalServerError),
        (503, InternalServerError),
    ],
)
async def test_each_status_maps_to_its_error(
    client: AsyncClient,
    httpx_mock: HTTPXMock,
    hello_wav: Path,
    *,
    status: int,
    error_class: type[APIStatusError],
) -> None:
    body = {"error": {"message": "nope", "type": "t", "param": None, "code": status}}
    httpx_mock.add_response(status_code=status, json=body, headers={"x-request-id": "req_a"})
    with pytest.raises(APIStatusError) as info:
        await client.transcribe(hello_wav, model=MODEL)
    error = info.value
    assert type(error) is error_class
    assert (error.status_code, error.request_id, error.body) == (status, "req_a", body)
    assert (error.error_type, error.error_code, error.error_param) == ("t", str(status), None)
    assert ": nope (request id: req_a)" in str(error)


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ({"json": {"error": "Invalid key"}}, "Invalid key"),
        ({"json": {"detail": "Not authenticated"}}, "Not authenticated"),
        (
            {"json": {"detail": [{"loc": ["body", "file"], "msg": "field required", "type": "x"}]}},
            "body.file: field required",
        ),
        ({"text": "Unauthorized"}, "Unauthorized"),
        ({"html": NGINX_502}, "502 Bad Gateway"),
        ({"content": b""}, "(empty body)"),
    ],
)
async def test_error_bodies_of_every_shape(
    client: AsyncClient,
    httpx_mock: HTTPXMock,
    hello_wav: Path,
    *,
    answer: dict[str, Any],
    message: str,
) -> None:
    httpx_mock.add_response(status_code=401, headers={"x-request-id": "req_b"}, **answer)
    with pytest.raises(AuthenticationError) as info:
        await client.transcribe(hello_wav, model=MODEL)
    assert f": {message} (request id: req_b)" in str(info.value)
    assert "<h1>" not in str(info.value)


@pytest.mark.parametrize(
    ("response_format", "answer"),
    [
        (None, {"content": b"{not json", "headers": {"content-type": "application/json"}}),
        (None, {"json": [1, 2]}),
        ("verbose_json", {"json": {"segments": "x"}}),
        ("json", {"content": b""}),
        (None, {"html": NGINX_502}),
    ],
)
async def test_an_unusable_success_body(
    client: AsyncClient,
    httpx_mock: HTTPXMock,
    hello_wav: Path,
    *,
    response_format: str | None,
    answer: dict[str, Any],
) -> None:
    httpx_mock.add_response(**answer)
    with pytest.raises(UnexpectedResponseError) as info:
        await client.transcribe(hello_wav, model=MODEL, response_format=response_format)
    assert info.value.status_code == 200


@pytest.mark.parametrize(
    ("exception", "error_class"),
    [
        (httpx.ConnectError("refused"), APIConnectionError),
        (httpx.RemoteProtocolError("peer closed connection"), APIConnectionError),
        (httpx.ReadTimeout("timed out"), APITimeoutError),
        (httpx.WriteTimeout("timed out"), APITimeoutError),
    ],
)
async def test_transport_failures_become_our_errors(
    client: AsyncClient,
    httpx_mock: HTTPXMock,
    hello_wav: Path,
    *,
    exception: httpx.TransportError,
    error_class: type[APIConnectionError],
) -> None:
    httpx_mock.add_exception(exception)
    with pytest.raises(TranscribeError) as info:
        await client.transcribe(hello_wav, model=MODEL)
    assert type(info.value) is error_class
    assert not isinstance(info.value, httpx.HTTPError)


# -- retries --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make_input",
    [
        pytest.param(lambda path: path, id="path"),
        pytest.param(lambda path: path.read_bytes(), id="bytes"),
        pytest.param(lambda path: chunks_of(path.read_bytes()), id="async-iterator"),
        pytest.param(lambda path: AsyncReadable(path.read_bytes(), "x.wav"), id="async-reader"),
    ],
)
async def test_a_503_is_retried_with_the_whole_file(
    http_client: httpx.AsyncClient,
    httpx_mock: HTTPXMock,
    hello_wav: Path,
    sleeps: list[float],
    make_input: Any,
) -> None:
    httpx_mock.add_response(status_code=503, text="Service Unavailable")
    httpx_mock.add_response(json={"text": HELLO})
    async with make_client(http_client, max_retries=2) as client:
        raw = await client.with_raw_response.transcribe(make_input(hello_wav), model=MODEL)
    assert raw.parsed == Transcription(text=HELLO)
    assert raw.attempts == 2
    first, second = httpx_mock.get_requests()
    data = hello_wav.read_bytes()
    assert file_part(first).data == data
    assert file_part(second).data == data
    assert form_fields(first) == form_fields(second) == [("model", MODEL)]
    for request in (first, second):  # a one-shot source is copied as it is sent: chunked
        length = request.headers.get("content-length")
        if length is None:
            assert request.headers["transfer-encoding"] == "chunked"
        else:
            assert int(length) == len(request.content)
    assert len(sleeps) == 1


async def test_a_400_is_not_retried(
    http_client: httpx.AsyncClient, httpx_mock: HTTPXMock, hello_wav: Path, sleeps: list[float]
) -> None:
    httpx_mock.add_response(status_code=400, json={"error": {"message": "bad"}})
    async with make_client(http_client, max_retries=2) as client:
        with pytest.raises(BadRequestError):
            await client.transcribe(hello_wav, model=MODEL)
    assert len(httpx_mock.get_requests()) == 1
    assert sleeps == []


async def test_retries_give_up(
    http_client: httpx.AsyncClient, httpx_mock: HTTPXMock, hello_wav: Path, sleeps: list[float]
) -> None:
    httpx_mock.add_exception(httpx.ConnectError("refused"))
    httpx_mock.add_response(status_code=429, headers={"retry-after": "1"}, json={})
    httpx_mock.add_response(status_code=500, text="still down")
    async with make_client(http_client, max_retries=2) as client:
        with pytest.raises(InternalServerError) as info:
            await client.transcribe(hello_wav, model=MODEL)
    assert info.value.attempts == 3
    assert len(httpx_mock.get_requests()) == 3
    assert len(sleeps) == 2
    assert sleeps[1] == 1.0
