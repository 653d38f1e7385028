"""Streams against servers that misbehave around the end: a reset or a held connection after
the last event, a server that ignored ``stream``, a server's own error event, bodies built to
cost the decoder time or memory. Real sockets on 127.0.0.1 (``tests/socket_server.py``)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from internals import INFLATE_PIECE, BodyDecoder, error_payload
from socket_server import JSON, Answer, Truncate
from socket_server import ScriptedServer as FaultServer

from transcribe_sdk import AsyncClient, Client
from transcribe_sdk.streaming import TranscriptTextDelta, TranscriptTextDone

pytestmark = pytest.mark.network

HELLO = Path(__file__).parent / "fixtures" / "hello.wav"
SSE = (("Content-Type", "text/event-stream"),)


def sse(*payloads: Any) -> bytes:
    return b"".join(b"data: " + json.dumps(p).encode() + b"\n\n" for p in payloads)


FINISHED = sse(
    {"type": "transcript.text.delta", "delta": "Paid"},
    {"type": "transcript.text.delta", "delta": " for."},
    {"type": "transcript.text.done", "text": "Paid for."},
)


def stream_sync(base_url: str, **kwargs: Any) -> tuple[list[Any], str]:
    with (
        Client(base_url=base_url, api_key="k", max_retries=0, **kwargs) as client,
        client.transcribe(HELLO, model="m", stream=True) as stream,
    ):
        events = list(stream)
        return events, stream.text


def stream_async(base_url: str, **kwargs: Any) -> tuple[list[Any], str]:
    async def main() -> tuple[list[Any], str]:
        async with AsyncClient(base_url=base_url, api_key="k", max_retries=0, **kwargs) as client:
            stream = await client.transcribe(HELLO, model="m", stream=True)
            async with stream:
                events = [event async for event in stream]
            return events, stream.text

    return anyio.run(main)


RUN = {"sync": stream_sync, "async": stream_async}


# -- 1. a finished stream ends at its done event -------------------------------------------------
@pytest.mark.parametrize("kind", ["sync", "async"])
@pytest.mark.parametrize("then", ["reset", "hold"])
def test_a_finished_stream_ends_at_its_done_event(kind: str, then: str) -> None:
    # The body promises far more than it sends; after the done event the server either resets
    # the connection (after a pause, so the events are read first) or holds it open for longer
    # than the test waits. The transcript is whole either way: no error, no wait.
    hold = 0.5 if then == "reset" else 10.0
    script = [Truncate(1 << 20, FINISHED, headers=SSE, then=then, hold=hold)]
    with FaultServer(script) as server:
        events, text = RUN[kind](server.base_url, timeout=30)
        # The client hung up at the done event: the server's connection is gone long before
        # its hold would have ended it.
        assert server.wait_until_idle(timeout=5.0)
    assert [type(e) for e in events] == [TranscriptTextDelta] * 2 + [TranscriptTextDone]
    assert text == "Paid for."


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_stream_cut_before_its_done_event_is_still_an_error(kind: str) -> None:
    from transcribe_sdk.errors import StreamInterruptedError

    half = sse({"type": "transcript.text.delta", "delta": "Half"})
    script = [Truncate(1 << 20, half, headers=SSE, then="reset", hold=0.3)]
    with FaultServer(script) as server, pytest.raises(StreamInterruptedError) as caught:
        RUN[kind](server.base_url, timeout=30)
    assert caught.value.text == "Half"


def test_the_connection_after_a_done_event_is_not_reused() -> None:
    # Stopping at the done event leaves the body unread: the connection is closed, never put
    # back in the pool with bytes still coming; the next call opens a fresh one and succeeds.
    answer = Answer(200, SSE, FINISHED + b": trailing bytes nobody reads\n\n")
    ok = Answer(200, JSON, b'{"text": "next"}')
    with FaultServer([answer, ok]) as server:
        with Client(base_url=server.base_url, api_key="k", max_retries=0) as client:
            with client.transcribe(HELLO, model="m", stream=True) as stream:
                assert list(stream)[-1].text == "Paid for."
            assert client.transcribe(HELLO, model="m").text == "next"
        assert server.connections == 2


# -- 3. a stream the server ignored ----------------------------------------------------------------
WHOLE = json.dumps({"text": "Whole answer.", "usage": {"type": "duration", "seconds": 3}}).encode()
LITELLM = (*JSON, ("x-litellm-call-id", "call-7"), ("x-litellm-response-cost", "0.0012"))


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_stream_the_server_ignored_has_its_text(kind: str) -> None:
    # LiteLLM drops ``stream`` and answers one JSON body: the stream still gives the whole text,
    # as one done event, on ``.text`` before and after iterating, with the request's id and route.
    seen: dict[str, Any] = {}

    def sync(base_url: str) -> list[Any]:
        with (
            Client(base_url=base_url, api_key="k", max_retries=0) as client,
            client.transcribe(HELLO, model="m", stream=True) as stream,
        ):
            seen["before"] = stream.text
            events = list(stream)
            seen.update(after=stream.text, id=stream.request_id, cost=stream.route.cost)
            seen["closed"] = stream.http_response.is_closed
            return events

    async def run_async(base_url: str) -> list[Any]:
        async with AsyncClient(base_url=base_url, api_key="k", max_retries=0) as client:
            stream = await client.transcribe(HELLO, model="m", stream=True)
            seen["before"] = stream.text
            async with stream:
                events = [event async for event in stream]
            seen.update(after=stream.text, id=stream.request_id, cost=stream.route.cost)
            seen["closed"] = stream.http_response.is_closed
            return events

    with FaultServer([Answer(200, LITELLM, WHOLE)]) as server:
        events = sync(server.base_url) if kind == "sync" else anyio.run(run_async, server.base_url)
    assert [type(e) for e in events] == [TranscriptTextDone]
    assert events[0].text == "Whole answer."
    assert events[0].usage is not None
    assert seen == {
        "before": "Whole answer.",
        "after": "Whole answer.",
        "id": "call-7",
        "cost": 0.0012,
        "closed": True,
    }


def test_a_stream_the_fake_server_answered_whole_has_its_text() -> None:
    from transcribe_sdk.testing import FakeServer

    fake = FakeServer()
    fake.add_result("Whole answer.")
    with fake.client() as client, client.transcribe(HELLO, model="m", stream=True) as stream:
        assert stream.text == "Whole answer."
        assert [e.text for e in stream] == ["Whole answer."]
        assert stream.text == "Whole answer."


# -- 4. the server's own error event ---------------------------------------------------------------
def serve_error_event() -> bytes:
    # The bytes serve sends when it shuts down mid-stream (transcribe_sdk/server/_app.py).
    payload = error_payload(503, "the server is shutting down", None, "server_shutting_down")
    return b"data: " + json.dumps(payload).encode() + b"\n\n"


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_the_servers_error_event_is_a_typed_error_with_its_words(kind: str) -> None:
    from transcribe_sdk import StreamFailedError, StreamInterruptedError

    body = sse({"type": "transcript.text.delta", "delta": "So far"}) + serve_error_event()
    body += sse({"type": "transcript.text.delta", "delta": " never read"})
    # After its error event the server holds the connection: the client stops there anyway.
    with FaultServer([Truncate(1 << 20, body, headers=SSE, then="hold")]) as server:
        with pytest.raises(StreamFailedError) as caught:
            RUN[kind](server.base_url, timeout=30)
        assert server.wait_until_idle(timeout=5.0)
    error = caught.value
    assert isinstance(error, StreamInterruptedError)
    assert "the server is shutting down" in str(error)
    assert "server_shutting_down" in str(error)
    assert (error.error_code, error.error_type, error.error_param) == (
        "server_shutting_down",
        "server_error",
        None,
    )
    assert error.text == "So far"
    assert error.body["error"]["message"] == "the server is shutting down"


def test_the_events_before_the_error_are_delivered() -> None:
    from transcribe_sdk import StreamFailedError

    body = sse({"type": "transcript.text.delta", "delta": "So far"}) + serve_error_event()
    seen: list[Any] = []

    def read(base_url: str) -> None:
        with (
            Client(base_url=base_url, api_key="k", max_retries=0) as client,
            client.transcribe(HELLO, model="m", stream=True) as stream,
        ):
            seen.extend(stream)

    with FaultServer([Answer(200, SSE, body)]) as server, pytest.raises(StreamFailedError):
        read(server.base_url)
    assert [e.delta for e in seen] == ["So far"]


# -- 2. bodies built to cost the decoder -----------------------------------------------------------
def gzipped(data: bytes) -> bytes:
    import gzip

    return gzip.compress(data, compresslevel=9)


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_gzip_body_of_blank_lines_costs_little(kind: str) -> None:
    # ~32 KB on the wire, 32 MiB of blank lines once inflated, then the events: read in well
    # under a second here (the quadratic decoder needed hours). The bound is wide on purpose.
    body = gzipped(b"\n" * (32 << 20) + FINISHED)
    assert len(body) < 64 * 1024
    headers = (*SSE, ("Content-Encoding", "gzip"))
    with FaultServer([Answer(200, headers, body)]) as server:
        started = time.monotonic()
        events, text = RUN[kind](server.base_url, timeout=60)
        assert time.monotonic() - started < 30
    assert text == "Paid for."
    assert events[-1].type == "transcript.text.done"


def test_a_gzip_body_of_lines_that_add_nothing_is_refused() -> None:
    # Comments are legal, but 16 Mi of them between two events is a body built to burn a core:
    # refused at MAX_IDLE_LINES, long before the end.
    from transcribe_sdk.errors import StreamInterruptedError

    body = gzipped(b":\n" * (16 << 20) + FINISHED)
    headers = (*SSE, ("Content-Encoding", "gzip"))
    with (
        FaultServer([Answer(200, headers, body)]) as server,
        pytest.raises(StreamInterruptedError, match="lines came without an event"),
    ):
        stream_sync(server.base_url, timeout=60)


def test_the_servers_error_event_never_shows_the_key() -> None:
    from transcribe_sdk import StreamFailedError

    key = "sk-live-0123456789abcdef"
    event = {"error": {"message": f"bad header Authorization: Bearer {key}", "code": "x"}}
    with (
        FaultServer([Answer(200, SSE, sse(event))]) as server,
        Client(base_url=server.base_url, api_key=key, max_retries=0) as client,
        client.transcribe(HELLO, model="m", stream=True) as stream,
        pytest.raises(StreamFailedError) as caught,
    ):
        list(stream)
    assert key not in str(caught.value)
    assert key not in repr(caught.value.body)
    assert "[redacted]" in str(caught.value)


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_gzip_members_in_a_row_and_broken_gzip(kind: str) -> None:
    from transcribe_sdk.errors import StreamInterruptedError

    half = len(FINISHED) // 2
    members = gzipped(FINISHED[:half]) + gzipped(FINISHED[half:])  # one body, two members
    broken = gzipped(FINISHED)[:20] + b"not gzip at all" * 10
    headers = (*SSE, ("Content-Encoding", "gzip"))
    with FaultServer([Answer(200, headers, members), Answer(200, headers, broken)]) as server:
        events, text = RUN[kind](server.base_url)
        assert (events[-1].type, text) == ("transcript.text.done", "Paid for.")
        with pytest.raises(StreamInterruptedError, match="not valid gzip"):
            RUN[kind](server.base_url)


def test_the_inflater_gives_bounded_pieces() -> None:
    body = gzipped(b"\n" * (8 << 20))  # 8 MiB from about 8 KB: one feed
    pieces = list(BodyDecoder(["gzip"]).feed(body))
    assert sum(map(len, pieces)) == 8 << 20
    assert max(map(len, pieces)) <= INFLATE_PIECE


@pytest.mark.parametrize("kind", ["sync", "async"])
@pytest.mark.parametrize(
    "done",
    [
        {"type": "transcript.text.done", "text": None},
        {"type": "transcript.text.done", "text": "Paid for.", "logprobs": "none"},
        {
            "type": "transcript.text.done",
            "text": "Paid for.",
            "usage": {"type": "tokens", "input_tokens": "n/a"},
        },
    ],
)
def test_a_done_event_with_a_field_gone_wrong_still_ends_the_stream(
    kind: str, done: dict[str, Any]
) -> None:
    # The server holds the connection after its last event: a done event read as unknown would
    # leave the client waiting, then call the whole transcript cut off.
    body = sse(
        {"type": "transcript.text.delta", "delta": "Paid"},
        {"type": "transcript.text.delta", "delta": " for."},
        done,
    )
    with FaultServer([Truncate(1 << 20, body, headers=SSE, then="hold", hold=10.0)]) as server:
        events, text = RUN[kind](server.base_url, timeout=30)
        assert server.wait_until_idle(timeout=5.0)  # the client hung up at the done event
    assert isinstance(events[-1], TranscriptTextDone)
    assert text == "Paid for."


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_an_error_event_in_plain_text_is_the_servers_error(kind: str) -> None:
    from transcribe_sdk.errors import StreamFailedError

    body = sse({"type": "transcript.text.delta", "delta": "Half"}) + (
        b"event: error\ndata: upstream model crashed\n\n"
    )
    with (
        FaultServer([Answer(200, SSE, body)]) as server,
        pytest.raises(StreamFailedError, match="upstream model crashed") as caught,
    ):
        RUN[kind](server.base_url)
    assert caught.value.text == "Half"
