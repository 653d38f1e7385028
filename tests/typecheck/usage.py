"""What a user's editor infers for each call: checked by mypy --strict and pyright --strict.

Never imported by the suite's other tests; ``tests/test_typing.py`` runs both type checkers on
this file, then runs it against a :class:`~transcribe_sdk.testing.FakeServer`, so every call
here is one that works. ``assert_type`` fails a checker that infers any other type.
"""

from __future__ import annotations

from typing_extensions import assert_type

from transcribe_sdk import (
    AsyncClient,
    BatchResult,
    Client,
    RawResponse,
    Route,
    Segment,
    Transcription,
    VerboseTranscription,
    total_cost,
)
from transcribe_sdk.models import DiarizedTranscription
from transcribe_sdk.streaming import (
    AsyncPiecewiseStream,
    AsyncTranscriptionStream,
    PiecewiseStream,
    StreamEvent,
    TranscriptionStream,
)


def sync_calls(client: Client, audio: str) -> None:
    """Every ``response_format`` of the blocking client, and its streams."""
    assert_type(client.transcribe(audio, model="m"), Transcription)
    assert_type(client.transcribe(audio, model="m", response_format="json"), Transcription)
    assert_type(
        client.transcribe(audio, model="m", response_format="verbose_json"), VerboseTranscription
    )
    assert_type(client.transcribe(audio, model="m", response_format="text"), str)
    assert_type(client.transcribe(audio, model="m", response_format="srt"), str)
    assert_type(client.transcribe(audio, model="m", response_format="vtt"), str)
    assert_type(
        client.transcribe(audio, model="m", response_format="diarized_json"),
        DiarizedTranscription,
    )
    with client.transcribe(audio, model="m", stream=True) as stream:
        assert_type(stream, TranscriptionStream)
        for event in stream:
            assert_type(event, StreamEvent)

    assert_type(client.transcribe_long(audio, model="m"), Transcription)
    assert_type(
        client.transcribe_long(audio, model="m", response_format="verbose_json"),
        VerboseTranscription,
    )
    assert_type(client.transcribe_long(audio, model="m", response_format="srt"), str)
    assert_type(
        client.transcribe_long(audio, model="m", response_format="diarized_json"),
        DiarizedTranscription,
    )
    with client.transcribe_long(audio, model="m", stream=True) as pieces:
        assert_type(pieces, PiecewiseStream)
        for event in pieces:
            assert_type(event, StreamEvent)

    assert_type(client.transcribe_many([audio], model="m"), list[BatchResult[Transcription]])
    assert_type(
        client.transcribe_many([audio], model="m", response_format="text"),
        list[BatchResult[str]],
    )
    assert_type(
        client.transcribe_many([audio], model="m", response_format="diarized_json"),
        list[BatchResult[DiarizedTranscription]],
    )
    raw = client.with_raw_response.transcribe(audio, model="m", response_format="verbose_json")
    assert_type(raw, RawResponse[VerboseTranscription])
    assert_type(raw.parsed.segments, list[Segment] | None)
    assert_type(raw.route, Route)
    assert_type(raw.route.cost, float | None)
    assert_type(raw.parsed.route.attempted_retries, int | None)
    assert_type(raw.warnings, tuple[UserWarning, ...])
    items = client.transcribe_many([audio], model="m", response_format="srt")
    assert_type(items[0].route, Route | None)
    assert_type(total_cost(items), float | None)
    assert_type(
        client.with_raw_response.transcribe(audio, model="m", response_format="diarized_json"),
        RawResponse[DiarizedTranscription],
    )


def open_calls(client: Client, audio: str, fmt: str, flag: bool) -> None:
    """A format or ``stream`` known only at run time: the union of what it can be."""
    assert_type(
        client.transcribe(audio, model="m", response_format=fmt),
        Transcription | VerboseTranscription | str,
    )
    result = client.transcribe(audio, model="m", stream=flag)
    assert_type(result, Transcription | VerboseTranscription | str | TranscriptionStream)
    if isinstance(result, TranscriptionStream):
        with result:
            assert_type(result.text, str)


async def async_calls(client: AsyncClient, audio: str) -> None:
    """The same for the async client: the same types, awaited."""
    assert_type(await client.transcribe(audio, model="m"), Transcription)
    assert_type(
        await client.transcribe(audio, model="m", response_format="verbose_json"),
        VerboseTranscription,
    )
    assert_type(await client.transcribe(audio, model="m", response_format="text"), str)
    assert_type(await client.transcribe(audio, model="m", response_format="srt"), str)
    assert_type(await client.transcribe(audio, model="m", response_format="vtt"), str)
    assert_type(
        await client.transcribe(audio, model="m", response_format="diarized_json"),
        DiarizedTranscription,
    )
    stream = await client.transcribe(audio, model="m", stream=True)
    assert_type(stream, AsyncTranscriptionStream)
    async with stream:
        async for event in stream:
            assert_type(event, StreamEvent)

    assert_type(await client.transcribe_long(audio, model="m"), Transcription)
    assert_type(
        await client.transcribe_long(audio, model="m", response_format="verbose_json"),
        VerboseTranscription,
    )
    assert_type(await client.transcribe_long(audio, model="m", response_format="vtt"), str)
    pieces = await client.transcribe_long(audio, model="m", stream=True)
    assert_type(pieces, AsyncPiecewiseStream)
    async with pieces:
        async for event in pieces:
            assert_type(event, StreamEvent)

    assert_type(await client.transcribe_many([audio], model="m"), list[BatchResult[Transcription]])
    raw = await client.with_raw_response.transcribe(audio, model="m", response_format="text")
    assert_type(raw, RawResponse[str])
