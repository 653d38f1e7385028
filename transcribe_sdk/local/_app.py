"""The local engine as an OpenAI-compatible endpoint, independent of how bytes arrive.

:class:`LocalApp` takes a request (method, path, headers, body) and gives a response (status,
headers, body), exactly as a server would. The in-process httpx transport and the
``transcribe-sdk serve`` HTTP server both hand their requests to it, so the SDK's request
building, response parsing and error mapping run unchanged against it.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .._languages import ISO_639_1
from ..models import Segment, Transcription
from ..subtitles import to_srt, to_vtt
from ._engine import (
    AudioDecodeError,
    ModelLoadError,
    Options,
    WhisperEngine,
    WrongLanguageError,
    check_vad_parameters,
)
from ._forms import Form, FormError, parse_form

PROVIDER = "local"
FORMATS = ("json", "verbose_json", "text", "srt", "vtt")


@dataclass
class Reply:
    status: int
    content_type: str
    body: bytes
    request_id: str = field(default_factory=lambda: f"local-{uuid.uuid4().hex}")

    @property
    def headers(self) -> dict[str, str]:
        return {
            "content-type": self.content_type,
            "content-length": str(len(self.body)),
            "x-request-id": self.request_id,
        }


class _BadRequest(Exception):
    def __init__(self, message: str, param: str | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.param = param
        self.status = status


def _error(status: int, message: str, param: str | None = None) -> Reply:
    kind = "invalid_request_error" if status < 500 else "server_error"
    payload = {"error": {"message": message, "type": kind, "param": param, "code": str(status)}}
    return Reply(status, "application/json", json.dumps(payload).encode())


def _json(payload: Any) -> Reply:
    return Reply(200, "application/json", json.dumps(payload, ensure_ascii=False).encode())


def _options(form: Form) -> tuple[Options, str]:
    fmt = form.get("response_format") or "json"
    if fmt not in FORMATS:
        raise _BadRequest(f"response_format must be one of {', '.join(FORMATS)}", "response_format")
    language = form.get("language") or None
    if language is not None and language not in ISO_639_1:
        raise _BadRequest(f"language {language!r} is not an ISO-639-1 code", "language")
    temperature = None
    raw = form.get("temperature")
    if raw:
        try:
            temperature = float(raw)
        except ValueError:
            raise _BadRequest("temperature must be a number", "temperature") from None
        if not math.isfinite(temperature) or not 0 <= temperature <= 1:
            raise _BadRequest("temperature must be between 0 and 1", "temperature")
    granularities = form.get_list("timestamp_granularities")
    for item in granularities:
        if item not in ("word", "segment"):
            raise _BadRequest(f"unknown timestamp granularity {item!r}", "timestamp_granularities")
    if granularities and fmt != "verbose_json":
        raise _BadRequest(
            "timestamp_granularities needs response_format=verbose_json", "timestamp_granularities"
        )
    options = Options(
        language,
        form.get("prompt"),
        temperature,
        "word" in granularities,
        vad_filter=_vad_filter(form),
        vad_parameters=_vad_parameters(form),
    )
    return options, fmt


_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")


def _vad_filter(form: Form) -> bool | None:
    raw = form.get("vad_filter")
    if raw is None or raw == "":
        return None
    if raw.lower() in _TRUE:
        return True
    if raw.lower() in _FALSE:
        return False
    raise _BadRequest("vad_filter must be true or false", "vad_filter")


def _vad_parameters(form: Form) -> dict[str, float]:
    prefix = "vad_parameters["
    raw = {k[len(prefix) : -1]: v for k, v in form.fields if k.startswith(prefix) and k[-1] == "]"}
    try:
        return check_vad_parameters(raw)
    except ValueError as exc:
        raise _BadRequest(str(exc), "vad_parameters") from None


class LocalApp:
    """Answers ``POST .../audio/transcriptions`` (and ``GET .../models``) with a local model."""

    def __init__(
        self, engine: WhisperEngine | None = None, *, honour_model_field: bool = True
    ) -> None:
        # A server's clients must not make it load (or download) whatever model they name: the
        # server runs the model it was started with. The process that owns an in-process
        # engine may choose per request.
        self.honour_model_field = honour_model_field
        self.engine = engine or WhisperEngine()

    def handle(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> Reply:
        """Answer one request; never raises for anything the client sent."""
        path = path.split("?", 1)[0].rstrip("/")
        if path.endswith("/models") and method == "GET":
            model = self.engine.default_model
            return _json(
                {"object": "list", "data": [{"id": model, "object": "model", "owned_by": PROVIDER}]}
            )
        if not path.endswith("/audio/transcriptions"):
            return _error(404, f"no route for {method} {path}")
        if method != "POST":
            return _error(405, f"{method} is not allowed here; use POST")
        lowered = {k.lower(): v for k, v in headers.items()}
        try:
            return self._transcribe(lowered.get("content-type", ""), body)
        except _BadRequest as exc:
            return _error(exc.status, str(exc), exc.param)
        except Exception as exc:  # an engine failure is the server's fault: a 500, as elsewhere
            return _error(500, f"the local engine failed: {type(exc).__name__}: {exc}")

    def _transcribe(self, content_type: str, body: bytes) -> Reply:
        try:
            form = parse_form(content_type, body)
        except FormError as exc:
            raise _BadRequest(str(exc)) from None
        upload = form.files.get("file")
        if upload is None:
            raise _BadRequest("the 'file' field is required", "file")
        if not upload.data:
            raise _BadRequest("the uploaded file is empty", "file")
        requested = form.get("model")
        if not requested:
            raise _BadRequest("the 'model' field is required", "model")
        options, fmt = _options(form)
        model_name = (
            self.engine.resolve(requested) if self.honour_model_field else self.engine.default_model
        )
        try:
            result = self.engine.transcribe(upload.data, model_name, options)
        except AudioDecodeError as exc:
            raise _BadRequest(str(exc), "file") from None
        except WrongLanguageError as exc:
            raise _BadRequest(str(exc), "language") from None
        except ModelLoadError as exc:
            raise _BadRequest(str(exc), "model") from None
        if fmt == "text":
            return Reply(200, "text/plain; charset=utf-8", result.text.encode())
        if fmt in ("srt", "vtt"):
            segments = [Segment.model_validate(s) for s in result.segments]
            rendered = to_srt(segments) if fmt == "srt" else to_vtt(segments)
            return Reply(
                200, f"text/{'vtt' if fmt == 'vtt' else 'plain'}; charset=utf-8", rendered.encode()
            )
        payload: dict[str, Any] = {
            "id": f"local-{uuid.uuid4().hex}",
            "object": "audio.transcription",
            "created": int(time.time()),
            "provider": PROVIDER,
            "model": model_name,
            "text": result.text,
            "language": result.language,
        }
        if fmt == "verbose_json":
            payload.update(
                task="transcribe",
                duration=result.duration,
                segments=result.segments,
                usage={"type": "duration", "seconds": math.ceil(result.duration)},
            )
            if options.word_timestamps:
                payload["words"] = result.words
        Transcription.model_validate(payload)  # what we answer must parse as what we promise
        return _json(payload)
