"""The local engine as an OpenAI-compatible endpoint, independent of how bytes arrive.

Both faces of the local engine hand their requests here: the in-process httpx transport
(``base_url="local"``) and the HTTP server (``transcribe-sdk serve``, :mod:`transcribe_sdk.server`).
Each reads the body into a :class:`~._forms.Form` with the same :class:`~._forms.FormReader`;
:meth:`LocalApp.prepare` checks it and gives a :class:`Job`, which answers in one piece
(:meth:`Job.run`) or as OpenAI's transcription events (:meth:`Job.events`, for ``stream=true``).
Errors have OpenAI's shape, so the SDK's error mapping (and openai-python's) runs unchanged.
"""

from __future__ import annotations

import json
import math
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from .._formats import SUBTITLE_FORMATS
from ..models import Segment, Transcription
from ..subtitles import to_srt, to_vtt
from ._engine import Engine, WhisperEngine
from ._forms import Form, FormError, FormReader, Upload
from ._options import Options, parse_options
from ._progress import DecodingProgress, reporter
from ._results import (
    AudioDecodeError,
    AudioTooLong,
    Cancelled,
    ModelLoadError,
    WrongLanguageError,
    failure_words,
)

PROVIDER = "local"
SSE_CONTENT_TYPE = "text/event-stream; charset=utf-8"


@dataclass
class Reply:
    """A whole response: status, content type and body."""

    status: int
    content_type: str
    body: bytes
    request_id: str = field(default_factory=lambda: f"local-{uuid.uuid4().hex}")
    extra_headers: dict[str, str] = field(default_factory=dict)

    @property
    def headers(self) -> dict[str, str]:
        return {
            "content-type": self.content_type,
            "content-length": str(len(self.body)),
            "x-request-id": self.request_id,
            **self.extra_headers,
        }


class RequestError(Exception):
    """A request the app answers with an error; ``code`` is OpenAI's string code, if any."""

    def __init__(
        self,
        status: int,
        message: str,
        param: str | None = None,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.param = param
        self.code = code
        self.headers = dict(headers or {})


def error_payload(
    status: int, message: str, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    """OpenAI's error body."""
    kind = "invalid_request_error" if status < 500 else "server_error"
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def error_reply(
    status: int,
    message: str,
    param: str | None = None,
    code: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Reply:
    body = json.dumps(error_payload(status, message, param, code)).encode()
    return Reply(status, "application/json", body, extra_headers=dict(headers or {}))


def _json(payload: Any) -> Reply:
    return Reply(200, "application/json", json.dumps(payload, ensure_ascii=False).encode())


def _event(payload: Mapping[str, Any]) -> bytes:
    return b"data: " + json.dumps(payload, ensure_ascii=False).encode() + b"\n\n"


@dataclass
class Job:
    """One checked transcription request, ready to run in a worker thread."""

    engine: Engine
    model_name: str
    options: Options
    response_format: str
    stream: bool
    upload: Upload

    def _start(self, cancel: threading.Event | None) -> Any:
        try:
            return self.engine.start(self.upload.file, self.model_name, self.options, cancel)
        except AudioTooLong as exc:
            raise RequestError(400, str(exc), "file", "audio_too_long") from None
        except AudioDecodeError as exc:
            raise RequestError(400, str(exc), "file", "invalid_audio") from None
        except WrongLanguageError as exc:
            raise RequestError(400, str(exc), "language", "unsupported_language") from None
        except ModelLoadError as exc:
            # The model or the machine, not the caller's file: a 503 no retry will mend.
            raise RequestError(
                503, str(exc), "model", "model_unavailable", {"x-should-retry": "false"}
            ) from None

    def run(
        self, cancel: threading.Event | None = None, progress: DecodingProgress | None = None
    ) -> Reply:
        """The whole answer (blocks while the model runs); raises :class:`RequestError`.
        ``progress`` is told how far the decoding is as segments come out."""
        transcript = self._start(cancel)
        report = reporter(progress, self.upload.filename or "", transcript.duration)
        result = transcript.result(report)
        if report is not None:
            report(result.duration)  # done: silence after the last segment included
        fmt = self.response_format
        if fmt == "text":
            return Reply(200, "text/plain; charset=utf-8", result.text.encode())
        if fmt in SUBTITLE_FORMATS:
            segments = [Segment.model_validate(s) for s in result.segments]
            rendered = to_srt(segments) if fmt == "srt" else to_vtt(segments)
            kind = "vtt" if fmt == "vtt" else "plain"
            return Reply(200, f"text/{kind}; charset=utf-8", rendered.encode())
        payload: dict[str, Any] = {
            "id": f"local-{uuid.uuid4().hex}",
            "object": "audio.transcription",
            "created": int(time.time()),
            "provider": PROVIDER,
            "model": self.model_name,
            "text": result.text,
            "language": result.language,
        }
        if fmt == "verbose_json":
            payload.update(
                task="transcribe",
                duration=result.duration,
                segments=result.segments,
                usage=_usage(result.duration),
            )
            if self.options.word_timestamps:
                payload["words"] = result.words
        Transcription.model_validate(payload)  # what we answer must parse as what we promise
        return _json(payload)

    def events(
        self, cancel: threading.Event | None = None, progress: DecodingProgress | None = None
    ) -> Iterator[bytes]:
        """OpenAI's transcription events as Server-Sent Events: a ``transcript.text.delta``
        per segment as the model decodes it, then ``transcript.text.done`` with the whole
        text and the usage.

        Decoding and voice detection happen in this call, so a bad file is still a
        :class:`RequestError` (a 400 status); a failure once events flow is an ``error`` event,
        as OpenAI sends one. Each ``next()`` blocks while the model decodes a segment.
        """
        transcript = self._start(cancel)
        report = reporter(progress, self.upload.filename or "", transcript.duration)
        return self._body_of(transcript, report)

    def _body_of(
        self, transcript: Any, report: Callable[[float], None] | None = None
    ) -> Iterator[bytes]:
        texts: list[str] = []
        try:
            for segment in transcript:
                if report is not None:
                    report(segment["end"])
                delta = segment["text"] if texts else segment["text"].lstrip()
                texts.append(delta)
                yield _event({"type": "transcript.text.delta", "delta": delta})
        except Cancelled:
            raise
        except Exception as exc:  # the engine failed midway: the status line is long gone
            message = f"the local engine failed: {failure_words(exc)}"
            yield _event(error_payload(500, message))
            return
        if report is not None:
            report(transcript.duration)
        text = "".join(texts).strip()
        done = {"type": "transcript.text.done", "text": text, "usage": _usage(transcript.duration)}
        yield _event(done)


def _usage(duration: float) -> dict[str, Any]:
    return {"type": "duration", "seconds": math.ceil(duration)}


class LocalApp:
    """Answers ``POST .../audio/transcriptions`` (and ``GET .../models``) with a local model."""

    def __init__(self, engine: Engine | None = None, *, honour_model_field: bool = True) -> None:
        # A server's clients must not make it load (or download) whatever model they name: the
        # server runs the model it was started with. The process that owns an in-process
        # engine may choose per request.
        self.honour_model_field = honour_model_field
        self.engine: Engine = engine or WhisperEngine()
        """The engine that transcribes (a new one on the default model when none is given)."""

    def models(self) -> Reply:
        """``GET /v1/models``: the one model this engine answers with."""
        model = self.engine.default_model
        return _json(
            {"object": "list", "data": [{"id": model, "object": "model", "owned_by": PROVIDER}]}
        )

    def prepare(self, form: Form) -> Job:
        """Check a received form; raises :class:`RequestError` naming the bad field."""
        upload = form.upload
        if upload is None:
            raise RequestError(400, "the 'file' field is required", "file")
        if upload.size == 0:
            raise RequestError(400, "the uploaded file is empty", "file")
        requested = form.get("model")
        if not requested:
            raise RequestError(400, "the 'model' field is required", "model")
        try:
            options, fmt, stream = parse_options(form)
        except ValueError as exc:
            raise RequestError(400, str(exc), getattr(exc, "param", None)) from None
        model_name = (
            self.engine.resolve(requested) if self.honour_model_field else self.engine.default_model
        )
        return Job(self.engine, model_name, options, fmt, stream, upload)

    def route(self, method: str, path: str) -> str:
        """``"models"`` or ``"transcriptions"``; raises a 404 or 405 :class:`RequestError`."""
        path = path.split("?", 1)[0].rstrip("/")
        if path.endswith("/models") and method in ("GET", "HEAD"):
            return "models"
        if not path.endswith("/audio/transcriptions"):
            raise RequestError(404, f"no route for {method} {path or '/'}", code="not_found")
        if method != "POST":
            raise RequestError(
                405, f"{method} is not allowed on {path}; use POST", code="method_not_allowed"
            )
        return "transcriptions"

    def open(self, method: str, path: str, headers: Mapping[str, str]) -> Reply | FormReader:
        """The start of a request: a finished :class:`Reply` (models, or an error), or a
        :class:`~._forms.FormReader` to feed the body into."""
        try:
            if self.route(method, path) == "models":
                return self.models()
            lowered = {k.lower(): v for k, v in headers.items()}
            return FormReader(lowered.get("content-type", ""))
        except RequestError as exc:
            return error_reply(exc.status, str(exc), exc.param, exc.code, exc.headers)
        except FormError as exc:
            return error_reply(400, str(exc), exc.param)

    def answer(
        self,
        form: Form,
        cancel: threading.Event | None = None,
        progress: DecodingProgress | None = None,
    ) -> Reply | Iterator[bytes]:
        """Run a received form: a :class:`Reply`, or for ``stream=true`` the events (each
        ``next()`` blocks while the model works). The form is closed when the answer is done.
        ``progress`` hears how far the decoding is. Never raises for anything the client
        sent."""
        handed_over = False
        try:
            job = self.prepare(form)
            if job.stream:
                events = job.events(cancel, progress)
                handed_over = True  # the events close the form when they end
                return _closing(events, form)
            return job.run(cancel, progress)
        except RequestError as exc:
            return error_reply(exc.status, str(exc), exc.param, exc.code, exc.headers)
        except Cancelled:
            raise
        except Exception as exc:  # an engine failure is the server's fault: a 500, as elsewhere
            return error_reply(500, f"the local engine failed: {failure_words(exc)}")
        finally:
            if not handed_over:
                form.close()

    @staticmethod
    def rejected(exc: FormError) -> Reply:
        """The answer to a body the form reader refused."""
        return error_reply(400, str(exc), exc.param)

    def handle(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> Reply:
        """Answer one request held in memory; never raises for anything the client sent.

        (``stream=true`` gives the events gathered into one body.)
        """
        opened = self.open(method, path, headers)
        if isinstance(opened, Reply):
            return opened
        try:
            opened.feed(body)
            form = opened.finish()
        except FormError as exc:
            opened.close()
            return self.rejected(exc)
        answered = self.answer(form)
        if isinstance(answered, Reply):
            return answered
        return Reply(200, SSE_CONTENT_TYPE, b"".join(answered))


def _closing(events: Iterator[bytes], form: Form) -> Iterator[bytes]:
    try:
        yield from events
    finally:
        form.close()
