"""``silence_filter``: segments a server scored as silence are dropped, for any server.

The answers below are what Whisper servers send for a clip with speech and a hallucinated
"Thank you." over silence (scores as openai-whisper reports them). Requests go through
pytest-httpx, so the contract (what is asked for, what comes back) is checked without a server.
"""

from __future__ import annotations

import json
import math
from typing import Any

import anyio
import httpx
import pytest
from pytest_httpx import HTTPXMock

from transcribe_sdk import (
    AsyncClient,
    Client,
    InvalidInputError,
    SilenceFilter,
    Transcription,
    VerboseTranscription,
)

URL = "http://127.0.0.1:9/v1"
FILE = ("clip.wav", b"RIFF\x00\x00\x00\x00WAVEfmt ")


def segment(
    i: int, span: tuple[float, float], text: str, nsp: float, logprob: float
) -> dict[str, Any]:
    return {
        "id": i,
        "seek": 0,
        "start": span[0],
        "end": span[1],
        "text": text,
        "tokens": [1, 2],
        "temperature": 0.0,
        "avg_logprob": logprob,
        "compression_ratio": 1.2,
        "no_speech_prob": nsp,
    }


VERBOSE = {
    "task": "transcribe",
    "language": "english",
    "duration": 9.0,
    "text": " Hello there. Thank you. Goodbye.",
    "provider": "ovh",
    "model": "whisper-large-v3",
    "segments": [
        segment(0, (0.0, 2.0), " Hello there.", 0.01, -0.2),
        segment(1, (2.0, 6.0), " Thank you.", 0.93, -1.4),  # silence, made-up text
        segment(2, (6.0, 9.0), " Goodbye.", 0.05, -0.3),
    ],
    "words": [
        {"word": "Hello", "start": 0.1, "end": 0.5},
        {"word": "there.", "start": 0.6, "end": 1.0},
        {"word": "Thank", "start": 3.0, "end": 3.3},
        {"word": "you.", "start": 3.4, "end": 3.8},
        {"word": "Goodbye.", "start": 6.5, "end": 7.0},
    ],
    "usage": {"type": "duration", "seconds": 9},
}


@pytest.fixture
def client() -> Any:
    with Client(api_key="sk-test", base_url=URL, max_retries=0) as sync:
        yield sync


def sent_format(request: httpx.Request) -> str:
    body = request.read()
    marker = b'name="response_format"\r\n\r\n'
    start = body.index(marker) + len(marker)
    return body[start : body.index(b"\r\n", start)].decode()


def test_off_by_default(client: Client, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(json=VERBOSE)
    result = client.transcribe(FILE, model="m", response_format="verbose_json")
    assert len(result.segments or []) == 3
    assert result.dropped_segments is None


@pytest.mark.parametrize("fmt", ["json", None])
def test_json_asks_for_verbose_and_returns_the_json_shape(
    client: Client, httpx_mock: HTTPXMock, fmt: str | None
) -> None:
    httpx_mock.add_response(json=VERBOSE, headers={"x-request-id": "req-1"})
    result = client.transcribe(FILE, model="m", response_format=fmt, silence_filter=True)
    assert sent_format(httpx_mock.get_request()) == "verbose_json"
    assert type(result) is Transcription
    assert result.text == "Hello there. Goodbye."
    assert result.dropped_segments == 1
    assert result.provider == "ovh"
    assert result.request_id == "req-1"


def test_verbose_json_loses_the_segment_and_its_words(
    client: Client, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(json=VERBOSE)
    result = client.transcribe(
        FILE, model="m", response_format="verbose_json", silence_filter=SilenceFilter()
    )
    assert isinstance(result, VerboseTranscription)
    assert [s.text for s in result.segments or []] == [" Hello there.", " Goodbye."]
    assert [s.id for s in result.segments or []] == [0, 1]
    assert [w.word for w in result.words or []] == ["Hello", "there.", "Goodbye."]
    assert result.duration == 9.0  # the audio's length is unchanged
    assert result.dropped_segments == 1


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ("text", "Hello there. Goodbye."),
        ("srt", "1\n00:00:00,000 --> 00:00:02,000\nHello there.\n\n"),
        ("vtt", "WEBVTT\n\n00:00:00.000 --> 00:00:02.000\nHello there.\n\n"),
    ],
)
def test_text_and_subtitles_are_rebuilt_from_what_remains(
    client: Client, httpx_mock: HTTPXMock, fmt: str, expected: str
) -> None:
    httpx_mock.add_response(json=VERBOSE)
    result = client.transcribe(FILE, model="m", response_format=fmt, silence_filter=True)
    assert sent_format(httpx_mock.get_request()) == "verbose_json"
    assert isinstance(result, str)
    assert result.startswith(expected)
    assert "Thank you" not in result


@pytest.mark.parametrize(("fmt", "asked"), [("srt", True), ("vtt", True), ("text", False)])
def test_subtitles_ask_for_a_segment_a_phrase(
    client: Client, httpx_mock: HTTPXMock, fmt: str, asked: bool
) -> None:
    # The local engine decodes batched (a segment a window of up to 30 s) unless asked.
    httpx_mock.add_response(json=VERBOSE)
    client.transcribe(FILE, model="m", response_format=fmt, silence_filter=True)
    body = httpx_mock.get_request().read()  # type: ignore[union-attr]
    marker = b'name="timestamp_granularities[]"\r\n\r\nsegment\r\n'
    assert (marker in body) is asked


def test_thresholds_decide(client: Client, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(json=VERBOSE)
    httpx_mock.add_response(json=VERBOSE)
    strict = SilenceFilter(no_speech_threshold=0.95)  # 0.93 is not above it: kept
    kept = client.transcribe(FILE, model="m", silence_filter=strict)
    assert kept.dropped_segments == 0
    assert "Thank you." in kept.text
    lenient = SilenceFilter(logprob_threshold=-0.1)  # now every segment's logprob is "low"
    dropped = client.transcribe(FILE, model="m", silence_filter=lenient)
    assert dropped.dropped_segments == 1  # only one also has a high no_speech_prob


def test_segments_without_scores_are_kept(client: Client, httpx_mock: HTTPXMock) -> None:
    plain = json.loads(json.dumps(VERBOSE))
    for item in plain["segments"]:
        del item["no_speech_prob"]
    httpx_mock.add_response(json=plain)
    result = client.transcribe(FILE, model="m", silence_filter=True)
    assert result.dropped_segments == 0
    assert result.text.strip() == VERBOSE["text"].strip()  # whitespace: one rule for every call


def test_a_server_that_ignores_the_format_still_gives_the_text(
    client: Client, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(json={"text": "Just text."})
    result = client.transcribe(FILE, model="m", silence_filter=True)
    assert (result.text, result.dropped_segments) == ("Just text.", 0)


def test_async_client_filters_too(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(json=VERBOSE)

    async def main() -> Any:
        async with AsyncClient(api_key="sk-test", base_url=URL, max_retries=0) as aclient:
            return await aclient.transcribe(FILE, model="m", silence_filter=True)

    result = anyio.run(main)
    assert (result.text, result.dropped_segments) == ("Hello there. Goodbye.", 1)


def test_transcribe_many_filters_each_file(client: Client, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(json=VERBOSE, is_reusable=True)
    results = client.transcribe_many([FILE, FILE], model="m", silence_filter=True)
    assert [r.result.dropped_segments for r in results if r.ok] == [1, 1]


@pytest.mark.parametrize(
    "value",
    ["yes", 1, 0.6],
)
def test_bad_option_is_refused_before_sending(
    client: Client, httpx_mock: HTTPXMock, value: Any
) -> None:
    with pytest.raises(InvalidInputError, match="silence_filter"):
        client.transcribe(FILE, model="m", silence_filter=value)
    assert httpx_mock.get_requests() == []


@pytest.mark.parametrize(
    "kwargs",
    [
        {"no_speech_threshold": 1.5},
        {"no_speech_threshold": math.nan},
        {"logprob_threshold": 0.5},
        {"logprob_threshold": "low"},
        {"no_speech_threshold": True},
    ],
)
def test_bad_thresholds_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(InvalidInputError, match="SilenceFilter"):
        SilenceFilter(**kwargs)


def test_transcribe_long_adds_up_what_each_piece_dropped(
    client: Client, httpx_mock: HTTPXMock
) -> None:
    pytest.importorskip("av")
    from conftest import FIXTURES

    httpx_mock.add_response(json=VERBOSE, is_reusable=True)
    result = client.transcribe_long(
        FIXTURES / "long_speech.wav", model="m", max_chunk_seconds=25, silence_filter=True
    )
    pieces = len(httpx_mock.get_requests())
    assert pieces >= 3
    assert all(sent_format(r) == "verbose_json" for r in httpx_mock.get_requests())
    assert type(result) is Transcription
    assert result.dropped_segments == pieces
    assert "Thank you" not in result.text
