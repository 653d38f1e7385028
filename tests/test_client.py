"""The blocking ``Client`` against a mocked server (pytest-httpx): the exact request it sends,
what it returns for each answer, its configuration, and the errors it raises.

No test reaches a network: pytest-httpx answers every request, fails on any request it was not
told to expect, and fails when a registered answer is never asked for.
"""

from __future__ import annotations

import copy
import email.parser
import email.policy
import io
import logging
import math
import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from _answers import (
    CLOUDFLARE_PAGE,
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
    DEFAULT_BASE_URL,
    DEFAULT_TIMEOUT,
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    Client,
    ConflictError,
    FileTooLargeError,
    InternalServerError,
    InvalidFileError,
    InvalidInputError,
    MissingAPIKeyError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RawResponse,
    RequestTimeoutError,
    Segment,
    TranscribeError,
    Transcription,
    UnexpectedResponseError,
    UnprocessableEntityError,
    UnsupportedMediaTypeError,
    VerboseTranscription,
    Word,
)

URL = f"{BASE_URL}/audio/transcriptions"


@pytest.fixture(scope="module")
def http_client() -> Iterator[httpx.Client]:
    # Shared by most tests: building an httpx.Client loads the CA bundle (~0.1 s each). A few
    # tests below build Clients without one, to cover the connection pool a Client owns.
    with httpx.Client() as http_client:
        yield http_client


@pytest.fixture
def client(http_client: httpx.Client) -> Iterator[Client]:
    with Client(
        api_key=API_KEY, base_url=BASE_URL, max_retries=0, http_client=http_client
    ) as client:
        yield client


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record the client's waits between retries instead of waiting."""
    return record_sleeps(monkeypatch)


class OneShotStream:
    """A pipe-like binary source: ``read`` only, no ``seek``, no name."""

    def __init__(self, data: bytes) -> None:
        self._buffer = io.BytesIO(data)

    def read(self, size: int = -1, /) -> bytes:
        return self._buffer.read(size)


# -- the request on the wire ----------------------------------------------------------------


def test_minimal_request(client: Client, httpx_mock: HTTPXMock, hello_wav: Path) -> None:
    httpx_mock.add_response(json={"text": HELLO})
    result = client.transcribe(hello_wav, model=MODEL)
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


def test_every_parameter_is_sent_in_order(
    client: Client, httpx_mock: HTTPXMock, hello_wav: Path
) -> None:
    httpx_mock.add_response(json=OPENAI_VERBOSE)
    client.transcribe(
        hello_wav,
        model=MODEL,
        language="en",
        prompt="Greetings, Dr. Müller & co.",
        response_format="verbose_json",
        temperature=0.2,
        preference="balanced",
        allowed_providers=["ovh", "scaleway"],
        eu_native=True,
        allow_quantization=False,
        allow_zero_data_retention=True,
        enable_model_fallback=False,
        timestamp_granularities=["word", "segment"],
        extra_body={"vad_filter": True},
    )
    assert_transcription_request(
        httpx_mock.get_request(),
        url=URL,
        api_key=API_KEY,
        fields=[
            ("model", MODEL),
            ("language", "en"),
            ("prompt", "Greetings, Dr. Müller & co."),
            ("timestamp_granularities[]", "word"),
            ("timestamp_granularities[]", "segment"),
            ("response_format", "verbose_json"),
            ("temperature", "0.2"),
            ("preference", "balanced"),
            ("allowed_providers[]", "ovh"),
            ("allowed_providers[]", "scaleway"),
            ("eu_native", "true"),
            ("allow_quantization", "false"),
            ("allow_zero_data_retention", "true"),
            ("enable_model_fallback", "false"),
            ("vad_filter", "true"),
        ],
        filename="hello.wav",
        content_type="audio/wav",
        data=hello_wav.read_bytes(),
    )


def test_none_parameters_are_not_sent(
    client: Client, httpx_mock: HTTPXMock, hello_wav: Path
) -> None:
    httpx_mock.add_response(json={"text": HELLO})
    client.transcribe(
        hello_wav,
        model=MODEL,
        language=None,
        prompt=None,
        response_format=None,
        temperature=None,
        preference=None,
        allowed_providers=None,
        eu_native=None,
        allow_quantization=None,
        allow_zero_data_retention=None,
        enable_model_fallback=None,
        timestamp_granularities=None,
        extra_body=None,
        extra_headers=None,
        timeout=None,
        max_retries=None,
        deadline=None,
    )
    assert form_fields(httpx_mock.get_request()) == [("model", MODEL)]


@pytest.mark.parametrize(
    ("temperature", "sent"), [(0, "0"), (0.2, "0.2"), (1, "1"), (1e-05, "0.00001"), (1.0, "1")]
)
def test_temperature_on_the_wire(
    client: Client, httpx_mock: HTTPXMock, hello_wav: Path, temperature: float, sent: str
) -> None:
    httpx_mock.add_response(json={"text": HELLO})
    client.transcribe(hello_wav, model=MODEL, temperature=temperature)
    assert form_fields(httpx_mock.get_request()) == [("model", MODEL), ("temperature", sent)]


@pytest.mark.parametrize("flag", [True, False])
def test_flags_on_the_wire(
    client: Client, httpx_mock: HTTPXMock, hello_wav: Path, flag: bool
) -> None:
    httpx_mock.add_response(json={"text": HELLO})
    client.transcribe(
        hello_wav,
        model=MODEL,
        eu_native=flag,
        allow_quantization=flag,
        allow_zero_data_retention=flag,
        enable_model_fallback=flag,
    )
    sent = "true" if flag else "false"
    assert form_fields(httpx_mock.get_request()) == [
        ("model", MODEL),
        ("eu_native", sent),
        ("allow_quantization", sent),
        ("allow_zero_data_retention", sent),
        ("enable_model_fallback", sent),
    ]


@pytest.mark.parametrize(
    ("value", "items"),
    [("word", ["word"]), (["segment"], ["segment"]), (("word", "segment"), ["word", "segment"])],
)
def test_timestamp_granularities_imply_verbose_json(
    client: Client, httpx_mock: HTTPXMock, hello_wav: Path, value: Any, items: list[str]
) -> None:
    httpx_mock.add_response(json=OPENAI_VERBOSE)
    result = client.transcribe(hello_wav, model=MODEL, timestamp_granularities=value)
    assert form_fields(httpx_mock.get_request()) == [
        ("model", MODEL),
        *[("timestamp_granularities[]", item) for item in items],
        ("response_format", "verbose_json"),
    ]
    assert isinstance(result, VerboseTranscription)


def test_extra_body_on_the_wire(client: Client, httpx_mock: HTTPXMock, hello_wav: Path) -> None:
    httpx_mock.add_response(json={"text": HELLO})
    client.transcribe(
        hello_wav,
        model=MODEL,
        language="de",
        extra_body={
            "beam_size": 5,
            "hotwords": ["Cortecs", "Scaleway"],
            "vad_parameters": {"type": "server_vad", "threshold": 0.5},
            "skipped": None,
            "diarize": False,
        },
    )
    assert form_fields(httpx_mock.get_request()) == [
        ("model", MODEL),
        ("language", "de"),
        ("beam_size", "5"),
        ("hotwords[]", "Cortecs"),
        ("hotwords[]", "Scaleway"),
        ("vad_parameters[type]", "server_vad"),
        ("vad_parameters[threshold]", "0.5"),
        ("diarize", "false"),
    ]


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("hello.flac", "audio/flac"),
        ("hello.m4a", "audio/x-m4a"),
        ("hello.mp3", "audio/mpeg"),
        ("hello.ogg", "audio/ogg"),
        ("hello.wav", "audio/wav"),
        ("hello.webm", "audio/webm"),
    ],
)
def test_each_fixture_is_sent_with_its_name_and_type(
    client: Client, httpx_mock: HTTPXMock, fixtures_dir: Path, name: str, content_type: str
) -> None:
    httpx_mock.add_response(json={"text": HELLO})
    path = fixtures_dir / name
    client.transcribe(str(path), model=MODEL)
    assert_transcription_request(
        httpx_mock.get_request(),
        url=URL,
        api_key=API_KEY,
        fields=[("model", MODEL)],
        filename=name,
        content_type=content_type,
        data=path.read_bytes(),
    )


@pytest.mark.parametrize(
    ("make_input", "filename", "content_type"),
    [
        (lambda data: data, "audio.wav", "audio/wav"),
        (bytearray, "audio.wav", "audio/wav"),
        (memoryview, "audio.wav", "audio/wav"),
        (io.BytesIO, "audio.wav", "audio/wav"),
        (lambda data: ("talk.wav", data), "talk.wav", "audio/wav"),
        (lambda data: ("recording", data), "recording.wav", "audio/wav"),
        (lambda data: ("talk.wav", data, "audio/x-wav"), "talk.wav", "audio/x-wav"),
        (lambda data: ("talk.wav", io.BytesIO(data)), "talk.wav", "audio/wav"),
    ],
)
def test_in_memory_inputs_have_a_content_length(
    client: Client,
    httpx_mock: HTTPXMock,
    hello_wav: Path,
    *,
    make_input: Any,
    filename: str,
    content_type: str,
) -> None:
    httpx_mock.add_response(json={"text": HELLO})
    data = hello_wav.read_bytes()
    client.transcribe(make_input(data), model=MODEL)
    assert_transcription_request(
        httpx_mock.get_request(),
        url=URL,
        api_key=API_KEY,
        fields=[("model", MODEL)],
        filename=filename,
        content_type=content_type,
        data=data,
    )


def test_an_open_file_is_sent_under_its_name_and_left_open(
    client: Client, httpx_mock: HTTPXMock, hello_wav: Path
) -> None:
    httpx_mock.add_response(json={"text": HELLO})
    with hello_wav.open("rb") as handle:
        client.transcribe(handle, model=MODEL)
        assert not handle.closed
    part = file_part(httpx_mock.get_request())
    assert part.filename == "hello.wav"
    assert part.data == hello_wav.read_bytes()


def test_a_non_seekable_stream_is_sent_chunked_without_retries(
    client: Client, httpx_mock: HTTPXMock, hello_wav: Path
) -> None:
    httpx_mock.add_response(json={"text": HELLO})
    data = hello_wav.read_bytes()
    client.transcribe(OneShotStream(data), model=MODEL, response_format="json")
    assert_transcription_request(
        httpx_mock.get_request(),
        url=URL,
        api_key=API_KEY,
        fields=[("model", MODEL), ("response_format", "json")],
        filename="audio.wav",
        content_type="audio/wav",
        data=data,
        chunked=True,
    )


def test_a_non_seekable_stream_is_copied_while_sent_when_retries_are_on(
    http_client: httpx.Client, httpx_mock: HTTPXMock, hello_wav: Path
) -> None:
    httpx_mock.add_response(json={"text": HELLO})
    data = hello_wav.read_bytes()
    with Client(
        api_key=API_KEY, base_url=BASE_URL, max_retries=2, http_client=http_client
    ) as client:
        client.transcribe(OneShotStream(data), model=MODEL)
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


def test_the_body_reads_with_the_standard_mime_parser(
    client: Client, httpx_mock: HTTPXMock, hello_wav: Path
) -> None:
    # An independent parser, so the strict helper in _wire.py is not the only judge.
    httpx_mock.add_response(json={"text": HELLO})
    client.transcribe(
        ('quoted "name".wav', hello_wav.read_bytes()),
        model=MODEL,
        prompt="line one\r\nline two",
        allowed_providers=["ovh", "scaleway"],
    )
    request = httpx_mock.get_request()
    raw = f"Content-Type: {request.headers['content-type']}\r\n\r\n".encode() + request.content
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(raw)
    assert message.is_multipart()
    assert not message.defects
    parts = list(message.iter_parts())
    names = [part.get_param("name", header="content-disposition") for part in parts]
    assert names == ["model", "prompt", "allowed_providers[]", "allowed_providers[]", "file"]
    assert [part.get_content() for part in parts[:-1]] == [
        MODEL,
        "line one\r\nline two",
        "ovh",
        "scaleway",
    ]
    assert parts[-1].get_filename() == "quoted %22name%22.wav"
    assert parts[-1].get_content_type() == "audio/wav"
    assert parts[-1].get_payload(decode=True) == hello_wav.read_bytes()


# -- results per response_format ------------------------------------------------------------


@pytest.mark.parametrize("response_format", [None, "json"])
def test_json_gives_a_transcription(
    client: Client, httpx_mock: HTTPXMock, hello_wav: Path, response_format: str | None
) -> None:
    httpx_mock.add_response(json=ROUTER_JSON)
    result = client.transcribe(hello_wav, model=MODEL, response_format=response_format)
    assert type(result) is Transcription
    assert result == Transcription(
        id="1234567890",
        object="audio.transcription",
        created=1715155200,
        provider="ovh",
        model=MODEL,
        text=HELLO,
        language="en",
        segments=None,
    )
    assert result.language_code == "en"


def test_openai_verbose_json(client: Client, httpx_mock: HTTPXMock, hello_wav: Path) -> None:
    httpx_mock.add_response(json=OPENAI_VERBOSE)
    result = client.transcribe(
        hello_wav, model=MODEL, response_format="verbose_json", timestamp_granularities="word"
    )
    assert type(result) is VerboseTranscription
    assert result.text == HELLO
    assert result.duration == 3.52
    assert result.language == "english"
    assert result.language_code == "en"
    assert result.words == [
        Word(word="Hello", start=0.0, end=0.42),
        Word(word="world", start=0.42, end=0.88),
    ]
    assert result.segments is not None
    assert all(type(segment) is Segment for segment in result.segments)
    first, second = result.segments
    assert (first.id, first.seek, first.start, first.end) == (0, 0, 0.0, 1.1)
    assert first.text == " Hello world."
    assert first.tokens == [50364, 2425, 1002, 13, 50419]
    assert (first.avg_logprob, first.compression_ratio, first.no_speech_prob) == (
        -0.2861,
        0.8333,
        0.0123,
    )
    assert second.id == 1
    assert second.end == 3.52
    assert result.usage is not None
    assert (result.usage.type, result.usage.seconds) == ("duration", 4.0)
    assert result.model_extra == {"task": "transcribe"}


def test_vllm_verbose_json_with_a_string_duration(
    client: Client, httpx_mock: HTTPXMock, hello_wav: Path
) -> None:
    httpx_mock.add_response(json=VLLM_VERBOSE)
    result = client.transcribe(hello_wav, model=MODEL, response_format="verbose_json")
    assert type(result) is VerboseTranscription
    assert result.duration == 5.0
    assert result.words is None
    assert result.segments is not None
    assert result.segments[0].end == 5.0


def test_groq_verbose_json_keeps_x_groq(
    client: Client, httpx_mock: HTTPXMock, hello_wav: Path
) -> None:
    httpx_mock.add_response(json=GROQ_VERBOSE)
    result = client.transcribe(hello_wav, model=MODEL, response_format="verbose_json")
    assert type(result) is VerboseTranscription
    assert result.model_extra is not None
    assert result.model_extra["x_groq"] == {"id": "req_01jbd6g2qdfw2adyrt2az8hz4w"}
    assert result.model_dump()["x_groq"]["id"] == "req_01jbd6g2qdfw2adyrt2az8hz4w"
    assert result.language_code == "en"
    assert result.segments is not None
    assert result.segments[0].start == 0.0
    assert result.segments[0].temperature == 0.0


def test_mistral_segments_and_null_language(
    client: Client, httpx_mock: HTTPXMock, hello_wav: Path
) -> None:
    httpx_mock.add_response(json=MISTRAL_VERBOSE)
    result = client.transcribe(hello_wav, model="voxtral-mini-2507", response_format="verbose_json")
    assert type(result) is VerboseTranscription
    assert result.language is None
    assert result.language_code is None
    assert result.model == "voxtral-mini-2507"
    assert result.segments is not None
    segment = result.segments[1]
    assert (segment.text, segment.start, segment.end) == (
        "This is a test of the transcription client.",
        1.1,
        3.5,
    )
    assert segment.id is None
    assert segment.tokens is None
    assert segment.model_extra == {"type": "transcription_segment", "speaker_id": None}
    assert result.usage is not None
    assert result.usage.model_extra is not None
    assert result.usage.model_extra["prompt_audio_seconds"] == 4


@pytest.mark.parametrize("response_format", [None, "json", "verbose_json"])
def test_every_field_may_be_missing(
    client: Client, httpx_mock: HTTPXMock, hello_wav: Path, response_format: str | None
) -> None:
    httpx_mock.add_response(json={})
    result = client.transcribe(hello_wav, model=MODEL, response_format=response_format)
    assert isinstance(result, Transcription)
    assert result.text == ""
    assert result.id is None
    assert result.provider is None
    assert result.segments is None


def test_unknown_fields_are_kept(client: Client, httpx_mock: HTTPXMock, hello_wav: Path) -> None:
    httpx_mock.add_response(
        json={"text": HELLO, "router": {"fallback": False}, "segments": [{"text": "a", "x": 1}]}
    )
    result = client.transcribe(hello_wav, model=MODEL)
    assert result.model_extra == {"router": {"fallback": False}}
    assert result.segments is not None
    assert result.segments[0].model_extra == {"x": 1}


@pytest.mark.parametrize(
    ("response_format", "body", "content_type"),
    [
        ("text", "42", "text/plain; charset=utf-8"),
        ("text", "42", None),
        ("text", '{"text": "not parsed"}', "text/plain"),
        ("text", "Grüße aus Köln\n", "text/plain; charset=utf-8"),
        ("srt", "1\n00:00:00,000 --> 00:00:01,100\nHello world.\n\n", "application/x-subrip"),
        ("srt", "1\n00:00:00,000 --> 00:00:01,100\nHello world.\n\n", "text/plain"),
        ("vtt", "WEBVTT\n\n00:00:00.000 --> 00:00:01.100\nHello world.\n", "text/vtt"),
        ("text", "", "text/plain"),
    ],
)
def test_text_formats_give_the_body_as_a_str(
    client: Client,
    httpx_mock: HTTPXMock,
    hello_wav: Path,
    *,
    response_format: str,
    body: str,
    content_type: str | None,
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    httpx_mock.add_response(content=body.encode(), headers=headers)
    result = client.transcribe(hello_wav, model=MODEL, response_format=response_format)
    assert type(result) is str
    # Text has no surrounding whitespace; subtitles are files, kept byte for byte.
    assert result == (body.strip() if response_format == "text" else body)
    assert (("response_format", response_format)) in form_fields(httpx_mock.get_request())


@pytest.mark.parametrize("response_format", ["text", "srt", "vtt"])
def test_a_json_answer_to_a_text_format_gives_its_text(
    client: Client, httpx_mock: HTTPXMock, hello_wav: Path, response_format: str
) -> None:
    httpx_mock.add_response(json={"text": HELLO, "provider": "ovh"})
    result = client.transcribe(hello_wav, model=MODEL, response_format=response_format)
    assert result == HELLO


@pytest.mark.parametrize(
    ("response_format", "model"),
    [(None, Transcription), ("json", Transcription), ("verbose_json", VerboseTranscription)],
)
def test_a_plain_text_answer_to_a_json_format_is_wrapped(
    client: Client,
    httpx_mock: HTTPXMock,
    hello_wav: Path,
    response_format: str | None,
    model: type[Transcription],
) -> None:
    httpx_mock.add_response(text=f"{HELLO}\n", headers={"content-type": "text/plain"})
    result = client.transcribe(hello_wav, model=MODEL, response_format=response_format)
    assert type(result) is model
    assert result == model(text=HELLO)


def test_with_raw_response(client: Client, httpx_mock: HTTPXMock, hello_wav: Path) -> None:
    httpx_mock.add_response(
        json=ROUTER_JSON, headers={"x-request-id": "req_raw_1", "x-provider": "ovh"}
    )
    raw = client.with_raw_response.transcribe(hello_wav, model=MODEL, language="en")
    assert isinstance(raw, RawResponse)
    assert type(raw.parsed) is Transcription
    assert raw.parsed.provider == "ovh"
    assert isinstance(raw.http_response, httpx.Response)
    assert raw.http_response.json() == ROUTER_JSON
    assert raw.request_id == "req_raw_1"
    assert raw.status_code == 200
    assert raw.headers["x-provider"] == "ovh"
    assert raw.attempts == 1
    assert form_fields(httpx_mock.get_request()) == [("model", MODEL), ("language", "en")]


@pytest.mark.parametrize(
    ("response_format", "body", "expected_type"),
    [
        ("verbose_json", {"text": HELLO, "duration": 1}, VerboseTranscription),
        ("srt", None, str),
    ],
)
def test_with_raw_response_other_formats(
    client: Client,
    httpx_mock: HTTPXMock,
    hello_wav: Path,
    *,
    response_format: str,
    body: Any,
    expected_type: type,
) -> None:
    if body is None:
        httpx_mock.add_response(text="1\n00:00:00,000 --> 00:00:01,000\nHi\n", headers={})
    else:
        httpx_mock.add_response(json=body, headers={"x-litellm-call-id": "call-7"})
    raw = client.with_raw_response.transcribe(
        hello_wav, model=MODEL, response_format=response_format
    )
    assert type(raw.parsed) is expected_type
    assert raw.request_id == ("call-7" if body is not None else None)


# -- configuration --------------------------------------------------------------------------


def test_api_key_from_the_environment(
    httpx_mock: HTTPXMock, monkeypatch: pytest.MonkeyPatch, hello_wav: Path
) -> None:
    monkeypatch.setenv("TRANSCRIBE_API_KEY", "sk-from-env-0123456789")
    httpx_mock.add_response(json={"text": HELLO})
    with Client(base_url=BASE_URL) as client:
        client.transcribe(hello_wav, model=MODEL)
    assert httpx_mock.get_request().headers["authorization"] == "Bearer sk-from-env-0123456789"


def test_the_api_key_argument_wins_over_the_environment(
    httpx_mock: HTTPXMock, monkeypatch: pytest.MonkeyPatch, hello_wav: Path
) -> None:
    monkeypatch.setenv("TRANSCRIBE_API_KEY", "sk-from-env-0123456789")
    httpx_mock.add_response(json={"text": HELLO})
    with Client(api_key=API_KEY, base_url=BASE_URL) as client:
        client.transcribe(hello_wav, model=MODEL)
    assert httpx_mock.get_request().headers["authorization"] == f"Bearer {API_KEY}"


@pytest.mark.parametrize("env_value", [None, ""])
def test_a_missing_api_key_says_how_to_give_one(
    monkeypatch: pytest.MonkeyPatch, env_value: str | None
) -> None:
    if env_value is not None:
        monkeypatch.setenv("TRANSCRIBE_API_KEY", env_value)
    with pytest.raises(MissingAPIKeyError) as info:
        Client(base_url=BASE_URL)
    assert "api_key" in str(info.value)
    assert "TRANSCRIBE_API_KEY" in str(info.value)
    assert isinstance(info.value, TranscribeError)


@pytest.mark.parametrize("api_key", [f" {API_KEY}", f"{API_KEY}\n", "sk-a\r\nX-Evil: 1"])
def test_an_api_key_that_cannot_be_a_header_is_refused(api_key: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        Client(api_key=api_key, base_url=BASE_URL)
    assert info.value.param == "api_key"
    assert API_KEY not in str(info.value)
    assert "sk-a" not in str(info.value)


def test_base_url_from_the_environment(
    httpx_mock: HTTPXMock, monkeypatch: pytest.MonkeyPatch, hello_wav: Path
) -> None:
    monkeypatch.setenv("TRANSCRIBE_BASE_URL", "http://localhost:8000/v1/")
    httpx_mock.add_response(url="http://localhost:8000/v1/audio/transcriptions", json={})
    with Client(api_key=API_KEY) as client:
        assert client.base_url == "http://localhost:8000/v1"
        client.transcribe(hello_wav, model=MODEL)


def test_the_base_url_argument_wins_over_the_environment(
    httpx_mock: HTTPXMock, monkeypatch: pytest.MonkeyPatch, hello_wav: Path
) -> None:
    monkeypatch.setenv("TRANSCRIBE_BASE_URL", "http://localhost:8000/v1")
    httpx_mock.add_response(url=URL, json={})
    with Client(api_key=API_KEY, base_url=BASE_URL) as client:
        client.transcribe(hello_wav, model=MODEL)


@pytest.mark.parametrize("env_value", [None, ""])
def test_the_default_base_url(
    httpx_mock: HTTPXMock, monkeypatch: pytest.MonkeyPatch, hello_wav: Path, env_value: str | None
) -> None:
    if env_value is not None:
        monkeypatch.setenv("TRANSCRIBE_BASE_URL", env_value)
    assert DEFAULT_BASE_URL == "https://api.cortecs.ai/v1"
    httpx_mock.add_response(url="https://api.cortecs.ai/v1/audio/transcriptions", json={})
    with Client(api_key=API_KEY) as client:
        client.transcribe(hello_wav, model=MODEL)
    assert str(httpx_mock.get_request().url) == "https://api.cortecs.ai/v1/audio/transcriptions"


@pytest.mark.parametrize(
    "base_url", [f"{BASE_URL}/", f"{BASE_URL}//", f"  {BASE_URL}  ", f"{BASE_URL}"]
)
def test_base_url_trailing_slashes(
    http_client: httpx.Client, httpx_mock: HTTPXMock, hello_wav: Path, base_url: str
) -> None:
    httpx_mock.add_response(json={})
    with Client(
        api_key=API_KEY, base_url=base_url, max_retries=0, http_client=http_client
    ) as client:
        client.transcribe(hello_wav, model=MODEL)
    assert str(httpx_mock.get_request().url) == URL


@pytest.mark.parametrize("base_url", ["", "   ", "ftp://example.com/v1", "api.cortecs.ai/v1", 5])
def test_a_bad_base_url_is_refused(monkeypatch: pytest.MonkeyPatch, base_url: Any) -> None:
    # An explicit empty base_url is refused rather than read as "the public router", even when
    # the environment names another server.
    monkeypatch.setenv("TRANSCRIBE_BASE_URL", "http://localhost:8000/v1")
    with pytest.raises(InvalidInputError) as info:
        Client(api_key=API_KEY, base_url=base_url)
    assert info.value.param == "base_url"


def test_default_and_extra_headers_are_sent(
    http_client: httpx.Client, httpx_mock: HTTPXMock, hello_wav: Path
) -> None:
    httpx_mock.add_response(json={})
    with Client(
        api_key=API_KEY,
        base_url=BASE_URL,
        default_headers={"X-Tenant": "acme", "X-Trace": "default"},
        http_client=http_client,
    ) as client:
        client.transcribe(
            hello_wav, model=MODEL, extra_headers={"X-Trace": "call-1", "Idempotency-Key": "k1"}
        )
    headers = httpx_mock.get_request().headers
    assert headers["x-tenant"] == "acme"
    assert headers["x-trace"] == "call-1"
    assert headers["idempotency-key"] == "k1"
    assert headers["authorization"] == f"Bearer {API_KEY}"


@pytest.mark.parametrize("header", ["Content-Type", "content-length", "Transfer-Encoding", "HOST"])
def test_reserved_headers_are_refused(
    http_client: httpx.Client, httpx_mock: HTTPXMock, hello_wav: Path, header: str
) -> None:
    with pytest.raises(InvalidInputError) as info:
        Client(api_key=API_KEY, base_url=BASE_URL, default_headers={header: "x"})
    assert info.value.param == "default_headers"
    with (
        Client(api_key=API_KEY, base_url=BASE_URL, http_client=http_client) as client,
        pytest.raises(InvalidInputError) as info,
    ):
        client.transcribe(hello_wav, model=MODEL, extra_headers={header: "x"})
    assert info.value.param == "extra_headers"
    assert httpx_mock.get_requests() == []


@pytest.mark.parametrize(
    ("timeout", "expected"),
    [
        (12.5, {"connect": 12.5, "read": 12.5, "write": 12.5, "pool": 12.5}),
        (3, {"connect": 3.0, "read": 3.0, "write": 3.0, "pool": 3.0}),
        (
            httpx.Timeout(5.0, read=120.0),
            {"connect": 5.0, "read": 120.0, "write": 5.0, "pool": 5.0},
        ),
    ],
)
def test_a_per_call_timeout_reaches_the_request(
    client: Client, httpx_mock: HTTPXMock, hello_wav: Path, timeout: Any, expected: dict[str, float]
) -> None:
    httpx_mock.add_response(json={})
    client.transcribe(hello_wav, model=MODEL, timeout=timeout)
    assert httpx_mock.get_request().extensions["timeout"] == expected


def test_client_and_default_timeouts(httpx_mock: HTTPXMock, hello_wav: Path) -> None:
    httpx_mock.add_response(json={})
    httpx_mock.add_response(json={})
    with Client(api_key=API_KEY, base_url=BASE_URL) as client:
        client.transcribe(hello_wav, model=MODEL)
    with Client(api_key=API_KEY, base_url=BASE_URL, timeout=30) as client:
        client.transcribe(hello_wav, model=MODEL)
    default, configured = httpx_mock.get_requests()
    assert default.extensions["timeout"] == DEFAULT_TIMEOUT.as_dict()
    assert configured.extensions["timeout"] == httpx.Timeout(30).as_dict()


@pytest.mark.parametrize("timeout", [0, -1, "5", True, math.nan])
def test_a_bad_timeout_is_refused(hello_wav: Path, timeout: Any) -> None:
    with pytest.raises(InvalidInputError) as info:
        Client(api_key=API_KEY, base_url=BASE_URL, timeout=timeout)
    assert info.value.param == "timeout"


@pytest.mark.parametrize("max_retries", [-1, True, 1.5, "2"])
def test_bad_max_retries_are_refused(max_retries: Any) -> None:
    with pytest.raises(InvalidInputError) as info:
        Client(api_key=API_KEY, base_url=BASE_URL, max_retries=max_retries)
    assert info.value.param == "max_retries"


def test_a_users_http_client_is_used_and_left_open(httpx_mock: HTTPXMock, hello_wav: Path) -> None:
    httpx_mock.add_response(json={})
    httpx_mock.add_response(json={})
    with httpx.Client(headers={"X-From-User-Client": "yes"}) as http_client:
        with Client(api_key=API_KEY, base_url=BASE_URL, http_client=http_client) as client:
            client.transcribe(hello_wav, model=MODEL)
        assert not http_client.is_closed
        client.close()
        assert not http_client.is_closed
        # Still usable by its owner.
        http_client.post(URL, content=b"x")
    request = httpx_mock.get_requests()[0]
    assert request.headers["x-from-user-client"] == "yes"
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert request.headers["user-agent"].startswith("transcribe-sdk/")


def test_its_own_http_client_is_closed() -> None:
    client = Client(api_key=API_KEY, base_url=BASE_URL)
    assert not client._http.is_closed
    client.close()
    assert client._http.is_closed
    with Client(api_key=API_KEY, base_url=BASE_URL) as client:
        pass
    assert client._http.is_closed


def test_an_http_client_of_another_kind_is_refused() -> None:
    with pytest.raises(InvalidInputError) as info:
        Client(api_key=API_KEY, base_url=BASE_URL, http_client=object())  # type: ignore[arg-type]
    assert info.value.param == "http_client"


# -- checks before anything is sent ---------------------------------------------------------

INVALID_CALLS: list[tuple[dict[str, Any], str]] = [
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
    ({"eu_native": 1}, "eu_native"),
    ({"allow_quantization": "true"}, "allow_quantization"),
    ({"allow_zero_data_retention": 1}, "allow_zero_data_retention"),
    ({"enable_model_fallback": "false"}, "enable_model_fallback"),
    ({"response_format": "xml"}, "response_format"),
    ({"model": ""}, "model"),
    ({"model": None}, "model"),
    ({"timestamp_granularities": "word", "response_format": "json"}, "timestamp_granularities"),
    ({"timestamp_granularities": "words"}, "timestamp_granularities"),
    ({"extra_body": {"language": "fr"}, "language": "en"}, "extra_body"),
    ({"extra_body": {"file": "x.wav"}}, "extra_body"),
    ({"extra_body": {"model": "other"}}, "extra_body"),
    ({"extra_headers": {"X-Count": 1}}, "extra_headers"),
    ({"timeout": 0}, "timeout"),
    ({"max_retries": -1}, "max_retries"),
    ({"deadline": 0}, "deadline"),
    ({"lang": "en"}, "lang"),
    ({"response_fromat": "text"}, "response_fromat"),
]


@pytest.mark.parametrize(("kwargs", "param"), INVALID_CALLS)
def test_bad_input_is_refused_before_sending(
    client: Client, httpx_mock: HTTPXMock, hello_wav: Path, kwargs: dict[str, Any], param: str
) -> None:
    call: dict[str, Any] = {"model": MODEL, **kwargs}
    with pytest.raises(InvalidInputError) as info:
        client.transcribe(hello_wav, **call)
    error = info.value
    assert error.param == param
    assert param in str(error)
    assert isinstance(error, ValueError)
    assert isinstance(error, TypeError)
    assert httpx_mock.get_requests() == []


def test_a_bad_file_is_refused_before_sending(
    client: Client, httpx_mock: HTTPXMock, tmp_path: Path
) -> None:
    with pytest.raises(InvalidFileError) as info:
        client.transcribe(tmp_path / "missing.wav", model=MODEL)
    assert info.value.param == "file"
    assert httpx_mock.get_requests() == []


def test_parameters_are_checked_before_the_file_is_read(
    client: Client, httpx_mock: HTTPXMock
) -> None:
    stream = OneShotStream(b"RIFF....WAVE")
    with pytest.raises(InvalidInputError) as info:
        client.transcribe(stream, model=MODEL, language="english")
    assert info.value.param == "language"
    assert stream.read() == b"RIFF....WAVE"  # not consumed


# -- the key stays secret -------------------------------------------------------------------


def test_the_key_is_not_in_reprs(client: Client) -> None:
    assert API_KEY not in repr(client)
    assert API_KEY not in str(client)
    assert API_KEY not in repr(client._auth)
    assert API_KEY not in str(client._auth)
    assert API_KEY not in repr(vars(client))


def test_the_auth_cannot_be_pickled_or_copied(client: Client) -> None:
    with pytest.raises(TypeError, match="cannot be pickled") as info:
        pickle.dumps(client._auth)
    assert API_KEY not in str(info.value)
    with pytest.raises(TypeError):
        copy.deepcopy(client._auth)


def _secret_leaks(error: BaseException | None) -> list[str]:
    """Every text about ``error`` and the exceptions chained to it that shows the key."""
    texts = []
    while error is not None:
        texts += [str(error), repr(error), repr(error.args), repr(vars(error))]
        error = error.__cause__ or error.__context__
    return [text for text in texts if API_KEY in text or API_KEY[-12:] in text]


def test_the_key_is_not_in_any_error(
    client: Client, httpx_mock: HTTPXMock, hello_wav: Path
) -> None:
    httpx_mock.add_response(
        status_code=401,
        json={"error": {"message": "Invalid API key", "type": "auth_error", "code": "401"}},
    )
    httpx_mock.add_response(status_code=500, text="boom")
    httpx_mock.add_response(json=["not", "an", "object"])
    httpx_mock.add_exception(httpx.ConnectError("connection refused"))
    httpx_mock.add_exception(httpx.ReadTimeout("timed out"))
    errors: list[BaseException] = []
    for _ in range(5):
        with pytest.raises(TranscribeError) as info:
            client.transcribe(hello_wav, model=MODEL)
        errors.append(info.value)
    with pytest.raises(TranscribeError) as info:
        client.transcribe(hello_wav, model=MODEL, language="english")
    errors.append(info.value)
    assert [type(error) for error in errors] == [
        AuthenticationError,
        InternalServerError,
        UnexpectedResponseError,
        APIConnectionError,
        APITimeoutError,
        InvalidInputError,
    ]
    for error in errors:
        assert _secret_leaks(error) == []
        assert API_KEY.encode() not in pickle.dumps(error)


def test_the_key_is_not_logged(
    http_client: httpx.Client,
    httpx_mock: HTTPXMock,
    hello_wav: Path,
    caplog: pytest.LogCaptureFixture,
    sleeps: list[float],
) -> None:
    caplog.set_level(logging.DEBUG)
    httpx_mock.add_response(json={"text": HELLO}, headers={"x-request-id": "req_ok"})
    httpx_mock.add_response(status_code=503, text="try later")
    httpx_mock.add_response(status_code=401, json={"error": {"message": "bad key"}})
    with Client(
        api_key=API_KEY, base_url=BASE_URL, max_retries=1, http_client=http_client
    ) as client:
        client.transcribe(hello_wav, model=MODEL, prompt="secret-free prompt")
        with pytest.raises(AuthenticationError):
            client.transcribe(hello_wav, model=MODEL)
    sdk_records = [r for r in caplog.records if r.name == "transcribe_sdk"]
    assert any("attempt 2" in r.getMessage() for r in sdk_records)
    assert any("retrying" in r.getMessage() for r in sdk_records)
    assert API_KEY not in caplog.text
    for record in caplog.records:
        assert API_KEY not in record.getMessage()
        assert API_KEY not in repr(record.args)
    assert len(sleeps) == 1


# -- errors from responses ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error_class"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (408, RequestTimeoutError),
        (409, ConflictError),
        (413, FileTooLargeError),
        (415, UnsupportedMediaTypeError),
        (422, UnprocessableEntityError),
        (429, RateLimitError),
        (500, InternalServerError),
        (502, InternalServerError),
        (503, InternalServerError),
        (504, InternalServerError),
        (418, APIStatusError),
    ],
)
def test_each_status_maps_to_its_error(
    client: Client,
    httpx_mock: HTTPXMock,
    hello_wav: Path,
    status: int,
    error_class: type[APIStatusError],
) -> None:
    body = {
        "error": {
            "message": f"Server says no ({status})",
            "type": "bad_request_error",
            "param": "language",
            "code": str(status),
        }
    }
    httpx_mock.add_response(status_code=status, json=body, headers={"x-request-id": "req_err_1"})
    with pytest.raises(APIStatusError) as info:
        client.transcribe(hello_wav, model=MODEL)
    error = info.value
    assert type(error) is error_class
    assert error.status_code == status
    assert error.request_id == "req_err_1"
    assert error.body == body
    assert (error.error_type, error.error_code, error.error_param) == (
        "bad_request_error",
        str(status),
        "language",
    )
    assert error.attempts == 1
    message = str(error)
    assert message.startswith(f"{status} ")
    assert f"POST {URL}" in message
    assert f"Server says no ({status})" in message
    assert "(param: language)" in message
    assert "(request id: req_err_1)" in message
    if error_class in (BadRequestError, UnprocessableEntityError):
        assert "Check the language parameter." in message  # the advice for what it names
    else:
        assert error_class.hint in message
    assert error.headers["x-request-id"] == "req_err_1"
    assert len(httpx_mock.get_requests()) == 1


@pytest.mark.parametrize(
    ("response", "body", "message", "details"),
    [
        pytest.param(
            {"json": {"error": {"message": "Rate limit reached", "type": "rl", "code": 429}}},
            {"error": {"message": "Rate limit reached", "type": "rl", "code": 429}},
            "Rate limit reached",
            ("rl", "429", None),
            id="openai-int-code",
        ),
        pytest.param(
            {
                "json": {
                    "error": {
                        "message": "Authentication Error, Invalid proxy server token passed.",
                        "type": "auth_error",
                        "param": "None",
                        "code": "401",
                    }
                }
            },
            {
                "error": {
                    "message": "Authentication Error, Invalid proxy server token passed.",
                    "type": "auth_error",
                    "param": "None",
                    "code": "401",
                }
            },
            "Authentication Error, Invalid proxy server token passed.",
            ("auth_error", "401", None),  # LiteLLM's "None" is no param
            id="litellm-str-code",
        ),
        pytest.param(
            {"json": {"error": "Budget exceeded for this API key"}},
            {"error": "Budget exceeded for this API key"},
            "Budget exceeded for this API key",
            (None, None, None),
            id="error-string",
        ),
        pytest.param(
            {"json": {"detail": "Model whisper-huge not found"}},
            {"detail": "Model whisper-huge not found"},
            "Model whisper-huge not found",
            (None, None, None),
            id="fastapi-detail-str",
        ),
        pytest.param(
            {
                "json": {
                    "detail": [
                        {
                            "loc": ["body", "language"],
                            "msg": "Input should be a valid language code",
                            "type": "value_error",
                        }
                    ]
                }
            },
            {
                "detail": [
                    {
                        "loc": ["body", "language"],
                        "msg": "Input should be a valid language code",
                        "type": "value_error",
                    }
                ]
            },
            "body.language: Input should be a valid language code",
            (None, None, None),
            id="fastapi-detail-list",
        ),
        pytest.param(
            {"text": "upstream connect error or disconnect/reset before headers"},
            "upstream connect error or disconnect/reset before headers",
            "upstream connect error or disconnect/reset before headers",
            (None, None, None),
            id="plain-text",
        ),
        pytest.param(
            {"content": b'{"error": {"message": "no content type"}}'},
            {"error": {"message": "no content type"}},
            "no content type",
            (None, None, None),
            id="json-without-content-type",
        ),
        pytest.param(
            {"content": b"", "headers": {"content-type": "application/json"}},
            "",
            "(empty body)",
            (None, None, None),
            id="empty",
        ),
    ],
)
def test_error_bodies_of_every_shape(
    client: Client,
    httpx_mock: HTTPXMock,
    hello_wav: Path,
    *,
    response: dict[str, Any],
    body: Any,
    message: str,
    details: tuple[str | None, str | None, str | None],
) -> None:
    headers = {"x-request-id": "req_shape", **response.pop("headers", {})}
    httpx_mock.add_response(status_code=400, headers=headers, **response)
    with pytest.raises(BadRequestError) as info:
        client.transcribe(hello_wav, model=MODEL)
    error = info.value
    assert error.body == body
    assert f": {message}" in str(error)
    assert "(request id: req_shape)" in str(error)
    assert (error.error_type, error.error_code, error.error_param) == details


@pytest.mark.parametrize(
    ("page", "status", "shown"),
    [
        (NGINX_502, 502, "502 Bad Gateway"),
        (CLOUDFLARE_PAGE, 403, "Just a moment..."),
        # A fragment without <html>: only the content type says it is HTML.
        ("<center><h1>403 Forbidden</h1></center><hr>", 403, "403 Forbidden"),
    ],
)
def test_an_html_error_page_gives_its_title(
    client: Client, httpx_mock: HTTPXMock, hello_wav: Path, *, page: str, status: int, shown: str
) -> None:
    httpx_mock.add_response(status_code=status, html=page, headers={"cf-ray": "8c1f2a-AMS"})
    with pytest.raises(APIStatusError) as info:
        client.transcribe(hello_wav, model=MODEL)
    message = str(info.value)
    assert f"from POST {URL}: {shown} (request id: 8c1f2a-AMS)" in message
    assert "<" not in message
    assert "nginx" not in message
    assert "var x" not in message
    assert info.value.body == page


def test_a_rate_limit_carries_retry_after(
    client: Client, httpx_mock: HTTPXMock, hello_wav: Path
) -> None:
    httpx_mock.add_response(
        status_code=429,
        json={"error": {"message": "Too many requests", "type": "rate_limit", "code": "429"}},
        headers={"retry-after": "7"},
    )
    with pytest.raises(RateLimitError) as info:
        client.transcribe(hello_wav, model=MODEL)
    assert info.value.retry_after == 7.0
    assert "wait 7 s" in str(info.value)


def test_file_too_large_names_the_upload_size(
    client: Client, httpx_mock: HTTPXMock, fixtures_dir: Path
) -> None:
    httpx_mock.add_response(status_code=413, text="Request Entity Too Large")
    with pytest.raises(FileTooLargeError) as info:
        client.transcribe(fixtures_dir / "long_speech.wav", model=MODEL)
    assert "Request Entity Too Large" in str(info.value)
    size = (fixtures_dir / "long_speech.wav").stat().st_size
    assert f"Request Entity Too Large. The upload was {size:,} bytes (1.9 MiB)." in str(info.value)


def test_a_long_error_body_is_cut(client: Client, httpx_mock: HTTPXMock, hello_wav: Path) -> None:
    httpx_mock.add_response(status_code=500, text="x" * 200_000)
    with pytest.raises(InternalServerError) as info:
        client.transcribe(hello_wav, model=MODEL)
    assert len(str(info.value)) < 1_000
    assert "[body truncated]" in str(info.value)


def test_errors_survive_pickling(client: Client, httpx_mock: HTTPXMock, hello_wav: Path) -> None:
    # concurrent.futures and multiprocessing pickle a worker's exception to hand it back.
    httpx_mock.add_response(
        status_code=429,
        json={"error": {"message": "slow down", "code": "429"}},
        headers={"retry-after": "2", "x-request-id": "req_p"},
    )
    with pytest.raises(RateLimitError) as info:
        client.transcribe(hello_wav, model=MODEL)
    with pytest.raises(InvalidInputError) as bad:
        client.transcribe(hello_wav, model=MODEL, language="english")
    for error in (info.value, bad.value, APIConnectionError("refused", attempts=3)):
        copy_ = pickle.loads(pickle.dumps(error))
        assert type(copy_) is type(error)
        assert str(copy_) == str(error)
        assert vars(copy_) == vars(error)
    assert pickle.loads(pickle.dumps(info.value)).retry_after == 2.0
    assert pickle.loads(pickle.dumps(bad.value)).param == "language"


# -- a success status with a body that is not a transcription --------------------------------


@pytest.mark.parametrize(
    ("response_format", "content", "content_type"),
    [
        (None, b"{not json", "application/json"),
        (None, b'[{"text": "a"}]', "application/json"),
        ("json", b'{"segments": "x"}', "application/json"),
        ("verbose_json", b'{"text": "a", "duration": "long"}', "application/json"),
        (None, b"", "application/json"),
        (None, b"", None),
        ("verbose_json", b"  \n", "text/plain"),
        (None, NGINX_502.encode(), "text/html"),
        ("text", NGINX_502.encode(), "text/html; charset=utf-8"),
        ("json", CLOUDFLARE_PAGE.encode(), None),
        (None, b"\x00\x01binary", "application/octet-stream"),
        (None, b'{"error": {"message": "quota exceeded"}}', "application/json"),
        ("text", b'{"no_text": 1}', "application/json"),
    ],
)
def test_an_unusable_success_body(
    client: Client,
    httpx_mock: HTTPXMock,
    hello_wav: Path,
    *,
    response_format: str | None,
    content: bytes,
    content_type: str | None,
) -> None:
    headers = {"x-request-id": "req_200"}
    if content_type:
        headers["content-type"] = content_type
    httpx_mock.add_response(content=content, headers=headers)
    with pytest.raises(UnexpectedResponseError) as info:
        client.transcribe(hello_wav, model=MODEL, response_format=response_format)
    error = info.value
    assert error.status_code == 200
    assert error.request_id == "req_200"
    assert "(request id: req_200)" in str(error)
    assert "<html" not in str(error).lower()
    assert not isinstance(error, APIStatusError)


# -- transport failures ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("exception", "error_class", "phrase"),
    [
        (httpx.ConnectError("[Errno 111] Connection refused"), APIConnectionError, "refused"),
        (httpx.RemoteProtocolError("Server disconnected"), APIConnectionError, "closed"),
        (httpx.ReadError("reset by peer"), APIConnectionError, "mid-request"),
        (httpx.ConnectTimeout("timed out"), APITimeoutError, "connect timeout"),
        (httpx.WriteTimeout("timed out"), APITimeoutError, "write timeout"),
        (httpx.ReadTimeout("timed out"), APITimeoutError, "read timeout"),
        (httpx.PoolTimeout("timed out"), APITimeoutError, "pool timeout"),
    ],
)
def test_transport_failures_become_our_errors(
    client: Client,
    httpx_mock: HTTPXMock,
    hello_wav: Path,
    *,
    exception: httpx.TransportError,
    error_class: type[APIConnectionError],
    phrase: str,
) -> None:
    httpx_mock.add_exception(exception)
    with pytest.raises(APIConnectionError) as info:
        client.transcribe(hello_wav, model=MODEL)
    error = info.value
    assert type(error) is error_class
    assert not isinstance(error, httpx.HTTPError)
    assert f"POST {URL}" in str(error)
    assert phrase in str(error)
    assert error.attempts == 1


# -- retries --------------------------------------------------------------------------------


def _assert_same_upload(requests: list[httpx.Request], data: bytes) -> None:
    first = requests[0]
    for request in requests:
        assert file_part(request).data == data
        assert form_fields(request) == form_fields(first)
        length = request.headers.get("content-length")  # a one-shot stream goes chunked
        if length is None:
            assert request.headers["transfer-encoding"] == "chunked"
        else:
            assert length == str(len(request.content))
        assert request.headers["authorization"] == f"Bearer {API_KEY}"


@pytest.mark.parametrize(
    "make_input",
    [
        pytest.param(lambda path: path, id="path"),
        pytest.param(lambda path: path.read_bytes(), id="bytes"),
        pytest.param(lambda path: io.BytesIO(path.read_bytes()), id="seekable"),
        pytest.param(lambda path: OneShotStream(path.read_bytes()), id="one-shot"),
    ],
)
def test_a_503_is_retried_with_the_whole_file(
    http_client: httpx.Client,
    httpx_mock: HTTPXMock,
    hello_wav: Path,
    sleeps: list[float],
    make_input: Any,
) -> None:
    httpx_mock.add_response(status_code=503, text="Service Unavailable")
    httpx_mock.add_response(json={"text": HELLO}, headers={"x-request-id": "req_second"})
    with Client(
        api_key=API_KEY, base_url=BASE_URL, max_retries=2, http_client=http_client
    ) as client:
        raw = client.with_raw_response.transcribe(make_input(hello_wav), model=MODEL, language="en")
    assert raw.parsed == Transcription(text=HELLO)
    assert raw.attempts == 2
    assert raw.request_id == "req_second"
    requests = httpx_mock.get_requests()
    assert len(requests) == 2
    _assert_same_upload(requests, hello_wav.read_bytes())
    assert len(sleeps) == 1
    assert 0 < sleeps[0] <= 0.5


def test_a_400_is_not_retried(
    http_client: httpx.Client, httpx_mock: HTTPXMock, hello_wav: Path, sleeps: list[float]
) -> None:
    httpx_mock.add_response(status_code=400, json={"error": {"message": "Invalid file format"}})
    with (
        Client(
            api_key=API_KEY, base_url=BASE_URL, max_retries=2, http_client=http_client
        ) as client,
        pytest.raises(BadRequestError) as info,
    ):
        client.transcribe(hello_wav, model=MODEL)
    assert info.value.attempts == 1
    assert len(httpx_mock.get_requests()) == 1
    assert sleeps == []


def test_retries_give_up_after_max_retries(
    http_client: httpx.Client, httpx_mock: HTTPXMock, hello_wav: Path, sleeps: list[float]
) -> None:
    for _ in range(3):
        httpx_mock.add_response(status_code=502, text="Bad Gateway")
    with (
        Client(
            api_key=API_KEY, base_url=BASE_URL, max_retries=2, http_client=http_client
        ) as client,
        pytest.raises(InternalServerError) as info,
    ):
        client.transcribe(hello_wav, model=MODEL)
    assert info.value.attempts == 3
    assert "Gave up after 3 attempts." in str(info.value)
    assert len(httpx_mock.get_requests()) == 3
    _assert_same_upload(httpx_mock.get_requests(), hello_wav.read_bytes())
    assert len(sleeps) == 2
    assert sleeps[1] > sleeps[0] / 2  # backoff grows (jitter takes at most a quarter)


def test_a_connection_failure_is_retried(
    http_client: httpx.Client, httpx_mock: HTTPXMock, hello_wav: Path, sleeps: list[float]
) -> None:
    httpx_mock.add_exception(httpx.ConnectError("refused"))
    httpx_mock.add_response(json={"text": HELLO})
    with Client(api_key=API_KEY, base_url=BASE_URL, http_client=http_client) as client:
        assert client.transcribe(hello_wav, model=MODEL).text == HELLO
    assert len(httpx_mock.get_requests()) == 2
    assert len(sleeps) == 1


def test_connection_failures_give_up_with_our_error(
    http_client: httpx.Client, httpx_mock: HTTPXMock, hello_wav: Path, sleeps: list[float]
) -> None:
    httpx_mock.add_exception(httpx.ReadTimeout("timed out"), is_reusable=True)
    with (
        Client(
            api_key=API_KEY, base_url=BASE_URL, max_retries=1, http_client=http_client
        ) as client,
        pytest.raises(APITimeoutError) as info,
    ):
        client.transcribe(hello_wav, model=MODEL)
    assert info.value.attempts == 2
    assert "Gave up after 2 attempts." in str(info.value)
    assert len(httpx_mock.get_requests()) == 2


def test_retry_after_ms_sets_the_wait(
    http_client: httpx.Client, httpx_mock: HTTPXMock, hello_wav: Path, sleeps: list[float]
) -> None:
    httpx_mock.add_response(status_code=429, headers={"retry-after-ms": "250"}, json={})
    httpx_mock.add_response(json={"text": HELLO})
    with Client(api_key=API_KEY, base_url=BASE_URL, http_client=http_client) as client:
        client.transcribe(hello_wav, model=MODEL)
    assert sleeps == [0.25]


def test_a_per_call_max_retries_overrides_the_clients(
    http_client: httpx.Client, httpx_mock: HTTPXMock, hello_wav: Path, sleeps: list[float]
) -> None:
    httpx_mock.add_response(status_code=503, text="down")
    with (
        Client(
            api_key=API_KEY, base_url=BASE_URL, max_retries=5, http_client=http_client
        ) as client,
        pytest.raises(InternalServerError),
    ):
        client.transcribe(hello_wav, model=MODEL, max_retries=0)
    assert len(httpx_mock.get_requests()) == 1
    assert sleeps == []
