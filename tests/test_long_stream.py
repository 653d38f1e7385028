"""``transcribe_long(..., stream=True)``: pieces streamed in order as one stream of events."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest

from transcribe_sdk import InvalidInputError
from transcribe_sdk.models import DurationUsage
from transcribe_sdk.streaming import TranscriptTextDelta, TranscriptTextDone, TranscriptTextSegment
from transcribe_sdk.testing import FakeServer

pytest.importorskip("av")

FIXTURES = Path(__file__).parent / "fixtures"
LONG = FIXTURES / "long_speech.wav"  # 63 s: three pieces at 25 s
KINDS = ["sync", "async"]


def run(kind: str, fake: FakeServer, file: Path, **kwargs: Any) -> list[Any]:
    kwargs.setdefault("model", "m")
    if kind == "sync":
        with (
            fake.client() as client,
            client.transcribe_long(file, stream=True, **kwargs) as events,
        ):
            return list(events)

    async def main() -> list[Any]:
        async with fake.async_client() as client:
            stream = await client.transcribe_long(file, stream=True, **kwargs)
            async with stream:
                return [event async for event in stream]

    return anyio.run(main)


def piece_events(word: str) -> list[dict[str, Any]]:
    return [
        {"type": "transcript.text.segment", "id": "0", "start": 1.0, "end": 2.5, "text": word},
        {"type": "transcript.text.delta", "delta": word},
        {
            "type": "transcript.text.done",
            "text": word,
            "usage": {"type": "duration", "seconds": 20},
        },
    ]


@pytest.mark.parametrize("kind", KINDS)
def test_pieces_stream_in_order_with_times_on_the_whole_file(kind: str) -> None:
    fake = FakeServer()
    for word in ("one", "two", "three"):
        fake.add_stream(events=piece_events(word))
    events = run(kind, fake, LONG, max_chunk_seconds=25)
    assert len(fake.requests) == 3
    assert all(r.field("stream") == "true" for r in fake.requests)
    deltas = [e.delta for e in events if isinstance(e, TranscriptTextDelta)]
    assert deltas == ["one", " two", " three"]
    starts = [e.start for e in events if isinstance(e, TranscriptTextSegment)]
    assert starts[0] == 1.0
    assert 20 < starts[1] - starts[0] <= 25  # moved by where the second piece starts
    assert starts[2] > starts[1]
    done = events[-1]
    assert isinstance(done, TranscriptTextDone)
    assert done.text == "one two three"
    assert done.usage == DurationUsage(seconds=60)


@pytest.mark.parametrize("kind", KINDS)
def test_pieces_answered_whole_become_deltas(kind: str) -> None:
    fake = FakeServer()
    for word in ("alpha", "beta", "gamma"):
        fake.add_result(word)
    events = run(kind, fake, LONG, max_chunk_seconds=25)
    assert [e.delta for e in events if isinstance(e, TranscriptTextDelta)] == [
        "alpha",
        " beta",
        " gamma",
    ]
    assert events[-1].text == "alpha beta gamma"


@pytest.mark.parametrize("kind", KINDS)
def test_a_short_file_is_one_streamed_call(kind: str) -> None:
    fake = FakeServer()
    fake.add_stream("short file")
    events = run(kind, fake, FIXTURES / "hello.wav")
    assert len(fake.requests) == 1
    assert events[-1].text == "short file"


def test_stopping_early_sends_no_more_pieces() -> None:
    fake = FakeServer()
    for word in ("one", "two", "three"):
        fake.add_stream(events=piece_events(word))
    with (
        fake.client() as client,
        client.transcribe_long(LONG, model="m", max_chunk_seconds=25, stream=True) as events,
    ):
        first = next(iter(events))
    assert isinstance(first, TranscriptTextSegment)
    assert len(fake.requests) == 1


def test_a_stream_cannot_be_filtered() -> None:
    fake = FakeServer()
    with fake.client() as client, pytest.raises(InvalidInputError, match="cannot filter"):
        client.transcribe_long(LONG, model="m", stream=True, silence_filter=True)
