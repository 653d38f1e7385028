"""The clients' settings and a call's options, and the checks they pass before any byte is sent.

The defaults (base URL, timeout, limits), :class:`TranscribeOptions` (the keyword arguments of
``transcribe``), and the checks of timeouts, byte limits, retries, headers and the base URL, each
raising :class:`InvalidInputError` with the argument's name.
"""

from __future__ import annotations

import math
import platform
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, TypeAlias

import httpx
from typing_extensions import TypedDict

from .._version import __version__
from ..errors import InvalidInputError

if TYPE_CHECKING:
    from .diarize import ChunkingStrategy, Include, SpeakerReference
    from .params import Preference, TimestampGranularity
    from .silence import SilenceFilter

ENV_API_KEY = "TRANSCRIBE_API_KEY"
ENV_BASE_URL = "TRANSCRIBE_BASE_URL"
DEFAULT_BASE_URL = "https://api.cortecs.ai/v1"
DEFAULT_MAX_RETRIES = 2
DEFAULT_TIMEOUT = httpx.Timeout(connect=10.0, read=600.0, write=600.0, pool=60.0)
"""Long audio takes minutes to upload and transcribe: generous read and write limits, a short
connect limit so a dead host is found quickly."""

HTTPX_DEFAULT_TIMEOUT = httpx.Timeout(5.0)

DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024
"""Default ``max_response_bytes``: the most of a success body (after decompression) a client
reads. A ten-hour ``verbose_json`` with word times is about 10 MB; a gzip bomb or an endless
chunked answer stops here with :class:`ResponseTooLargeError`."""

DEFAULT_MAX_SPOOL_BYTES = 1024 * 1024 * 1024
"""Default ``max_spool_bytes``: the most of a one-shot stream (a pipe, a generator) a client
copies so that retries can re-send it. Past it: :class:`SpoolLimitError`."""

ROUTER_HOSTS = frozenset({httpx.URL(DEFAULT_BASE_URL).host})
"""Hosts known to be routers that choose a provider (advice about allowed_providers applies)."""

TimeoutTypes: TypeAlias = float | httpx.Timeout


class TranscribeOptions(TypedDict, total=False):
    """The optional keyword arguments of ``transcribe`` (besides ``model`` and
    ``response_format``). ``None`` means "not sent" (or, for ``timeout`` and ``max_retries``,
    "use the client's setting")."""

    language: str | None
    """Language of the audio, ISO-639-1 (``"en"``, ``"fr"``); ``None``: detected."""
    prompt: str | None
    """Text to guide the model's style or vocabulary (names, spelling, punctuation)."""
    temperature: float | None
    """Sampling temperature, 0 to 1; ``None``: the server's default."""
    preference: Preference | None
    """Router: what to optimise for, ``"speed"``, ``"cost"`` or ``"balanced"``."""
    allowed_providers: Sequence[str] | None
    """Router: only these providers may serve the request (``["ovh", "scaleway"]``)."""
    eu_native: bool | None
    """Router: ``True``: only providers based and regulated in the EU; ``False``: any."""
    allow_quantization: bool | None
    """Router: ``False`` keeps quantized endpoints from serving the request."""
    allow_zero_data_retention: bool | None
    """Router: ``True``: only providers that keep no data."""
    enable_model_fallback: bool | None
    """Router: allow another model when the one asked for is unavailable."""
    timestamp_granularities: Sequence[TimestampGranularity] | TimestampGranularity | None
    """``"word"`` and/or ``"segment"`` timestamps (with ``response_format="verbose_json"``)."""
    extra_body: Mapping[str, object] | None
    """More form fields for the server or provider, checked and encoded like the typed ones."""
    extra_headers: Mapping[str, str] | None
    """HTTP headers for this call only (``Authorization`` and the body's headers excluded)."""
    timeout: TimeoutTypes | None
    """This call's timeout: seconds, or an ``httpx.Timeout``; ``None``: the client's."""
    max_retries: int | None
    """This call's retries after the first attempt; ``None``: the client's."""
    deadline: float | None
    """The whole call's wall-clock limit in seconds, retries, waits and slow servers
    included (:class:`APITimeoutError` when it passes)."""
    silence_filter: SilenceFilter | bool | None
    """Drop segments that look like made-up text on silence: ``True`` or a
    :class:`SilenceFilter` with your thresholds (see the Silence page)."""
    known_speaker_names: Sequence[str] | None
    """Diarizing: the names of up to four known speakers (with their references)."""
    known_speaker_references: Sequence[SpeakerReference] | None
    """Diarizing: a 2-10 s sample of each named speaker: a path, bytes or a data: URL."""
    chunking_strategy: ChunkingStrategy | None
    """How the server cuts the audio: ``"auto"`` or ``{"type": "server_vad", ...}``."""
    include: Sequence[Include] | None
    """Extra information to return: ``["logprobs"]``."""
    max_upload_bytes: int | None
    """Refuse a larger file before sending it (:class:`UploadTooLargeError`)."""
    max_audio_seconds: float | None
    """Refuse longer audio before sending it (:class:`AudioTooLongError`)."""
    enforce_allowed_providers: bool | None
    """Raise :class:`ProviderNotAllowedError` when the answer's provider is not allowed."""


OPTION_NAMES = frozenset(TranscribeOptions.__annotations__)
PARAM_OPTIONS = OPTION_NAMES - {
    "extra_headers",
    "timeout",
    "max_retries",
    "deadline",
    "silence_filter",
    "max_upload_bytes",
    "max_audio_seconds",
    "enforce_allowed_providers",
}
_RESERVED_HEADERS = frozenset(
    {"content-type", "content-length", "transfer-encoding", "host", "authorization"}
)
# RFC 9110: a name is a token; a value is visible ASCII, spaces and tabs (httpx sends ASCII only).
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_HEADER_VALUE = re.compile(r"[\t\x20-\x7e]*")


def user_agent() -> str:
    return (
        f"transcribe-sdk/{__version__} python/{platform.python_version()} httpx/{httpx.__version__}"
    )


def to_timeout(value: object, param: str = "timeout") -> httpx.Timeout:
    """A float (seconds for every phase) or an ``httpx.Timeout`` as an ``httpx.Timeout``."""
    if isinstance(value, httpx.Timeout):
        # Checked here: a negative or infinite phase would fail deep in the socket layer with a
        # bare ValueError/OverflowError, after the request was built.
        for phase in ("connect", "read", "write", "pool"):
            limit = getattr(value, phase)
            if limit is not None and not positive_seconds(limit):
                raise InvalidInputError(
                    param,
                    f"its {phase} timeout must be None (no limit) or a finite number of seconds "
                    f"more than 0, not {limit!r}",
                )
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidInputError(
            param, f"must be seconds (a number) or an httpx.Timeout, not {type(value).__name__}"
        )
    if not positive_seconds(value):
        raise InvalidInputError(
            param,
            f"must be a finite number of seconds more than 0 (httpx.Timeout(None) for no limit), "
            f"not {value!r}",
        )
    return httpx.Timeout(float(value))


def positive_seconds(value: object) -> bool:
    return (
        not isinstance(value, bool)
        and isinstance(value, (int, float))
        and math.isfinite(value)
        and value > 0
    )


def within(timeout: httpx.Timeout, seconds: float) -> httpx.Timeout:
    """``timeout`` with no phase longer than ``seconds``: what a call's deadline leaves."""
    seconds = max(seconds, 0.001)

    def cap(limit: float | None) -> float:
        return seconds if limit is None else min(limit, seconds)

    return httpx.Timeout(
        connect=cap(timeout.connect),
        read=cap(timeout.read),
        write=cap(timeout.write),
        pool=cap(timeout.pool),
    )


def check_byte_limit(value: object, param: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInputError(
            param, f"must be a number of bytes (an int of 1 or more), not {value!r}"
        )
    return value


def check_retries(value: object, param: str = "max_retries") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInputError(param, f"must be an int of 0 or more, not {value!r}")
    return value


def check_headers(value: object, param: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidInputError(
            param, f"must be a mapping of str to str, not {type(value).__name__}"
        )
    headers: dict[str, str] = {}
    for key, item in value.items():
        if not isinstance(key, str) or not isinstance(item, str):
            raise InvalidInputError(
                param, f"must map str to str; got {key!r}: {type(item).__name__}"
            )
        if param == "default_headers" and key.lower() == "idempotency-key":
            raise InvalidInputError(
                param,
                "cannot hold an Idempotency-Key: every request would share it; each "
                "call gets its own, or pass one per call in extra_headers",
            )
        if key.lower() in _RESERVED_HEADERS:
            what = "api_key" if key.lower() == "authorization" else "the request body"
            raise InvalidInputError(param, f"cannot set {key!r}; the client sets it from {what}")
        if not _HEADER_NAME.fullmatch(key):
            raise InvalidInputError(param, f"{key!r} is not a valid header name")
        if not _HEADER_VALUE.fullmatch(item):
            raise InvalidInputError(
                param,
                f"the value of {key!r} must be printable ASCII on one line (no line breaks or "
                "non-ASCII characters)",
            )
        headers[key] = item
    return headers


def merge_headers(*layers: Mapping[str, str]) -> dict[str, str]:
    """The headers of ``layers``, a later one's value replacing an earlier one's of the same
    name in any case (``user-agent`` over ``User-Agent``): each header is sent once."""
    merged: dict[str, tuple[str, str]] = {}
    for layer in layers:
        for name, value in layer.items():
            merged[name.lower()] = (name, value)
    return dict(merged.values())


def shown_url(url: str) -> str:
    """``url`` without its user info: ``https://user:secret@host/v1`` shows as
    ``https://host/v1``."""
    parsed = httpx.URL(url)
    return str(parsed.copy_with(userinfo=b"")) if parsed.userinfo else url


def local_model_of(base_url: object) -> str | None:
    """For ``local``, ``local://`` and ``local://<model>`` base URLs, the model to use
    (``""`` for the default); ``None`` for any other URL."""
    if not isinstance(base_url, str):
        return None
    url = base_url.strip()
    if url == "local":
        return ""
    if url.startswith("local://"):
        return url[len("local://") :].rstrip("/")
    return None


def check_base_url(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInputError("base_url", f"must be a non-empty str, not {value!r}")
    url = value.strip().rstrip("/")
    shown = _USERINFO.sub("//***@", value)  # a password must not reach the message either
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        detail = _USERINFO.sub("//***@", str(exc))
        raise InvalidInputError("base_url", f"{shown!r} is not a valid URL: {detail}") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise InvalidInputError(
            "base_url", f"{shown!r} must be an http:// or https:// URL such as {DEFAULT_BASE_URL!r}"
        )
    return url


_USERINFO = re.compile(r"//[^/?#]*@")
