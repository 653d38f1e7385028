"""transcribe-sdk: a typed client for OpenAI-compatible ``/audio/transcriptions`` endpoints.

Example::

    from transcribe_sdk import Client

    client = Client()  # TRANSCRIBE_API_KEY / TRANSCRIBE_BASE_URL from the environment
    result = client.transcribe("talk.mp3", model="whisper-large-v3", language="en",
                               preference="speed", eu_native=True)
    print(result.text, result.provider)
"""

from ._async_files import AsyncFileInput
from ._base import DEFAULT_BASE_URL, DEFAULT_TIMEOUT, ENV_API_KEY, ENV_BASE_URL, TranscribeOptions
from ._batch import BatchResult, ProgressCallback
from ._client import AsyncClient, Client
from ._long import DEFAULT_MAX_CHUNK_BYTES, PieceProgress
from ._params import ARRAY_SUFFIX, Preference, ResponseFormat, TimestampGranularity
from ._response import RawResponse
from ._retry import RetryPolicy
from ._splitter import SplitUnavailable
from ._version import __version__
from .errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
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
    TranscribeError,
    UnexpectedResponseError,
    UnprocessableEntityError,
    UnsupportedMediaTypeError,
)
from .files import AudioFile, FileContent, FileInput, prepare_file
from .local import LocalEngineUnavailable
from .models import Segment, Transcription, Usage, VerboseTranscription, Word
from .subtitles import to_srt, to_vtt

__all__ = [
    "ARRAY_SUFFIX",
    "DEFAULT_BASE_URL",
    "DEFAULT_MAX_CHUNK_BYTES",
    "DEFAULT_TIMEOUT",
    "ENV_API_KEY",
    "ENV_BASE_URL",
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncClient",
    "AsyncFileInput",
    "AudioFile",
    "AuthenticationError",
    "BadRequestError",
    "BatchResult",
    "Client",
    "ConflictError",
    "FileContent",
    "FileInput",
    "FileTooLargeError",
    "InternalServerError",
    "InvalidFileError",
    "InvalidInputError",
    "LocalEngineUnavailable",
    "MissingAPIKeyError",
    "NotFoundError",
    "PermissionDeniedError",
    "PieceProgress",
    "Preference",
    "ProgressCallback",
    "RateLimitError",
    "RawResponse",
    "RequestTimeoutError",
    "ResponseFormat",
    "RetryPolicy",
    "Segment",
    "SplitUnavailable",
    "TimestampGranularity",
    "TranscribeError",
    "TranscribeOptions",
    "Transcription",
    "UnexpectedResponseError",
    "UnprocessableEntityError",
    "UnsupportedMediaTypeError",
    "Usage",
    "VerboseTranscription",
    "Word",
    "__version__",
    "prepare_file",
    "to_srt",
    "to_vtt",
]
