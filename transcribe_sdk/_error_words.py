"""How an answer becomes an error: its words, its advice, its class.

:func:`error_from_response` reads a failed answer (OpenAI's ``{"error": {...}}``, FastAPI's
``detail``, LiteLLM's dict text, an HTML page) into the :mod:`~transcribe_sdk.errors` class for
its status, with a message a person can act on; :func:`stream_error` does the same for a
server's error event; :func:`scrub_error` takes the API key out of an error. The classes live in
``errors`` (the public module); this module only builds them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from .errors import (
    _MAX_MESSAGE_CHARS,
    _STATUS_ERRORS,
    REQUEST_ID_HEADERS,
    APIStatusError,
    BadRequestError,
    FileTooLargeError,
    InternalServerError,
    NotFoundError,
    RateLimitError,
    StreamFailedError,
    TranscribeError,
    UnprocessableEntityError,
)

MAX_REQUEST_ID_CHARS = 256
"""The longest request id kept: ids are tens of characters, and every error message repeats
the id, so a longer header (100 kB from a hostile server) is not taken for one."""


def request_id_from(headers: Mapping[str, str]) -> str | None:
    """Return the request id a server put in its response headers, if any (one of at most
    :data:`MAX_REQUEST_ID_CHARS`)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    for name in REQUEST_ID_HEADERS:
        value = lowered.get(name)
        if value and len(value) <= MAX_REQUEST_ID_CHARS:
            return value
    return None


def parse_body(content: bytes, content_type: str) -> Any:
    """Decode a body as JSON when it is JSON, else as text; never raises."""
    text = content.decode("utf-8", errors="replace")
    stripped = text.strip()
    if "json" in content_type.lower() or stripped[:1] in ("{", "["):
        try:
            return json.loads(stripped)
        except (ValueError, RecursionError):  # nested past Python's limit: kept as text
            pass
    return text


def _shorten(text: str, limit: int = _MAX_MESSAGE_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# Linear on any page: no pattern here can rescan the rest of the body from each "<" (a 64 KiB
# error page of "<title>" without its end took 13 s with "<title[^>]*>(.*?)</title>"). A tag
# stops at the next "<"; an element's end is looked for once, after its first start.
_TAG = re.compile(r"<[^<>]*>")
_OPEN = {
    name: re.compile(rf"<{name}\b[^<>]*>", re.IGNORECASE)
    for name in ("h1", "title", "script", "style")
}
_CLOSE = {name: re.compile(rf"</{name}\s*>", re.IGNORECASE) for name in _OPEN}
_CODE = re.compile(r"<(script|style)\b[^<>]*>", re.IGNORECASE)


def _element(html: str, name: str) -> str | None:
    """The inside of the first ``<name>`` element, if it is closed."""
    start = _OPEN[name].search(html)
    if start is None:
        return None
    end = _CLOSE[name].search(html, start.end())
    return None if end is None else html[start.end() : end.start()]


def _without_code(html: str) -> str:
    """``html`` without its script and style elements (an unclosed one runs to the end)."""
    kept, position = [], 0
    while (start := _CODE.search(html, position)) is not None:
        kept.append(html[position : start.start()])
        end = _CLOSE[start.group(1).lower()].search(html, start.end())
        if end is None:
            return " ".join(kept)
        position = end.end()
    kept.append(html[position:])
    return " ".join(kept)


def _text_of_html(html: str) -> str:
    for name in ("h1", "title"):
        inside = _element(html, name)
        if inside is not None:
            found = _TAG.sub(" ", inside).strip()
            if found:
                return _shorten(found)
    return _shorten(_TAG.sub(" ", _without_code(html)))


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
    except (ValueError, RecursionError):
        try:
            parsed = ast.literal_eval(inner_text)  # literals only: never runs code
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            return message
    if not isinstance(parsed, Mapping) or not _MESSAGE_KEYS.intersection(parsed):
        return message
    # _describe, not describe_body: describe_body unwraps again with a fresh depth, and text
    # such as "{'error': None}" (read back as its own JSON text) would recurse without end.
    words = _describe(parsed)[0].strip()
    if not words or words in (inner_text, _as_text(parsed)):
        return message  # no words of its own inside: the text stays as the server sent it
    prefix, suffix = message[:start], message[end + 1 :]
    if _STATUS_PREFIX.match(prefix):
        prefix = ""  # "400: " repeats the status the message starts with anyway
    return unwrap_message(f"{prefix}{words}{suffix}".strip(), depth=depth - 1)


def describe_body(body: Any) -> tuple[str, str | None, str | None, str | None]:
    """Read a server's message, and OpenAI's type/code/param, from any error body shape.

    A ``type``, ``code`` or ``param`` sent as ``"None"`` (LiteLLM) reads as ``None``, and a
    message that embeds dict text reads as the words inside it (:func:`unwrap_message`)."""
    message, error_type, error_code, error_param = _describe(body)
    if _field(message) is None:
        message = ""  # "None" is no message either: the caller says there was none
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
    if server_message.strip():
        server_message = _shorten(server_message)
    else:
        server_message = "(no message)" if content.strip() else "(empty body)"
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
