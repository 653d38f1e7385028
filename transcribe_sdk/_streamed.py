"""How a ``stream=True`` call ends: an open event stream, or a whole answer given as one event.

The shells call these where a call returns; the stream classes (and the pydantic models they
need) load only when a call streams.
"""

from __future__ import annotations

from typing import Any

from ._attempt import OpenStream
from ._flow import Call
from ._response import RawResponse


def opened(call: Call, sent: OpenStream, *, asynchronous: bool) -> RawResponse[Any]:
    """The result of a call whose server answered with an event stream."""
    from .streaming import AsyncTranscriptionStream, TranscriptionStream

    kind = AsyncTranscriptionStream if asynchronous else TranscriptionStream
    stream = kind(sent.response, max_bytes=call.max_response_bytes)
    return RawResponse(stream, sent.response)


def whole_answer(call: Call, raw: RawResponse[Any], *, asynchronous: bool) -> RawResponse[Any]:
    """``raw`` as it is, or, for a streamed call the server answered whole (it ignored
    ``stream``), a stream of one ``transcript.text.done`` event holding that answer."""
    if not call.stream:
        return raw
    from .streaming import AsyncTranscriptionStream, TranscriptionStream, whole_answer_event

    event = whole_answer_event(raw.parsed)
    kind = AsyncTranscriptionStream if asynchronous else TranscriptionStream
    stream = kind(raw.http_response, whole=lambda: event)
    return RawResponse(stream, raw.http_response, raw.attempts)
