"""The exceptions transcribe-sdk raises, and the one function that builds an error from a response.

Every exception is a :class:`TranscribeError`. They are split by cause, so a caller can react to
what happened rather than parse a message:

- :class:`InvalidInputError` (also a ``ValueError`` and a ``TypeError``): a bad argument, found
  before any byte is sent. :class:`InvalidFileError` narrows it to the ``file`` argument.
- :class:`MissingAPIKeyError`: no key was given and none is in the environment.
- :class:`APIConnectionError` and its :class:`APITimeoutError`: the request never got an answer.
- :class:`APIStatusError` and one subclass per meaningful HTTP status.
- :class:`UnexpectedResponseError`: a success status with a body that is not a transcription.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from ._route import Route

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ClientClosedError",
    "ConflictError",
    "FileTooLargeError",
    "InternalServerError",
    "InvalidFileError",
    "InvalidInputError",
    "MissingAPIKeyError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "RequestTimeoutError",
    "ResponseTooLargeError",
    "SpoolLimitError",
    "StreamFailedError",
    "StreamInterruptedError",
    "TranscribeError",
    "UnexpectedResponseError",
    "UnprocessableEntityError",
    "UnsupportedMediaTypeError",
    "UploadInterruptedError",
]

# Headers servers use for the id of a request, most specific first. LiteLLM (which the router is
# built on) sends x-litellm-call-id; OpenAI and most proxies send x-request-id.
REQUEST_ID_HEADERS = (
    "x-request-id",
    "request-id",
    "x-litellm-call-id",
    "x-amzn-requestid",
    "x-correlation-id",
    "cf-ray",
)

_MAX_MESSAGE_CHARS = 500


class TranscribeError(Exception):
    """Base class of every error raised by transcribe-sdk.

    Example::

        try:
            client.transcribe("talk.mp3", model="whisper-large-v3")
        except transcribe_sdk.TranscribeError as exc:
            print("transcription failed:", exc)
    """

    message: str

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __reduce__(self) -> tuple[Any, ...]:
        # Exception's default pickling calls cls(*args), which the subclasses' keyword-only
        # signatures refuse; rebuild from the attributes so errors cross process boundaries.
        return (_rebuild_error, (type(self), self.args, self.__dict__))


def _rebuild_error(
    cls: type[TranscribeError], args: tuple[Any, ...], state: dict[str, Any]
) -> TranscribeError:
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


class InvalidInputError(TranscribeError, ValueError, TypeError):
    """An argument is wrong; nothing was sent.

    ``param`` names the argument (``"language"``, ``"file"``, ...). The class is also a
    ``ValueError`` and a ``TypeError`` so code that catches those keeps working.
    """

    def __init__(self, param: str, message: str) -> None:
        super().__init__(f"{param}: {message}")
        self.param = param


class InvalidFileError(InvalidInputError):
    """The ``file`` argument cannot be uploaded (missing, a directory, empty, text mode, ...)."""

    def __init__(self, message: str, *, param: str = "file") -> None:
        super().__init__(param, message)


class SpoolLimitError(InvalidFileError):
    """A one-shot stream (a pipe, a socket, a generator) is longer than the client may copy.

    With retries on, such a stream is copied (memory, then an unlinked temporary file) so a
    retry can send it again; ``limit`` is the client's ``max_spool_bytes``. Send it with
    ``max_retries=0`` (streamed directly, never copied), pass a path instead, or raise the limit.
    """

    def __init__(self, message: str, *, limit: int) -> None:
        super().__init__(message)
        self.limit = limit


class MissingAPIKeyError(TranscribeError):
    """No API key was passed and the environment variable is not set."""


class APIConnectionError(TranscribeError):
    """The request could not be sent or its answer could not be read (DNS, refused, reset)."""

    def __init__(self, message: str, *, attempts: int = 1, reason: str = "") -> None:
        super().__init__(message)
        self.attempts = attempts
        self.reason: str = reason or type(self).__name__
        """A few words on what failed (``"connection refused"``, ``"read timeout"``)."""


class APITimeoutError(APIConnectionError):
    """A connect, write, read or pool timeout, or the call's ``deadline``, expired before the
    server's answer was in."""


class ClientClosedError(APIConnectionError):
    """The client was closed (``close()`` from another thread or task) while this call ran."""


class StreamInterruptedError(APIConnectionError):
    """A streamed transcription stopped before its last event (the connection broke, the
    server ended the body early, or an event was too large).

    ``text`` holds the text that had arrived. Nothing is retried once events were delivered.
    """

    def __init__(self, message: str, *, text: str = "", attempts: int = 1) -> None:
        super().__init__(message, attempts=attempts, reason="stream cut off")
        self.text = text


class StreamFailedError(StreamInterruptedError):
    """A streamed transcription that the server itself ended with an error event
    (``data: {"error": {...}}``, or an event of type ``error``), such as ``transcribe-sdk
    serve`` sends when it shuts down mid-stream.

    The message carries the server's words; ``error_type``, ``error_code`` and ``error_param``
    are its fields (``None`` when not sent), ``body`` the event's data, and ``text`` the text
    that had arrived. It is a :class:`StreamInterruptedError`, so code that catches that one
    catches this one too. Nothing is retried once events were delivered.
    """

    def __init__(
        self,
        message: str,
        *,
        text: str = "",
        body: Any = None,
        error_type: str | None = None,
        error_code: str | None = None,
        error_param: str | None = None,
        attempts: int = 1,
    ) -> None:
        super().__init__(message, text=text, attempts=attempts)
        self.reason = "stream ended by the server's error"
        self.body = body
        self.error_type = error_type
        self.error_code = error_code
        self.error_param = error_param


class UploadInterruptedError(APIConnectionError):
    """The server began to answer while the file was still being uploaded, then closed the
    connection before the whole answer came. It is never sent again: a server that answers
    mid-upload refuses the request (most often: the file is too large), and every retry would
    upload the whole file again.

    ``status_code`` is the status the server had begun to answer with, if its head arrived.
    """

    def __init__(self, message: str, *, status_code: int | None = None, attempts: int = 1) -> None:
        super().__init__(message, attempts=attempts, reason="upload cut off by an answer")
        self.status_code = status_code


class _ResponseError(TranscribeError):
    """Shared state of the errors built from an HTTP response."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        request_id: str | None,
        body: Any,
        headers: Mapping[str, str] | None = None,
        attempts: int = 1,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.request_id = request_id
        self.body = body
        self.headers: dict[str, str] = dict(headers or {})
        self.attempts = attempts

    @property
    def route(self) -> Route:
        """What the router said about the failed answer (deployment, cost, retries), read
        from its headers; every field ``None`` when it said nothing."""
        from ._route import route_from_headers  # pydantic loads only when asked

        return route_from_headers(self.headers)


class APIStatusError(_ResponseError):
    """The server answered with an error status (4xx or 5xx).

    Attributes: ``status_code``, ``request_id`` (from ``x-request-id`` or a similar header),
    ``body`` (the parsed JSON, or the text), ``error_type``/``error_code``/``error_param`` when the
    server sent them in OpenAI's ``{"error": {...}}`` shape, ``headers`` and ``attempts``.
    """

    hint: ClassVar[str] = ""
    router_hint: ClassVar[str] = ""
    """Added to :attr:`hint` only when the server is a router that picks a provider."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        request_id: str | None,
        body: Any,
        headers: Mapping[str, str] | None = None,
        error_type: str | None = None,
        error_code: str | None = None,
        error_param: str | None = None,
        attempts: int = 1,
    ) -> None:
        super().__init__(
            message,
            status_code=status_code,
            request_id=request_id,
            body=body,
            headers=headers,
            attempts=attempts,
        )
        self.error_type = error_type
        self.error_code = error_code
        self.error_param = error_param


class BadRequestError(APIStatusError):
    """400: the server rejected a parameter or the file."""

    hint = "Check the parameters and the file format."
    router_hint = (
        "A provider that does not support a parameter can be avoided with allowed_providers."
    )


class AuthenticationError(APIStatusError):
    """401: the API key is missing, wrong or revoked."""

    hint = "Check the API key (argument api_key or environment variable TRANSCRIBE_API_KEY)."


class PermissionDeniedError(APIStatusError):
    """403: the key is valid but may not do this (model, region or budget not allowed)."""

    hint = "The key is not allowed to use this model or provider; check its permissions."


class NotFoundError(APIStatusError):
    """404: the URL or the model does not exist on this server."""

    hint = "Check base_url (it usually ends in /v1) and the model name."


class RequestTimeoutError(APIStatusError):
    """408: the server gave up waiting for the request."""

    hint = "The upload was too slow for the server; retry, or split the audio."


class ConflictError(APIStatusError):
    """409: the request conflicts with another one; usually safe to retry."""

    hint = "Retry the request."


class FileTooLargeError(APIStatusError):
    """413: the upload is larger than the server or provider accepts."""

    hint = "Compress the audio (e.g. mono 16 kHz mp3/ogg) or split it into shorter pieces."


class UnsupportedMediaTypeError(APIStatusError):
    """415: the server does not accept this audio format."""

    hint = "Convert the audio to a supported format (flac, mp3, mp4, m4a, ogg, wav, webm)."


class UnprocessableEntityError(APIStatusError):
    """422: the request is well formed but a value is invalid."""

    hint = "Check the parameter the server names."


class RateLimitError(APIStatusError):
    """429: too many requests or budget exceeded; ``retry_after`` is in seconds when sent."""

    hint = "Slow down or retry later."
    retry_after: float | None = None


class InternalServerError(APIStatusError):
    """5xx: the server or the provider behind it failed; usually safe to retry."""

    hint = "The server failed; retry later."
    router_hint = "Another provider can be chosen with allowed_providers."


class UnexpectedResponseError(_ResponseError):
    """The server said success but its body is not a transcription (empty, invalid JSON, ...)."""


class ResponseTooLargeError(UnexpectedResponseError):
    """A success body grew past the client's ``max_response_bytes`` (after decompression);
    reading stopped there. ``limit`` is that setting."""

    limit: int = 0


_STATUS_ERRORS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    408: RequestTimeoutError,
    409: ConflictError,
    413: FileTooLargeError,
    415: UnsupportedMediaTypeError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def type_name(value: object) -> str:
    """The name of ``value``'s type, for messages about a wrong argument."""
    return type(value).__name__


def request_id_from(headers: Mapping[str, str]) -> str | None:
    """Return the request id a server put in its response headers, if any."""
    lowered = {k.lower(): v for k, v in headers.items()}
    for name in REQUEST_ID_HEADERS:
        value = lowered.get(name)
        if value:
            return value
    return None


def parse_body(content: bytes, content_type: str) -> Any:
    """Decode a body as JSON when it is JSON, else as text; never raises."""
    text = content.decode("utf-8", errors="replace")
    stripped = text.strip()
    if "json" in content_type.lower() or stripped[:1] in ("{", "["):
        try:
            return json.loads(stripped)
        except ValueError:
            pass
    return text


def _shorten(text: str, limit: int = _MAX_MESSAGE_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


_TAG = re.compile(r"<[^>]+>")
_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_HEADING = re.compile(r"<h1[^>]*>(.*?)</h1>", re.IGNORECASE | re.DOTALL)
_SCRIPT = re.compile(r"<(script|style)[^>]*>.*?</\1>", re.IGNORECASE | re.DOTALL)


def _text_of_html(html: str) -> str:
    for pattern in (_HEADING, _TITLE):
        match = pattern.search(html)
        if match:
            found = _TAG.sub(" ", match.group(1)).strip()
            if found:
                return _shorten(found)
    return _shorten(_TAG.sub(" ", _SCRIPT.sub(" ", html)))


def _as_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def _fastapi_detail(detail: Any) -> str:
    # FastAPI: {"detail": "text"} or {"detail": [{"loc": [...], "msg": "...", "type": "..."}]}
    if isinstance(detail, list):
        parts = []
        for item in detail:
            if isinstance(item, Mapping):
                loc = item.get("loc")
                where = ".".join(str(p) for p in loc) if isinstance(loc, list) else None
                msg = _as_text(item.get("msg")) or _as_text(item) or ""
                parts.append(f"{where}: {msg}" if where else msg)
            else:
                parts.append(_as_text(item) or "")
        return "; ".join(p for p in parts if p)
    if isinstance(detail, Mapping):
        inner = detail.get("message") or detail.get("msg") or detail.get("error")
        if inner is not None:
            return _as_text(inner) or ""
    return _as_text(detail) or ""


# Words a server puts in a field it has no value for: LiteLLM sends "param": "None" and
# "type": "None" (Python's None, turned into text).
_NO_VALUE = frozenset({"", "none", "null", "nil", "undefined"})


def _field(value: Any) -> str | None:
    """An error's ``type``/``code``/``param``: ``None`` for a missing one, however spelled."""
    text = _as_text(value)
    return None if text is None or text.strip().lower() in _NO_VALUE else text


_MAX_UNWRAP_CHARS = 8192
"""The longest message searched for embedded dict text (parsing is linear, but bounded)."""
_MESSAGE_KEYS = frozenset({"error", "message", "msg", "detail", "title"})
_STATUS_PREFIX = re.compile(r"^\s*\d{3}\s*:\s*$")


def unwrap_message(message: str, *, depth: int = 3) -> str:
    """A message's own words when it embeds dict text, as LiteLLM's do: ``"400: {'error':
    '/audio/transcriptions: Invalid model name passed in model=x.'}"`` becomes
    ``"/audio/transcriptions: Invalid model name passed in model=x."``. Anything that does not
    parse as a dict with a message is left as it is."""
    import ast

    if depth <= 0 or len(message) > _MAX_UNWRAP_CHARS:
        return message
    start = min((i for i in (message.find("{'"), message.find('{"')) if i >= 0), default=-1)
    end = message.rfind("}")
    if start < 0 or end < start:
        return message
    inner_text = message[start : end + 1]
    parsed: Any = None
    try:
        parsed = json.loads(inner_text)
    except ValueError:
        try:
            parsed = ast.literal_eval(inner_text)  # literals only: never runs code
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            return message
    if not isinstance(parsed, Mapping) or not _MESSAGE_KEYS.intersection(parsed):
        return message
    words = describe_body(parsed)[0].strip()
    if not words or words == inner_text:
        return message
    prefix, suffix = message[:start], message[end + 1 :]
    if _STATUS_PREFIX.match(prefix):
        prefix = ""  # "400: " repeats the status the message starts with anyway
    return unwrap_message(f"{prefix}{words}{suffix}".strip(), depth=depth - 1)


def describe_body(body: Any) -> tuple[str, str | None, str | None, str | None]:
    """Read a server's message, and OpenAI's type/code/param, from any error body shape.

    A ``type``, ``code`` or ``param`` sent as ``"None"`` (LiteLLM) reads as ``None``, and a
    message that embeds dict text reads as the words inside it (:func:`unwrap_message`)."""
    message, error_type, error_code, error_param = _describe(body)
    return (
        unwrap_message(message),
        _field(error_type),
        _field(error_code),
        _field(error_param),
    )


def _describe(body: Any) -> tuple[str, str | None, str | None, str | None]:
    if isinstance(body, Mapping):
        error = body.get("error")
        if isinstance(error, Mapping):
            message = _as_text(error.get("message")) or _as_text(error) or ""
            return (
                message,
                _as_text(error.get("type")),
                _as_text(error.get("code")),
                _as_text(error.get("param")),
            )
        if error is not None:
            return _as_text(error) or "", None, None, None
        detail = body.get("detail")
        if isinstance(detail, Mapping) and isinstance(detail.get("error"), Mapping):
            # faster-whisper-server wraps OpenAI's shape in FastAPI's: read it as OpenAI's.
            return describe_body(detail)
        if "detail" in body:
            return _fastapi_detail(detail), None, None, None
        for key in ("message", "msg", "title"):
            if key in body:
                # vLLM's older shape puts type/code/param beside the message, at the top.
                return (
                    _as_text(body[key]) or "",
                    _as_text(body.get("type")),
                    _as_text(body.get("code")),
                    _as_text(body.get("param")),
                )
        return _as_text(body) or "", None, None, None
    if isinstance(body, list):
        return _as_text(body) or "", None, None, None
    text = str(body)
    if "<html" in text.lower() or "<!doctype" in text.lower():
        return _text_of_html(text), None, None, None
    return text, None, None, None


def describe_size(size: int) -> str:
    """``26214400`` as ``"26,214,400 bytes (25.0 MiB)"``: servers state limits in either unit."""
    return f"{size:,} bytes ({size / 1024 / 1024:.1f} MiB)"


def _sentence(text: str) -> str:
    # The server's text and our hints follow each other: each must end as a sentence.
    text = text.rstrip()
    return text if text.endswith((".", "!", "?", "…")) else text + "."


def _status_label(status_code: int) -> str:
    try:
        from http import HTTPStatus

        return f"{status_code} {HTTPStatus(status_code).phrase}"
    except ValueError:
        return str(status_code)


# A server saying the model is unknown: LiteLLM's "Invalid model name passed in model=x",
# OpenAI's code "model_not_found", "The model `x` does not exist", vLLM's "not found".
_UNKNOWN_MODEL = re.compile(
    r"invalid model name|unknown model|no such model|model_not_found"
    r"|model\b[^.]{0,120}?\b(?:does not exist|not found|is not (?:available|supported|served))",
    re.IGNORECASE,
)
MODEL_HINT = "Check the model name: GET /v1/models on the server lists the models this key may use."


def _advice(
    cls: type[APIStatusError],
    message: str,
    code: str | None,
    param: str | None,
    *,
    router: bool,
) -> list[str]:
    """The advice that applies to this error: the model's when the server says the model is
    unknown, the parameter's when it names one, the status's otherwise; the router's advice
    (another provider) only where another provider could help."""
    if cls in (BadRequestError, NotFoundError, UnprocessableEntityError) and (
        param == "model" or code == "model_not_found" or _UNKNOWN_MODEL.search(message)
    ):
        return [MODEL_HINT]  # no provider serves a model the server does not know
    if cls in (BadRequestError, UnprocessableEntityError) and param and param != "file":
        advice = [f"Check the {param} parameter."]
        return [*advice, cls.router_hint] if router and cls.router_hint else advice
    if cls is BadRequestError and param == "file":
        return ["Check the file: its format, and that it is whole."]
    advice = [cls.hint] if cls.hint else []
    return [*advice, cls.router_hint] if router and cls.router_hint else advice


def error_from_response(
    *,
    status_code: int,
    headers: Mapping[str, str],
    content: bytes,
    method: str,
    url: str,
    truncated: bool = False,
    attempts: int = 1,
    retry_after: float | None = None,
    upload_size: int | None = None,
    where: str | None = None,
    router: bool = False,
    advice: bool = True,
) -> APIStatusError:
    """Build the error for a 4xx/5xx response from whatever the server sent.

    ``content`` may be only the start of the body (``truncated``), since error bodies are read
    with a size cap. ``where`` replaces ``"{method} {url}"`` in the message (``"the local
    engine"``); ``router`` adds advice that only applies to a router choosing providers;
    ``advice=False`` leaves out the status's generic advice (the local engine's messages say
    themselves what is wrong with the file, the model or the machine).
    """
    content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
    body = parse_body(content, content_type)
    server_message, error_type, error_code, error_param = describe_body(body)
    if isinstance(body, str) and "html" in content_type.lower():
        # An HTML fragment (no <html> tag for describe_body to spot) is still not a message.
        server_message = _text_of_html(body)
    server_message = _shorten(server_message) if server_message.strip() else "(empty body)"
    if truncated:
        server_message += " [body truncated]"
    cls = _STATUS_ERRORS.get(status_code)
    if cls is None:
        cls = InternalServerError if status_code >= 500 else APIStatusError
    request_id = request_id_from(headers)
    first = f"{_status_label(status_code)} from {where or f'{method} {url}'}: {server_message}"
    if error_param:
        first += f" (param: {error_param})"
    if request_id:
        first += f" (request id: {request_id})"
    parts = [_sentence(first)]
    if cls is FileTooLargeError and upload_size is not None:
        parts.append(f"The upload was {describe_size(upload_size)}.")
    if cls is RateLimitError and retry_after is not None:
        parts.append(f"The server asks to wait {retry_after:g} s.")
    if attempts > 1:
        parts.append(f"Gave up after {attempts} attempts.")
    location = next((v for k, v in headers.items() if k.lower() == "location"), None)
    if 300 <= status_code < 400:
        where = f" to {location}" if location else ""
        parts.append(
            f"The server redirects{where}; POST uploads are not re-sent across redirects, so "
            "set base_url to the final address (often https:// instead of http://)."
        )
    if advice:
        parts.extend(_advice(cls, server_message, error_code, error_param, router=router))
    error = cls(
        " ".join(parts),
        status_code=status_code,
        request_id=request_id,
        body=body,
        headers=headers,
        error_type=error_type,
        error_code=error_code,
        error_param=error_param,
        attempts=attempts,
    )
    if isinstance(error, RateLimitError):
        error.retry_after = retry_after
    return error


def stream_error(data: Mapping[str, Any], *, text: str) -> StreamFailedError:
    """The error for an error event a server sent mid-stream (``data`` is the event's JSON),
    with its words and fields; ``text`` is the transcript that had arrived."""
    message, error_type, error_code, error_param = describe_body(data)
    words = _shorten(message) if message.strip() else "(no message)"
    if error_code:
        words += f" (code: {error_code})"
    if error_param:
        words += f" (param: {error_param})"
    return StreamFailedError(
        f"The server ended the transcription stream with an error: {_sentence(words)} "
        f"{len(text)} characters of text had arrived (on the error as .text); the request was "
        "not retried, since events had already been delivered.",
        text=text,
        body=dict(data),
        error_type=error_type,
        error_code=error_code,
        error_param=error_param,
    )


REDACTED = "[redacted]"


def _scrub(value: Any, secrets: tuple[str, ...]) -> Any:
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, Mapping):
        return {_scrub(k, secrets): _scrub(v, secrets) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_scrub(v, secrets) for v in value)
    return value


def scrub_error(error: TranscribeError, secrets: tuple[str, ...]) -> TranscribeError:
    """``error`` with every secret (the API key, a URL password) replaced by ``[redacted]`` in
    its message, args and the server's body and headers it carries: a server that echoes the
    ``Authorization`` header must not put the key in a traceback or a log."""
    if not secrets:
        return error
    for name, value in list(vars(error).items()):
        setattr(error, name, _scrub(value, secrets))
    error.args = _scrub(error.args, secrets)
    return error
