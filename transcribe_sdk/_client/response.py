"""From a finished HTTP exchange to a result: a model, a string, or an error.

Pure code over (status, headers, body bytes): the clients hand it what they read and return or
raise what it gives back. How a body is read depends on its ``Content-Type`` as well as on the
``response_format`` that was asked for, since servers do not always answer in the format asked.
:func:`as_format` gives a result the client made itself (pieces stitched, silent segments
dropped) the type the caller asked for.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeAlias, TypeVar

import httpx

from .._error_words import describe_body, request_id_from
from ..errors import UnexpectedResponseError

if TYPE_CHECKING:
    import pydantic

    from .._route import Route
    from ..models import Transcription, VerboseTranscription

    AnyResult: TypeAlias = Transcription | VerboseTranscription | str
    """What a call without ``stream`` can return, whatever its ``response_format``."""

T = TypeVar("T")

__all__ = ["RawResponse", "as_format", "parse_success"]

TEXT_FORMATS = frozenset({"text", "srt", "vtt"})
"""The formats answered as plain text rather than JSON."""


@dataclass(frozen=True)
class RawResponse(Generic[T]):
    """The parsed result together with the HTTP response it came from.

    Example::

        raw = client.with_raw_response.transcribe("talk.wav", model="whisper-large-v3")
        print(raw.request_id, raw.http_response.headers["content-type"], raw.parsed.text)
    """

    parsed: T
    http_response: httpx.Response
    attempts: int = 1
    warnings: tuple[UserWarning, ...] = ()
    """The quality warnings the result raised (also emitted with :func:`warnings.warn`):
    :class:`~transcribe_sdk.IncompleteTranscriptWarning`,
    :class:`~transcribe_sdk.LanguageMismatchWarning`."""

    @property
    def request_id(self) -> str | None:
        """The id the server gave this request (``x-request-id`` or similar), if any."""
        return request_id_from(self.http_response.headers)

    @property
    def route(self) -> Route:
        """What the router said about the request (deployment, cost, retries), for every
        ``response_format``: a ``text``, ``srt`` or ``vtt`` result is a plain ``str``, and
        this is where its route is."""
        from .._route import route_from_headers

        return route_from_headers(self.http_response.headers)

    @property
    def headers(self) -> httpx.Headers:
        """The response's headers (case-insensitive)."""
        return self.http_response.headers

    @property
    def status_code(self) -> int:
        """The HTTP status of the answer that gave the result (2xx)."""
        return self.http_response.status_code


def _content_type(headers: Mapping[str, str]) -> str:
    for key, value in headers.items():
        if key.lower() == "content-type":
            return value.lower()
    return ""


def _charset(content_type: str) -> str:
    for part in content_type.split(";")[1:]:
        key, _, value = part.strip().partition("=")
        if key.lower() == "charset" and value:
            return value.strip('"')
    return "utf-8"


def _decode(content: bytes, content_type: str) -> str:
    try:
        return content.decode(_charset(content_type), errors="replace")
    except LookupError:
        return content.decode("utf-8", errors="replace")


def _unexpected(
    why: str, status: int, headers: Mapping[str, str], body: Any
) -> UnexpectedResponseError:
    request_id = request_id_from(headers)
    suffix = f" (request id: {request_id})" if request_id else ""
    return UnexpectedResponseError(
        f"The server answered {status} but {why}{suffix}. Is base_url an OpenAI-compatible "
        "API (it usually ends in /v1)?",
        status_code=status,
        request_id=request_id,
        body=body,
        headers=headers,
    )


def _looks_like_html(content_type: str, text: str) -> bool:
    head = text.lstrip()[:100].lower()
    return "html" in content_type or head.startswith(("<!doctype html", "<html"))


def _summarise(error: pydantic.ValidationError) -> str:
    parts = []
    for item in error.errors()[:3]:
        where = ".".join(str(p) for p in item["loc"]) or "body"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)


def parse_success(
    *, status: int, headers: Mapping[str, str], content: bytes, response_format: str | None
) -> Transcription | VerboseTranscription | str:
    """Turn a 2xx body into the result for ``response_format``, or raise
    :class:`~transcribe_sdk.UnexpectedResponseError`."""
    content_type = _content_type(headers)
    text = _decode(content, content_type)
    is_json = "json" in content_type
    wants_text = response_format in TEXT_FORMATS
    if wants_text and not is_json:
        if _looks_like_html(content_type, text):
            raise _unexpected("sent an HTML page instead of a transcript", status, headers, text)
        return _text_result(text, response_format)
    stripped = text.strip()
    if not stripped:
        if wants_text:
            return ""
        raise _unexpected("its body is empty", status, headers, text)
    try:
        data = json.loads(stripped)
    except (ValueError, RecursionError):  # RecursionError: nested past Python's limit
        if _looks_like_html(content_type, text):
            raise _unexpected("sent an HTML page instead of JSON", status, headers, text) from None
        if response_format not in (None, "json", "verbose_json", "diarized_json") or (
            not is_json and content_type.startswith("text/plain")
        ):
            # A server that answers plain text although JSON was asked for: the text is the result.
            return _wrap_text(text, response_format)
        raise _unexpected("its body is not valid JSON", status, headers, text) from None
    if wants_text:
        if isinstance(data, str):
            return _text_result(data, response_format)
        if isinstance(data, Mapping) and isinstance(data.get("text"), str):
            return _text_result(str(data["text"]), response_format)
        raise _unexpected("its JSON has no 'text'", status, headers, data)
    if not isinstance(data, Mapping):
        raise _unexpected(
            f"its JSON is a {type(data).__name__}, not an object", status, headers, data
        )
    if "error" in data and "text" not in data:
        message = describe_body(data)[0]
        raise _unexpected(
            f"its body is an error: {message or '(no message)'}", status, headers, data
        )
    # Imported here, not at the top: building the models costs most of the package's import time,
    # and a program that never gets an answer should not pay it.
    import pydantic

    from ..models import DiarizedTranscription, Transcription, VerboseTranscription

    model: type[Transcription] = Transcription
    if response_format == "verbose_json":
        model = VerboseTranscription
    elif response_format == "diarized_json":
        model = DiarizedTranscription
    if isinstance(data.get("text"), str):
        data = {**data, "text": data["text"].strip()}  # one rule for text: see _text_result
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        raise _unexpected(
            f"its JSON is not a transcription ({_summarise(exc)})", status, headers, data
        ) from None


def _text_result(text: str, response_format: str | None) -> str:
    """The ``text`` of a result has no surrounding whitespace, whatever the format and however
    the server spaced it (Whisper servers often start with a space; OpenAI's API does not).
    Subtitles (srt, vtt) are files and are kept byte for byte."""
    return text.strip() if response_format == "text" else text


def _wrap_text(
    text: str, response_format: str | None
) -> Transcription | VerboseTranscription | str:
    from ..models import DiarizedTranscription, Transcription, VerboseTranscription

    if response_format == "verbose_json":
        return VerboseTranscription(text=text.strip())
    if response_format == "diarized_json":
        return DiarizedTranscription(text=text.strip())
    if response_format in (None, "json"):
        return Transcription(text=text.strip())
    return text


def as_format(result: VerboseTranscription, response_format: str | None) -> Any:
    """``result`` in the type a single call with ``response_format`` returns, its request id
    kept: for a result the client made itself (pieces stitched, silent segments dropped) from
    ``verbose_json`` ones."""
    from ..models import DiarizedTranscription, Transcription
    from ..subtitles import to_srt, to_vtt

    shaped: Transcription | str
    if response_format == "verbose_json":
        return result
    if response_format == "diarized_json":
        shaped = DiarizedTranscription.model_validate(
            {**result.model_dump(exclude={"words"}), "task": "transcribe"}
        )
    elif response_format == "text":
        return result.text
    elif response_format == "srt":
        return to_srt(result)
    elif response_format == "vtt":
        return to_vtt(result)
    else:
        shaped = Transcription.model_validate(result.model_dump(exclude={"duration", "words"}))
    shaped._request_id = result.request_id
    shaped._route = result._route
    return shaped
