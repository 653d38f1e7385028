"""``transcribe(..., stream=True)`` on both clients: typed events as they arrive, the same
request building, errors and retries before the first event, and servers that do not stream."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import anyio
import pytest

from transcribe_sdk import AsyncClient, Client, InvalidInputError, NotFoundError
from transcribe_sdk.errors import StreamInterruptedError
from transcribe_sdk.models import DurationUsage, TokenUsage
from transcribe_sdk.streaming import (
    AsyncTranscriptionStream,
    TranscriptionStream,
    TranscriptTextDelta,
    TranscriptTextDone,
    UnknownStreamEvent,
)
from transcribe_sdk.testing import FakeServer

HELLO = Path(__file__).parent / "fixtures" / "hello.wav"
USAGE = {"type": "tokens", "input_tokens": 5, "output_tokens": 4, "total_tokens": 9}


def collect_sync(fake: FakeServer, **kwargs: Any) -> tuple[list[Any], TranscriptionStream]:
    with fake.client(**kwargs) as client:
        stream = client.transcribe(HELLO, model="gpt-4o-transcribe", stream=True)
        with stream:
            return list(stream), stream


def collect_async(fake: FakeServer, **kwargs: Any) -> list[Any]:
    async def main() -> list[Any]:
        async with fake.async_client(**kwargs) as client:
            stream = await client.transcribe(HELLO, model="gpt-4o-transcribe", stream=True)
            assert isinstance(stream, AsyncTranscriptionStream)
            async with stream:
                return [event async for event in stream]

    return anyio.run(main)


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_events_arrive_typed(kind: str) -> None:
    fake = FakeServer()
    fake.add_stream("Hello there world.", usage=USAGE)
    events = collect_sync(fake)[0] if kind == "sync" else collect_async(fake)
    assert [type(e) for e in events] == [TranscriptTextDelta] * 3 + [TranscriptTextDone]
    assert "".join(e.delta for e in events[:-1]) == "Hello there world."
    assert events[-1].text == "Hello there world."
    assert events[-1].usage == TokenUsage(input_tokens=5, output_tokens=4, total_tokens=9)
    assert fake.requests[0].field("stream") == "true"
    assert fake.requests[0].file is not None  # the same upload as any call


def test_the_stream_knows_its_request_and_text() -> None:
    fake = FakeServer()
    fake.add_stream("One two.")
    _, stream = collect_sync(fake)
    assert stream.text == "One two."
    assert stream.http_response.is_closed


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_server_that_ignores_stream_gives_one_done_event(kind: str) -> None:
    fake = FakeServer()
    fake.add_result("Whole answer.", usage={"type": "duration", "seconds": 3})
    events = collect_sync(fake)[0] if kind == "sync" else collect_async(fake)
    assert len(events) == 1
    assert isinstance(events[0], TranscriptTextDone)
    assert events[0].text == "Whole answer."
    assert events[0].usage == DurationUsage(seconds=3)


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_errors_before_the_first_event_are_typed_and_retried(kind: str) -> None:
    fake = FakeServer()
    fake.add_error(429, "slow down", retry_after=0)
    fake.add_stream("Finally.")
    events = (
        collect_sync(fake, max_retries=1)[0]
        if kind == "sync"
        else collect_async(fake, max_retries=1)
    )
    assert events[-1].text == "Finally."
    assert len(fake.requests) == 2
    fake = FakeServer()
    fake.add_error(404, "no such model")
    with pytest.raises(NotFoundError):
        collect_sync(fake) if kind == "sync" else collect_async(fake)


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_stream_cut_off_is_a_typed_error_with_the_text_so_far(kind: str) -> None:
    fake = FakeServer()
    fake.add_stream("one two three four five six", cut_off=True)
    with pytest.raises(StreamInterruptedError) as caught:
        collect_sync(fake, max_retries=3) if kind == "sync" else collect_async(fake, max_retries=3)
    assert caught.value.text == "one two three"
    assert len(fake.requests) == 1  # never re-sent once events were delivered


def test_other_servers_shapes_and_unknown_events() -> None:
    fake = FakeServer()
    fake.add_stream(
        events=[
            {"type": "transcription.language", "audio_language": "fr"},
            {"type": "transcription.text.delta", "text": "Bonjour"},
            {"type": "transcription.done", "text": "Bonjour", "usage": {"prompt_audio_seconds": 2}},
        ]
    )
    events = collect_sync(fake)[0]
    assert isinstance(events[0], UnknownStreamEvent)
    assert events[1] == TranscriptTextDelta(delta="Bonjour")
    assert events[2].text == "Bonjour"


def test_nothing_scripted_streams_the_default_text() -> None:
    events = collect_sync(FakeServer("Default words here."))[0]
    assert events[-1].text == "Default words here."


def test_stopping_early_releases_the_connection() -> None:
    fake = FakeServer()
    fake.add_stream("a b c d e f")
    with fake.client() as client:
        with client.transcribe(HELLO, model="m", stream=True) as stream:
            first = next(iter(stream))
        assert first.delta == "a"
        assert stream.http_response.is_closed


def test_stream_must_be_a_bool_and_cannot_be_filtered() -> None:
    fake = FakeServer()
    with fake.client() as client:
        with pytest.raises(InvalidInputError, match="stream"):
            client.transcribe(HELLO, model="m", stream="yes")  # type: ignore[call-overload]
        with pytest.raises(InvalidInputError, match="cannot filter a stream"):
            client.transcribe(HELLO, model="m", stream=True, silence_filter=True)
    assert fake.requests == []


# -- for real: a server on 127.0.0.1 that holds its last event until the client has the first --
class _Held(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    release = threading.Event()

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", "0"))
        remaining = length
        while remaining:
            remaining -= len(self.rfile.read(min(remaining, 65536)))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        def chunk(event: dict[str, Any]) -> None:
            data = b"data: " + json.dumps(event).encode() + b"\n\n"
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

        chunk({"type": "transcript.text.delta", "delta": "early"})
        _Held.release.wait(timeout=10)
        chunk({"type": "transcript.text.done", "text": "early late"})
        self.wfile.write(b"0\r\n\r\n")


@pytest.fixture
def held_server() -> Iterator[str]:
    _Held.release.clear()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Held)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    _Held.release.set()
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def test_events_are_delivered_as_they_arrive(held_server: str) -> None:
    with (
        Client(base_url=held_server, api_key="k", timeout=20) as client,
        client.transcribe(HELLO, model="m", stream=True) as stream,
    ):
        events = iter(stream)
        first = next(events)  # the server is still holding its last event
        assert not _Held.release.is_set()
        assert first.delta == "early"
        _Held.release.set()
        rest = list(events)
    assert rest[-1].text == "early late"


def test_async_events_are_delivered_as_they_arrive(held_server: str) -> None:
    async def main() -> list[Any]:
        async with AsyncClient(base_url=held_server, api_key="k", timeout=20) as client:
            stream = await client.transcribe(HELLO, model="m", stream=True)
            seen = []
            async with stream:
                async for event in stream:
                    if not seen:
                        assert not _Held.release.is_set()
                        _Held.release.set()
                    seen.append(event)
            return seen

    events = anyio.run(main)
    assert [e.type for e in events] == ["transcript.text.delta", "transcript.text.done"]
