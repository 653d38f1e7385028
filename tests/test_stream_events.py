"""Reading transcription event streams (pure: bytes in, typed events out), every server's shape."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from internals import EventTooLargeError, ServerSentEvent, SSEDecoder

from transcribe_sdk.errors import APIConnectionError, StreamInterruptedError
from transcribe_sdk.models import DurationUsage, TokenUsage
from transcribe_sdk.streaming import (
    EventReader,
    TranscriptTextDelta,
    TranscriptTextDone,
    TranscriptTextSegment,
    UnknownStreamEvent,
)


def sse(*payloads: Any, end: str = "\n") -> bytes:
    out = []
    for payload in payloads:
        data = payload if isinstance(payload, str) else json.dumps(payload)
        out.append(f"data: {data}{end}{end}")
    return "".join(out).encode()


OPENAI = sse(
    {"type": "transcript.text.delta", "delta": "Hello"},
    {
        "type": "transcript.text.delta",
        "delta": " world.",
        "logprobs": [{"token": " world", "logprob": -0.1, "bytes": [32]}],
    },
    {
        "type": "transcript.text.done",
        "text": "Hello world.",
        "usage": {"type": "tokens", "input_tokens": 10, "output_tokens": 3, "total_tokens": 13},
    },
)


def read_all(body: bytes, chunks: list[int] | None = None) -> tuple[list[Any], EventReader]:
    reader = EventReader()
    events: list[Any] = []
    cuts = sorted(set(chunks or []))
    start = 0
    for cut in [*cuts, len(body)]:
        events += reader.feed(body[start:cut])
        start = cut
    events += reader.finish()
    return events, reader


def test_openai_events_are_typed() -> None:
    events, reader = read_all(OPENAI)
    assert [type(e) for e in events] == [
        TranscriptTextDelta,
        TranscriptTextDelta,
        TranscriptTextDone,
    ]
    assert events[1].logprobs[0].logprob == -0.1
    assert events[2].text == "Hello world."
    assert events[2].usage == TokenUsage(input_tokens=10, output_tokens=3, total_tokens=13)
    assert reader.text == "Hello world."


@given(st.lists(st.integers(min_value=0, max_value=len(OPENAI)), max_size=20))
def test_any_chunking_gives_the_same_events(cuts: list[int]) -> None:
    events, _ = read_all(OPENAI, cuts)
    assert [e.model_dump() for e in events] == [e.model_dump() for e in read_all(OPENAI)[0]]


@pytest.mark.parametrize("end", ["\n", "\r\n", "\r"])
def test_every_line_ending(end: str) -> None:
    events, _ = read_all(
        sse(
            {"type": "transcript.text.delta", "delta": "a"},
            {"type": "transcript.text.done", "text": "a"},
            end=end,
        )
    )
    assert [e.type for e in events] == ["transcript.text.delta", "transcript.text.done"]


def test_comments_event_names_and_multiline_data() -> None:
    decoder = SSEDecoder()
    body = b': keep-alive\n\nevent: transcript.text.delta\nid: 7\ndata: {"delta":\ndata: "x"}\n\n'
    assert decoder.feed(body) == [ServerSentEvent('{"delta":\n"x"}', "transcript.text.delta", "7")]
    # the event name gives the type when the data has none
    events, _ = read_all(body + sse({"type": "transcript.text.done"}))
    assert isinstance(events[0], TranscriptTextDelta)
    assert events[0].delta == "x"
    assert events[1].text == "x"  # a done without text gets the text that arrived


def test_diarized_segments() -> None:
    body = sse(
        {
            "type": "transcript.text.segment",
            "id": "seg_0",
            "start": 0,
            "end": 1.5,
            "text": "Hi",
            "speaker": "A",
        },
        {"type": "transcript.text.done", "text": "Hi"},
    )
    events, _ = read_all(body)
    assert events[0] == TranscriptTextSegment(id="seg_0", start=0, end=1.5, text="Hi", speaker="A")


def test_mistral_shape() -> None:
    body = sse(
        {"type": "transcription.language", "audio_language": "en"},
        {"type": "transcription.text.delta", "text": "Bonjour"},
        {
            "type": "transcription.segment",
            "text": "Bonjour",
            "start": 0.0,
            "end": 1.0,
            "speaker_id": "s1",
        },
        {
            "type": "transcription.done",
            "text": "Bonjour",
            "model": "voxtral",
            "usage": {"prompt_audio_seconds": 1, "total_tokens": 9},
        },
    )
    events, _ = read_all(body)
    assert isinstance(events[0], UnknownStreamEvent)
    assert events[0].type == "transcription.language"
    assert events[0].data["audio_language"] == "en"
    assert events[1] == TranscriptTextDelta(delta="Bonjour")
    assert (events[2].speaker, events[2].id) == ("s1", "0")
    assert isinstance(events[3], TranscriptTextDone)
    assert events[3].text == "Bonjour"
    assert isinstance(events[3].usage, TokenUsage)
    assert events[3].usage.total_tokens == 9


def test_vllm_chat_style_chunks() -> None:
    def chunk(content: str | None, usage: Any = None) -> dict[str, Any]:
        return {
            "id": "trsc-1",
            "object": "transcription.chunk",
            "choices": [{"delta": {"content": content} if content else {}, "finish_reason": None}],
            **({"usage": usage} if usage else {}),
        }

    body = sse(
        chunk("The quick"),
        chunk(" brown fox."),
        chunk(None, {"prompt_tokens": 5, "total_tokens": 9}),
        "[DONE]",
    )
    events, _reader = read_all(body)
    assert [e.type for e in events] == [
        "transcript.text.delta",
        "transcript.text.delta",
        "transcript.text.done",
    ]
    assert events[-1].text == "The quick brown fox."
    assert events[-1].usage.total_tokens == 9


def test_unknown_and_malformed_events_are_kept() -> None:
    body = sse(
        {"type": "transcript.text.keepalive"},
        "not json",
        {"type": "transcript.text.done", "text": ""},
    )
    events, _ = read_all(body)
    assert events[0] == UnknownStreamEvent(
        type="transcript.text.keepalive", data={"type": "transcript.text.keepalive"}
    )
    assert events[1] == UnknownStreamEvent(type="message", data="not json")
    assert isinstance(events[2], TranscriptTextDone)


def test_a_stream_cut_off_says_how_much_text_arrived() -> None:
    reader = EventReader()
    reader.feed(sse({"type": "transcript.text.delta", "delta": "Half a sen"}))
    with pytest.raises(StreamInterruptedError) as caught:
        reader.finish()
    assert isinstance(caught.value, APIConnectionError)
    assert caught.value.text == "Half a sen"
    assert "10 characters" in str(caught.value)


def test_an_endless_line_is_refused_at_the_bound() -> None:
    decoder = SSEDecoder(max_event_bytes=1000)
    for _ in range(9):
        decoder.feed(b"data: " + b"x" * 100)  # 954 bytes pending, no line end yet
    with pytest.raises(ValueError, match="longer than 1000 bytes"):
        decoder.feed(b"data: " + b"x" * 100)
    reader = EventReader()
    reader._decoder = SSEDecoder(max_event_bytes=1000)
    with pytest.raises(StreamInterruptedError):
        reader.feed(b"data: " + b"y" * 2000)


def test_nothing_counts_after_the_end() -> None:
    events, _ = read_all(
        sse(
            {"type": "transcript.text.done", "text": "a"},
            {"type": "transcript.text.delta", "delta": "b"},
        )
    )
    assert [e.type for e in events] == ["transcript.text.done"]


def test_duration_usage_on_done() -> None:
    events, _ = read_all(
        sse(
            {
                "type": "transcript.text.done",
                "text": "a",
                "usage": {"type": "duration", "seconds": 3},
            }
        )
    )
    assert events[0].usage == DurationUsage(seconds=3)


@pytest.mark.parametrize(
    "event",
    [
        'data: {"error": {"message": "overloaded", "type": "server_error", "code": "busy"}}\n\n',
        'data: {"type": "error", "error": {"message": "overloaded", "code": "busy"}}\n\n',
        'event: error\ndata: {"message": "overloaded", "code": "busy"}\n\n',
        'data: {"object": "error", "message": "overloaded", "code": "busy"}\n\n',
    ],
)
def test_every_error_event_shape_ends_the_stream_with_its_words(event: str) -> None:
    from transcribe_sdk.errors import StreamFailedError

    reader = EventReader()
    body = sse({"type": "transcript.text.delta", "delta": "Hi"}) + event.encode()
    body += sse({"type": "transcript.text.done", "text": "Hi there"})
    events = reader.feed(body)
    assert [e.type for e in events] == ["transcript.text.delta"]
    assert reader.over
    with pytest.raises(StreamFailedError, match="overloaded") as caught:
        reader.finish()
    assert caught.value.error_code == "busy"
    assert caught.value.text == "Hi"


# -- linear and bounded ---------------------------------------------------------------------------
def reference_events(body: bytes) -> list[ServerSentEvent]:
    """The WHATWG rules, written the plain way: split the whole body into lines, then read."""
    text = body.decode("utf-8", errors="replace").replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    lines.pop()  # what follows the last line end is not a line (yet)
    events, data, name, last_id = [], [], None, None
    for line in lines:
        if not line:
            if data:
                events.append(ServerSentEvent("\n".join(data), name or None, last_id))
            data, name = [], None
            continue
        field, colon, value = line.partition(":")
        value = value[1:] if colon and value.startswith(" ") else value
        if field == "data":
            data.append(value)
        elif field == "event":
            name = value
        elif field == "id" and "\0" not in value:
            last_id = value
    return events


TOKENS = ["data: a", "data:b", "data", "event: e", "id: 7", ": note", "\n", "\r", "\r\n", "\n\n"]


@given(
    st.lists(st.sampled_from(TOKENS), max_size=40),
    st.lists(st.integers(min_value=0, max_value=200), max_size=10),
)
def test_the_decoder_agrees_with_the_rules_on_any_line_ends_and_chunks(
    tokens: list[str], cuts: list[int]
) -> None:
    body = "".join(tokens).encode()
    decoder = SSEDecoder()
    got: list[ServerSentEvent] = []
    start = 0
    for cut in [*sorted(c for c in set(cuts) if c <= len(body)), len(body)]:
        got += decoder.feed(body[start:cut])
        start = cut
    assert got == reference_events(body)


@pytest.mark.parametrize("end", [b"\n", b"\r", b"\r\n"])
def test_millions_of_blank_lines_are_read_in_linear_time(end: bytes) -> None:
    # 4 Mi blank lines, then an event: the quadratic decoder took minutes on \n or \r alone
    # (1 Mi took 6-7 s); this one takes a fraction of a second. The bound is wide on purpose.
    body = end * (4 << 20) + b"data: x" + end * 2
    decoder = SSEDecoder()
    started = time.monotonic()
    got = []
    for start in range(0, len(body), 65536):
        got += decoder.feed(body[start : start + 65536])
    assert time.monotonic() - started < 20
    assert got == [ServerSentEvent("x")]


def test_lines_that_add_nothing_are_bounded() -> None:
    decoder = SSEDecoder(max_idle_lines=1000)
    decoder.feed(b": keep-alive\n" * 1000 + b"data: x\n\n")  # an event resets the count
    decoder.feed(b": keep-alive\n" * 1000)
    with pytest.raises(EventTooLargeError, match="more than 1000 lines"):
        decoder.feed(b"junk\n")
    with pytest.raises(StreamInterruptedError, match="lines came without an event"):
        EventReader().feed(b"x\n" * 200_000)


def test_text_builds_in_linear_time() -> None:
    # 200k deltas: ``text += delta`` took 11-13 s for 50k; the bound is wide on purpose.
    delta = b'data: {"type": "transcript.text.delta", "delta": "w "}\n\n'
    reader = EventReader()
    started = time.monotonic()
    for _ in range(200):
        reader.feed(delta * 1000)
    assert time.monotonic() - started < 60
    assert reader.text == "w " * 200_000


def test_a_leading_byte_order_mark_is_dropped_wherever_the_chunks_split_it() -> None:
    # Servers writing "UTF-8 with BOM" (.NET's default encoder) start the body with EF BB BF;
    # kept, it turns the first line's "data" into "\ufeffdata" and the first event is lost.
    body = b"\xef\xbb\xbfdata: first\n\ndata: second\n\n"
    for cut in range(len(body) + 1):
        for second_cut in (cut, min(cut + 1, len(body)), min(cut + 2, len(body))):
            decoder = SSEDecoder()
            events = decoder.feed(body[:cut])
            events += decoder.feed(body[cut:second_cut])
            events += decoder.feed(body[second_cut:])
            assert [e.data for e in events] == ["first", "second"], (cut, second_cut)
    # Only one, only at the start: a BOM later on is the data's own.
    decoder = SSEDecoder()
    events = decoder.feed(b"\xef\xbb\xbf\xef\xbb\xbfdata: x\n\ndata: \xef\xbb\xbfy\n\n")
    assert [e.data for e in events] == ["\ufeffy"]
