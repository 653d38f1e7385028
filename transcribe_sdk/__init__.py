"""transcribe-sdk: a typed client for OpenAI-compatible ``/audio/transcriptions`` endpoints.

Example::

    from transcribe_sdk import Client

    client = Client()  # TRANSCRIBE_API_KEY / TRANSCRIBE_BASE_URL from the environment
    result = client.transcribe("talk.mp3", model="whisper-large-v3", language="en",
                               preference="speed", eu_native=True)
    print(result.text, result.provider)
"""

import importlib
from typing import TYPE_CHECKING

from ._audio.long import DEFAULT_MAX_CHUNK_BYTES, PieceProgress
from ._audio.splitter import SplitUnavailable
from ._client.async_client import AsyncClient
from ._client.batch import BatchResult, ProgressCallback
from ._client.client import Client
from ._client.guards import AudioTooLongError, ProviderNotAllowedError, UploadTooLargeError
from ._client.options import (
    DEFAULT_BASE_URL,
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_MAX_SPOOL_BYTES,
    DEFAULT_TIMEOUT,
    ENV_API_KEY,
    ENV_BASE_URL,
    TranscribeOptions,
)
from ._client.params import ARRAY_SUFFIX, Preference, ResponseFormat, TimestampGranularity
from ._client.quality import IncompleteTranscriptWarning, LanguageMismatchWarning
from ._client.response import RawResponse
from ._client.silence import SilenceFilter
from ._http.retry import RetryPolicy
from ._inputs.async_files import AsyncFileInput
from ._inputs.url_input import DEFAULT_URL_MAX_BYTES, from_url
from ._version import __version__
from .errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ClientClosedError,
    ConflictError,
    FileTooLargeError,
    InternalServerError,
    InvalidFileError,
    InvalidInputError,
    MissingAPIKeyError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RequestTimeoutError,
    ResponseTooLargeError,
    SpoolLimitError,
    StreamFailedError,
    StreamInterruptedError,
    TranscribeError,
    UnexpectedResponseError,
    UnprocessableEntityError,
    UnsupportedMediaTypeError,
    UploadInterruptedError,
)
from .files import AudioFile, FileContent, FileInput, prepare_file
from .local import LocalEngineUnavailable

if TYPE_CHECKING:
    from ._http.transport import AsyncHTTPTransport, HTTPTransport
    from .models import (
        DurationUsage,
        Route,
        Segment,
        TokenUsage,
        Transcription,
        Usage,
        VerboseTranscription,
        Word,
        total_cost,
        total_usage,
    )
    from .subtitles import to_srt, to_vtt
else:
    # The pydantic models cost more to build than the rest of the package takes to import, so
    # they load when first named (or when the first answer is parsed); the transports load
    # httpcore and h11, which the first client made loads anyway.
    _LAZY = {
        "AsyncHTTPTransport": "_http.transport",
        "HTTPTransport": "_http.transport",
        "DurationUsage": "models",
        "TokenUsage": "models",
        "total_usage": "models",
        "total_cost": "models",
        "Route": "models",
        "Segment": "models",
        "Transcription": "models",
        "Usage": "models",
        "VerboseTranscription": "models",
        "Word": "models",
        "to_srt": "subtitles",
        "to_vtt": "subtitles",
    }

    def __getattr__(name: str) -> object:
        module = _LAZY.get(name)
        if module is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
        globals()[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "ARRAY_SUFFIX",
    "DEFAULT_BASE_URL",
    "DEFAULT_MAX_CHUNK_BYTES",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "DEFAULT_MAX_SPOOL_BYTES",
    "DEFAULT_TIMEOUT",
    "DEFAULT_URL_MAX_BYTES",
    "ENV_API_KEY",
    "ENV_BASE_URL",
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncClient",
    "AsyncFileInput",
    "AsyncHTTPTransport",
    "AudioFile",
    "AudioTooLongError",
    "AuthenticationError",
    "BadRequestError",
    "BatchResult",
    "Client",
    "ClientClosedError",
    "ConflictError",
    "DurationUsage",
    "FileContent",
    "FileInput",
    "FileTooLargeError",
    "HTTPTransport",
    "IncompleteTranscriptWarning",
    "InternalServerError",
    "InvalidFileError",
    "InvalidInputError",
    "LanguageMismatchWarning",
    "LocalEngineUnavailable",
    "MissingAPIKeyError",
    "NotFoundError",
    "PermissionDeniedError",
    "PieceProgress",
    "Preference",
    "ProgressCallback",
    "ProviderNotAllowedError",
    "RateLimitError",
    "RawResponse",
    "RequestTimeoutError",
    "ResponseFormat",
    "ResponseTooLargeError",
    "RetryPolicy",
    "Route",
    "Segment",
    "SilenceFilter",
    "SplitUnavailable",
    "SpoolLimitError",
    "StreamFailedError",
    "StreamInterruptedError",
    "TimestampGranularity",
    "TokenUsage",
    "TranscribeError",
    "TranscribeOptions",
    "Transcription",
    "UnexpectedResponseError",
    "UnprocessableEntityError",
    "UnsupportedMediaTypeError",
    "UploadInterruptedError",
    "UploadTooLargeError",
    "Usage",
    "VerboseTranscription",
    "Word",
    "__version__",
    "from_url",
    "prepare_file",
    "to_srt",
    "to_vtt",
    "total_cost",
    "total_usage",
]
