"""Test code that calls transcribe-sdk without a network: scripted answers, recorded requests.

:class:`FakeServer` is an httpx transport (sync and async) that answers like a transcription
server. Script what it says, in order, with :meth:`~FakeServer.add_result`,
:meth:`~FakeServer.add_error` and :meth:`~FakeServer.add_response`; when nothing is scripted it
answers a plausible transcript in whatever ``response_format`` was asked. Every request is
recorded, decoded with python-multipart: its form fields and its file. A body that is not
well-formed multipart (cut short, a part without a name, ...) is recorded without fields and
answered with a 400, as a server would answer it, without using up a scripted answer.

Example::

    from transcribe_sdk.testing import FakeServer

    def test_my_code_handles_rate_limits():
        server = FakeServer()
        server.add_error(429, "slow down", retry_after=0)
        server.add_result("hello there", provider="ovh")
        with server.client() as client:
            assert my_code(client) == "hello there"
        assert len(server.requests) == 2
        assert server.requests[-1].field("model") == "whisper-large-v3"

The clients it makes go through the real request building, retries, parsing and error mapping,
so what your code sees is what it would see from a server. A scripted error with
``retry_after=0`` is retried at once; pass ``max_retries=0`` to see errors without retries.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from ._client.async_client import AsyncClient
from ._client.client import Client
from ._formats import SUBTITLE_FORMATS
from .local._forms import FormError, read_form
from .models import Segment
from .subtitles import to_srt, to_vtt

__all__ = [
    "LITELLM_HEADERS",
    "FakeServer",
    "RecordedFile",
    "RecordedRequest",
    "sse_body",
    "stream_events",
]

DEFAULT_TEXT = "This is a transcript from the fake server."
FAKE_BASE_URL = "http://fake-server.invalid/v1"
"""Where the clients of :meth:`FakeServer.client` send requests (nothing is sent anywhere)."""


@dataclass(frozen=True)
class RecordedFile:
    """The file part of a recorded request."""

    filename: str | None
    content_type: str | None
    data: bytes


@dataclass(frozen=True)
class RecordedRequest:
    """One request the fake server received, decoded."""

    method: str
    url: str
    headers: httpx.Headers = field(repr=False)
    fields: list[tuple[str, str]]
    file: RecordedFile | None

    def field(self, name: str) -> str | None:
        """The value sent as ``name`` (the last one if repeated), or ``None``."""
        values = [v for k, v in self.fields if k == name]
        return values[-1] if values else None

    def field_list(self, name: str) -> list[str]:
        """Every value sent as ``name[]`` (lists such as ``allowed_providers``)."""
        return [v for k, v in self.fields if k in (name, name + "[]")]


@dataclass
class _Answer:
    status: int
    headers: dict[str, str]
    body: bytes | None  # None: a transcript in the format the request asks for
    text: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    streams: bool = True  # False: a whole answer even to stream=true, as some servers do


def sse_body(events: Sequence[Mapping[str, Any] | str]) -> bytes:
    """Events as a ``text/event-stream`` body: ``data: ...`` and a blank line each (a ``str``
    is sent as it is, such as vLLM's ``"[DONE]"``)."""
    parts = (e if isinstance(e, str) else json.dumps(e) for e in events)
    return b"".join(b"data: " + p.encode() + b"\n\n" for p in parts)


def stream_events(
    text: str, *, usage: Mapping[str, Any] | None = None, cut_off: bool = False
) -> list[dict[str, Any]]:
    """OpenAI's events for ``text``: a delta per word, then ``transcript.text.done`` (left
    out when ``cut_off``, as a broken connection would)."""
    words = text.split(" ")
    events: list[dict[str, Any]] = [
        {"type": "transcript.text.delta", "delta": w if i == 0 else " " + w}
        for i, w in enumerate(words)
    ]
    if cut_off:
        return events[: max(1, len(events) // 2)]
    done: dict[str, Any] = {"type": "transcript.text.done", "text": text}
    if usage is not None:
        done["usage"] = dict(usage)
    events.append(done)
    return events


LITELLM_HEADERS: Mapping[str, str] = {
    "x-litellm-call-id": "3f1c9a2e-7b4d-4c55-9e1a-0d2b6c8f4a17",
    "x-litellm-model-id": "b7e2d0c4f5a6",
    "x-litellm-model-group": "whisper-large-v3",
    "x-litellm-model-api-base": "https://whisper.eu-west.example-provider.net/v1",
    "x-litellm-attempted-retries": "0",
    "x-litellm-attempted-fallbacks": "1",
    "x-litellm-response-duration-ms": "1432.7",
    "x-litellm-response-cost": "0.00018",
    "llm_provider-x-ratelimit-remaining-requests": "499",
}
"""Response headers as a LiteLLM-based router sends them with a transcription (made-up
values), for :meth:`FakeServer.add_result`'s ``response_headers``."""

_SSE_HEADERS = {"content-type": "text/event-stream", "cache-control": "no-cache"}


def _decode(
    content_type: str, body: bytes
) -> tuple[list[tuple[str, str]], RecordedFile | None, FormError | None]:
    """The fields and file of a multipart body; a body of another type has none, and a
    malformed multipart one gives its :class:`FormError` instead."""
    if not content_type.lower().lstrip().startswith("multipart/form-data"):
        return [], None, None
    try:
        # A router takes long fields (known_speaker_references are data URLs of up to 10 s
        # of audio each): the fake bounds a field only by the body it already holds.
        form = read_form(content_type, body, max_field_bytes=len(body))
    except FormError as exc:
        return [], None, exc
    try:
        upload = form.upload
        recorded = (
            RecordedFile(upload.filename, upload.content_type, upload.file.read())
            if upload is not None
            else None
        )
    finally:
        form.close()
    return form.fields, recorded, None


def _malformed_answer(error: FormError) -> _Answer:
    body = {
        "error": {
            "message": f"The request body is not valid multipart/form-data: {error}",
            "type": "invalid_request_error",
            "param": error.param,
            "code": "400",
        }
    }
    headers = {"content-type": "application/json", "x-request-id": "fake-req-400"}
    return _Answer(400, headers, json.dumps(body).encode())


def _default_answer(
    request: RecordedRequest, text: str, extra: Mapping[str, Any], streams: bool = True
) -> _Answer:
    fmt = request.field("response_format") or "json"
    if streams and request.field("stream") == "true":
        events = stream_events(text, usage=extra.get("usage"))
        return _Answer(200, dict(_SSE_HEADERS), sse_body(events))
    segments = [{"id": 0, "start": 0.0, "end": 2.0, "text": " " + text}]
    if fmt == "text":
        return _Answer(200, {"content-type": "text/plain"}, text.encode())
    if fmt in SUBTITLE_FORMATS:
        cues = [Segment.model_validate(s) for s in segments]
        rendered = to_srt(cues) if fmt == "srt" else to_vtt(cues)
        return _Answer(200, {"content-type": "text/plain"}, rendered.encode())
    payload: dict[str, Any] = {
        "id": "fake-1",
        "object": "audio.transcription",
        "created": 1715155200,
        "provider": "fake",
        "model": request.field("model"),
        "text": text,
        "language": request.field("language") or "en",
    }
    if fmt == "verbose_json":
        payload.update(duration=2.0, segments=segments)
        if "word" in request.field_list("timestamp_granularities"):
            payload["words"] = [
                {"word": w, "start": i * 0.2, "end": i * 0.2 + 0.2}
                for i, w in enumerate(text.split())
            ]
    payload.update(extra)
    return _Answer(200, {"content-type": "application/json"}, json.dumps(payload).encode())


class FakeServer(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """A scripted, recording stand-in for a transcription server (an httpx transport)."""

    def __init__(self, default_text: str = DEFAULT_TEXT) -> None:
        self.default_text = default_text
        self.requests: list[RecordedRequest] = []
        self._script: deque[_Answer] = deque()
        self._lock = threading.Lock()

    # -- scripting ------------------------------------------------------------------------
    def add_result(
        self,
        text: str = DEFAULT_TEXT,
        *,
        response_headers: Mapping[str, str] | None = None,
        **fields: Any,
    ) -> None:
        """Answer the next request with this transcript; ``fields`` add to the JSON
        (``provider="ovh"``, ``segments=[...]``, ``usage={...}``). A ``text`` request gets the
        text as plain text; ``srt``/``vtt`` requests get it as one cue from 0 to 2 seconds. A
        ``stream=true`` request gets this whole answer too, as a server that does not stream
        would send it (script :meth:`add_stream` for events). ``response_headers`` are sent
        with it, e.g. a router's (:data:`LITELLM_HEADERS`)."""
        headers = dict(response_headers or {})
        self._script.append(_Answer(200, headers, None, text, fields, streams=False))

    def add_error(
        self,
        status: int,
        message: str = "fake error",
        *,
        retry_after: float | None = None,
        error_type: str | None = None,
        param: str | None = None,
    ) -> None:
        """Answer the next request with an OpenAI-style error body."""
        headers = {"content-type": "application/json", "x-request-id": f"fake-req-{status}"}
        if retry_after is not None:
            headers["retry-after"] = f"{retry_after:g}"
        body = {
            "error": {
                "message": message,
                "type": error_type or "fake_error",
                "param": param,
                "code": str(status),
            }
        }
        self._script.append(_Answer(status, headers, json.dumps(body).encode()))

    def add_response(
        self,
        status: int = 200,
        *,
        json_body: Any = None,
        text: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Answer the next request with exactly this status, body and headers."""
        all_headers = dict(headers or {})
        if json_body is not None:
            all_headers.setdefault("content-type", "application/json")
            body = json.dumps(json_body).encode()
        else:
            all_headers.setdefault("content-type", "text/plain")
            body = (text or "").encode()
        self._script.append(_Answer(status, all_headers, body))

    def add_stream(
        self,
        text: str = DEFAULT_TEXT,
        *,
        usage: Mapping[str, Any] | None = None,
        cut_off: bool = False,
        events: Sequence[Mapping[str, Any] | str] | None = None,
    ) -> None:
        """Answer the next request with an event stream: a ``transcript.text.delta`` per word
        of ``text``, then ``transcript.text.done`` with ``usage``. ``cut_off=True`` stops half
        way with no ``done`` (a dropped connection); ``events`` sends exactly those events
        instead (any shape: Mistral's, vLLM's, unknown types).

        A request with ``stream=true`` and nothing scripted gets the default text streamed.
        """
        chosen = (
            list(events)
            if events is not None
            else stream_events(text, usage=usage, cut_off=cut_off)
        )
        self._script.append(_Answer(200, dict(_SSE_HEADERS), sse_body(chosen)))

    # -- clients --------------------------------------------------------------------------
    def client(self, **kwargs: Any) -> Client:
        """A :class:`~transcribe_sdk.Client` that talks to this fake server."""
        kwargs.setdefault("api_key", "test-key")
        kwargs.setdefault("base_url", FAKE_BASE_URL)
        return Client(http_client=httpx.Client(transport=self), **kwargs)

    def async_client(self, **kwargs: Any) -> AsyncClient:
        """An :class:`~transcribe_sdk.AsyncClient` that talks to this fake server."""
        kwargs.setdefault("api_key", "test-key")
        kwargs.setdefault("base_url", FAKE_BASE_URL)
        return AsyncClient(http_client=httpx.AsyncClient(transport=self), **kwargs)

    # -- transport ------------------------------------------------------------------------
    def _answer(self, request: httpx.Request, body: bytes) -> httpx.Response:
        fields, recorded_file, malformed = _decode(request.headers.get("content-type", ""), body)
        recorded = RecordedRequest(
            request.method, str(request.url), request.headers, fields, recorded_file
        )
        with self._lock:
            self.requests.append(recorded)
            if malformed is not None:
                answer = _malformed_answer(malformed)
            else:
                answer = self._script.popleft() if self._script else _Answer(200, {}, None)
        if answer.body is None:
            text = self.default_text if answer.text is None else answer.text
            scripted = answer.headers
            answer = _default_answer(recorded, text, answer.extra, answer.streams)
            answer.headers.update(scripted)
        return httpx.Response(
            answer.status, headers=answer.headers, content=answer.body, request=request
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Record ``request`` and give the next scripted answer (httpx's sync interface)."""
        return self._answer(request, request.read())

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Record ``request`` and give the next scripted answer (httpx's async interface)."""
        return self._answer(request, await request.aread())
