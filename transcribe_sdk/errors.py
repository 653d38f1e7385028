"""The exceptions transcribe-sdk raises (``_error_words`` builds them from a response).

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
