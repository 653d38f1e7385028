"""Stream events and the reader that makes them: event-stream bytes in, typed events out.

The event classes are public in :mod:`transcribe_sdk.streaming` (which re-exports them); this
module holds them beside :class:`EventReader`, the I/O-free decoding both stream shells drive:
OpenAI's events, Mistral's and vLLM's shapes read as the same events, and a server's error
event raised as :class:`~transcribe_sdk.errors.StreamFailedError`.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Literal, TypeAlias

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError

from ._error_words import stream_error
from ._http.sse import EventTooLargeError, ServerSentEvent, SSEDecoder
from .errors import StreamFailedError, StreamInterruptedError
from .models import Logprob, LooseStr, Usage  # noqa: TC001  (pydantic reads the fields at run time)


class _Event(BaseModel):
    """The base of every stream event: fields a server adds are kept, never refused."""

    model_config: ClassVar[ConfigDict] = ConfigDict(extra="allow", protected_namespaces=())


class TranscriptTextDelta(_Event):
    """More of the transcript: ``delta`` follows the text of the events before it."""

    type: Literal["transcript.text.delta"] = "transcript.text.delta"
    delta: str = ""
    logprobs: list[Logprob] | None = None
    segment_id: LooseStr | None = None


class TranscriptTextSegment(_Event):
    """A finished segment: its text, its times in seconds and, when diarizing, its speaker."""

    type: Literal["transcript.text.segment"] = "transcript.text.segment"
    id: LooseStr | None = None
    start: float | None = None
    end: float | None = None
    text: str = ""
    speaker: str | None = None


class TranscriptTextDone(_Event):
    """The end of the stream: the whole ``text`` and what the request cost (``usage``)."""

    type: Literal["transcript.text.done"] = "transcript.text.done"
    text: str = ""
    logprobs: list[Logprob] | None = None
    usage: Usage = None


class UnknownStreamEvent(_Event):
    """An event of a type this version does not know, kept whole in ``data``."""

    type: str
    data: Any = None


StreamEvent: TypeAlias = (
    TranscriptTextDelta | TranscriptTextSegment | TranscriptTextDone | UnknownStreamEvent
)
"""Any event a stream yields; tell them apart by ``type`` (or ``isinstance``)."""


class EventReader:
    """Pure code: event-stream bytes in, :data:`StreamEvent` values out.

    Keeps the text so far, so a stream that ends without its ``done`` event can say how much
    arrived, and so vLLM's ``[DONE]`` can be given the whole text.
    """

    def __init__(self) -> None:
        self._decoder = SSEDecoder()
        # The text so far, appended in place: ``text += delta`` copies the whole text at every
        # delta (quadratic in a long stream), and a list of deltas costs an object each.
        self._text = io.StringIO()
        self.done: bool = False
        """Whether the stream's last event (``done``, or vLLM's ``[DONE]``) has arrived."""
        self.failure: StreamFailedError | None = None
        """The server's error event, once one has arrived: the stream ends there."""
        self._usage: Any = None
        self._segments = 0

    def feed(self, chunk: bytes) -> list[StreamEvent]:
        """The events completed by ``chunk``, the next bytes of the body, in order."""
        try:
            raw = self._decoder.feed(chunk)
        except EventTooLargeError as exc:
            raise self.interrupted(str(exc)) from None
        return [e for sse in raw for e in self._events(sse)]

    @property
    def text(self) -> str:
        """The transcript so far: every delta's text, or the ``done`` event's whole text."""
        return self._text.getvalue()

    def _add(self, delta: str) -> None:
        self._text.write(delta)

    @property
    def over(self) -> bool:
        """Whether the stream has ended (its last event, or the server's error event): the
        rest of the body is not read."""
        return self.done or self.failure is not None

    def finish(self) -> list[StreamEvent]:
        """The events left at the end of the body (or where the stream ended); raises the
        server's error, or an error when the stream was cut short."""
        events = []
        if not self.over:
            events = [e for sse in self._decoder.flush() for e in self._events(sse)]
        if self.failure is not None:
            raise self.failure
        if not self.done:
            raise self.interrupted("the server ended the stream before its last event")
        return events

    def interrupted(self, why: str) -> StreamInterruptedError:
        """The error for a stream cut off for reason ``why``, holding the text so far."""
        return StreamInterruptedError(
            f"The transcription stream was cut off: {why}. {len(self.text)} characters of "
            "text had arrived (on the error as .text); the request was not retried, since "
            "events had already been delivered.",
            text=self.text,
        )

    def _events(self, sse: ServerSentEvent) -> list[StreamEvent]:
        if self.over:
            return []  # nothing counts after the end (vLLM sends [DONE] after its last chunk)
        if sse.data.strip() == "[DONE]":
            return [self._done(TranscriptTextDone(text=self.text, usage=self._usage))]
        try:
            data = json.loads(sse.data)
        except (ValueError, RecursionError):  # RecursionError: JSON nested past Python's limit
            if sse.event == "error":  # "event: error" with its words as plain text
                self.failure = stream_error({"error": sse.data}, text=self.text)
                return []
            return [UnknownStreamEvent(type=sse.event or "message", data=sse.data)]
        if not isinstance(data, Mapping):
            return [UnknownStreamEvent(type=sse.event or "message", data=data)]
        kind = data.get("type") or sse.event
        if (
            kind == "error"
            or (kind is None and data.get("error") is not None)
            or data.get("object") == "error"  # vLLM's error shape
        ):
            # The server's own error event (serve's shutdown, OpenAI's failed stream): the
            # stream ends here, and the error raised once the events before it are delivered.
            self.failure = stream_error(data, text=self.text)
            return []
        if kind is None and isinstance(data.get("choices"), list):
            return self._vllm(data)
        reader = _READERS.get(str(kind)) if kind is not None else None
        if reader is None:
            return [UnknownStreamEvent(type=str(kind or "message"), data=dict(data))]
        try:
            event = reader(self, dict(data))
        except ValidationError:
            if reader not in _DONE_READERS:
                return [UnknownStreamEvent(type=str(kind), data=dict(data))]
            # The last event with a field the server got wrong (a usage of another shape, text
            # null) still ends the stream: read on, a held connection would block the caller
            # and a reset would call a whole transcript cut off. Its text (or the deltas') is
            # kept; the fields that did not fit are left out.
            text = data.get("text")
            event = TranscriptTextDone(text=text if isinstance(text, str) else "")
        if isinstance(event, TranscriptTextDelta):
            self._add(event.delta)
        elif isinstance(event, TranscriptTextDone):
            event = self._done(event)
        return [event]

    def whole(self, event: TranscriptTextDone) -> TranscriptTextDone:
        """Take ``event``, a whole answer given as the stream's only event, as the end."""
        return self._done(event)

    def _done(self, event: TranscriptTextDone) -> TranscriptTextDone:
        self.done = True
        so_far = self.text
        if not event.text and so_far:
            event = event.model_copy(update={"text": so_far})
        self._text = io.StringIO(event.text)
        self._text.seek(0, io.SEEK_END)
        return event

    def _vllm(self, data: Mapping[str, Any]) -> list[StreamEvent]:
        if data.get("usage") is not None:
            self._usage = data["usage"]
        events: list[StreamEvent] = []
        for choice in data["choices"]:
            delta = choice.get("delta") if isinstance(choice, Mapping) else None
            content = delta.get("content") if isinstance(delta, Mapping) else None
            if isinstance(content, str) and content:
                self._add(content)
                events.append(TranscriptTextDelta(delta=content))
        return events

    def _segment(self, data: dict[str, Any]) -> TranscriptTextSegment:
        self._segments += 1
        if "speaker" not in data and "speaker_id" in data:
            data["speaker"] = data["speaker_id"]
        data.setdefault("id", str(self._segments - 1))
        data["type"] = "transcript.text.segment"
        return TranscriptTextSegment.model_validate(data)


def _openai(model: type[_Event]) -> Callable[[EventReader, dict[str, Any]], StreamEvent]:
    def read(_: EventReader, data: dict[str, Any]) -> StreamEvent:
        return model.model_validate(data)  # type: ignore[return-value]

    return read


def _mistral_delta(_: EventReader, data: dict[str, Any]) -> StreamEvent:
    data["type"] = "transcript.text.delta"
    data.setdefault("delta", data.pop("text", ""))
    return TranscriptTextDelta.model_validate(data)


def _mistral_done(_: EventReader, data: dict[str, Any]) -> StreamEvent:
    data["type"] = "transcript.text.done"
    return TranscriptTextDone.model_validate(data)


_READERS: dict[str, Callable[[EventReader, dict[str, Any]], StreamEvent]] = {
    "transcript.text.delta": _openai(TranscriptTextDelta),
    "transcript.text.segment": EventReader._segment,
    "transcript.text.done": _openai(TranscriptTextDone),
    "transcription.text.delta": _mistral_delta,
    "transcription.segment": EventReader._segment,
    "transcription.done": _mistral_done,
}


_DONE_READERS = (_READERS["transcript.text.done"], _READERS["transcription.done"])


def whole_answer_event(result: Any) -> TranscriptTextDone:
    """The one event for a server that answered a streamed request with its whole result."""
    if isinstance(result, str):
        return TranscriptTextDone(text=result)
    return TranscriptTextDone(text=result.text, usage=getattr(result, "usage", None))


def _cut_off(reader: EventReader, exc: httpx.HTTPError) -> StreamInterruptedError:
    return reader.interrupted(f"{type(exc).__name__}: {exc}".rstrip(": "))
