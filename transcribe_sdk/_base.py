"""Everything the two clients share that is not I/O.

Configuration (key, base URL, timeouts, retries, headers), the per-call options, turning a call
into a :class:`Call` (checked parameters, headers, timeout, retry policy), mapping httpx's
exceptions to ours, and deciding after each attempt whether to return, raise or wait and retry.
``Client`` and ``AsyncClient`` in :mod:`transcribe_sdk._client` add only the sending, reading
and sleeping.
"""

from __future__ import annotations

import logging
import math
import os
import platform
import re
import time
import uuid
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, TypeAlias

import httpx
from typing_extensions import TypedDict

from ._attempt import (
    ERROR_BODY_LIMIT,
    BodySink,
    Exchange,
    closed_error,
    map_transport_error,
    resend_on_fresh_connection,
)
from ._auth import BearerAuth, Secrets
from ._batch import RateGate, check_concurrency
from ._diarize import ChunkingStrategy, Include, SpeakerReference
from ._guards import check_limit_options, check_provider
from ._long import SplitPlan, plan_split
from ._params import Preference, RequestParams, TimestampGranularity, build_params
from ._response import RawResponse, parse_success
from ._retry import RetryPolicy, parse_retry_after
from ._silence import SilenceFilter, ask_for_scores, check_silence_filter
from ._silence import apply as apply_silence
from ._version import __version__
from .errors import (
    APIConnectionError,
    APITimeoutError,
    InvalidInputError,
    MissingAPIKeyError,
    ResponseTooLargeError,
    TranscribeError,
    UnexpectedResponseError,
    error_from_response,
    request_id_from,
    scrub_error,
)
from .errors import type_name as _type_name
from .files import AudioFile
from .local._url import LOCAL_BASE_URL

if TYPE_CHECKING:
    from .local import LocalTransport

logger = logging.getLogger("transcribe_sdk")

ENV_API_KEY = "TRANSCRIBE_API_KEY"
ENV_BASE_URL = "TRANSCRIBE_BASE_URL"
DEFAULT_BASE_URL = "https://api.cortecs.ai/v1"
DEFAULT_MAX_RETRIES = 2
DEFAULT_TIMEOUT = httpx.Timeout(connect=10.0, read=600.0, write=600.0, pool=60.0)
"""Long audio takes minutes to upload and transcribe: generous read and write limits, a short
connect limit so a dead host is found quickly."""

_HTTPX_DEFAULT = httpx.Timeout(5.0)

DEFAULT_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20)
"""Connections of the clients we create (httpx's defaults). More idle connections kept is
slower, not faster: httpcore's pool scans its connections once per idle connection on every
request, and with 64 calls in flight keeping 100 alive tripled the CPU per request."""

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


_OPTION_NAMES = frozenset(TranscribeOptions.__annotations__)
_PARAM_OPTIONS = _OPTION_NAMES - {
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


def _user_agent() -> str:
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
            if limit is not None and not _positive_seconds(limit):
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
    if not _positive_seconds(value):
        raise InvalidInputError(
            param,
            f"must be a finite number of seconds more than 0 (httpx.Timeout(None) for no limit), "
            f"not {value!r}",
        )
    return httpx.Timeout(float(value))


def _positive_seconds(value: object) -> bool:
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


def _check_byte_limit(value: object, param: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInputError(
            param, f"must be a number of bytes (an int of 1 or more), not {value!r}"
        )
    return value


def _check_retries(value: object, param: str = "max_retries") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInputError(param, f"must be an int of 0 or more, not {value!r}")
    return value


def _check_headers(value: object, param: str) -> dict[str, str]:
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


def _check_base_url(value: object) -> str:
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


@dataclass
class Call:
    """One ``transcribe`` call, checked and ready to send as many times as the policy allows."""

    url: str
    params: RequestParams
    headers: dict[str, str]
    timeout: httpx.Timeout
    policy: RetryPolicy
    started: float
    upload_size: int | None = None
    gate: RateGate | None = None
    silence: SilenceFilter | None = None
    """Drop segments the server scored as silence, then give ``asked_format``'s shape."""
    asked_format: str | None = None
    stream: bool = False
    """Ask for events; a 2xx event stream is handed to the caller unread."""
    max_upload_bytes: int | None = None
    max_audio_seconds: float | None = None
    enforce_providers: tuple[str, ...] | None = None
    """The providers an answer must come from (``enforce_allowed_providers``)."""
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    local: bool = False
    router: bool = False
    secrets: Secrets = field(default_factory=Secrets, repr=False)

    @property
    def shown_url(self) -> str:
        """The URL for messages and logs: without a user name or password it may carry."""
        return shown_url(self.url)

    @property
    def where(self) -> str:
        """Where the request goes, for messages: the method and URL, or the local engine."""
        return "the local engine" if self.local else f"POST {self.shown_url}"

    def deadline_at(self) -> float | None:
        """``time.monotonic()`` at the deadline, ``None`` without one."""
        if self.policy.deadline is None:
            return None
        return self.started + self.policy.deadline

    def time_left(self) -> float | None:
        """Seconds until the call's deadline (0 once past it), ``None`` without one."""
        if self.policy.deadline is None:
            return None
        return max(0.0, self.policy.deadline - (time.monotonic() - self.started))

    def deadline_error(self) -> APITimeoutError:
        """The error of a call that ran out of its deadline."""
        return APITimeoutError(
            f"The call to {self.where} ran out of its deadline of {self.policy.deadline:g} s "
            "(retries and waits included). Raise deadline= (or drop it) to wait longer.",
            reason="deadline",
        )


def _one_key_per_call(options: Mapping[str, Any]) -> None:
    # One key on many different uploads would let a server answer them all with the first.
    for key in options.get("extra_headers") or {}:
        if key.lower() == "idempotency-key":
            raise InvalidInputError(
                "extra_headers",
                "an Idempotency-Key would be shared by every file or piece of this call; leave it "
                "out and each request gets its own",
            )


class BaseClient:
    """Configuration and request building shared by :class:`Client` and :class:`AsyncClient`."""

    def __init__(
        self,
        *,
        api_key: str | None,
        base_url: str | None,
        timeout: TimeoutTypes | None,
        max_retries: int,
        default_headers: Mapping[str, str] | None,
        retry_policy: RetryPolicy | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        max_spool_bytes: int = DEFAULT_MAX_SPOOL_BYTES,
    ) -> None:
        raw_url = base_url if base_url is not None else os.environ.get(ENV_BASE_URL)
        self.local_model: str | None = local_model_of(raw_url)
        """With ``base_url="local..."``, the local engine's model (``""``: its default); else
        ``None``."""
        key = api_key if api_key is not None else os.environ.get(ENV_API_KEY)
        self._auth: httpx.Auth | None = BearerAuth(key) if key else None
        # What no message we build may show (a key shorter than 8 would match ordinary words).
        self._secrets = Secrets((key,) if key and len(key) >= 8 else ())
        self.max_response_bytes: int = _check_byte_limit(max_response_bytes, "max_response_bytes")
        self.max_spool_bytes: int = _check_byte_limit(max_spool_bytes, "max_spool_bytes")
        self.base_url: str
        """Where requests go, without a trailing slash (user info taken out)."""
        if self.local_model is not None:
            self.base_url = LOCAL_BASE_URL
        else:
            # api_key="" says "this server needs no key" (a self-hosted one); None asks the env.
            if not key and api_key != "":
                raise MissingAPIKeyError(
                    f"No API key: pass api_key=... to the client or set the {ENV_API_KEY} "
                    "environment variable (or use base_url='local' for the offline engine)."
                )
            # Only an unset or empty environment variable means the default: an explicit
            # base_url='' is a mistake, not a request to send audio to the public router.
            self.base_url = _check_base_url(
                raw_url if base_url is not None else raw_url or DEFAULT_BASE_URL
            )
            self._take_userinfo(bool(key))
        self.timeout: httpx.Timeout = DEFAULT_TIMEOUT if timeout is None else to_timeout(timeout)
        """Each request's connect, read, write and pool limits (per call: ``timeout=``)."""
        self.max_retries: int = _check_retries(max_retries)
        """Retries after a call's first attempt (per call: ``max_retries=``)."""
        if retry_policy is not None and not isinstance(retry_policy, RetryPolicy):
            raise InvalidInputError(
                "retry_policy", f"must be a RetryPolicy, not {_type_name(retry_policy)}"
            )
        self.retry_policy: RetryPolicy = retry_policy or RetryPolicy()
        """The backoff between retries."""
        self.default_headers: dict[str, str] = {
            "User-Agent": _user_agent(),
            "Accept": "application/json, text/plain;q=0.9, */*;q=0.5",
            **_check_headers(default_headers, "default_headers"),
        }

    def _take_userinfo(self, has_key: bool) -> None:
        """A user name and password in ``base_url`` leave the URL (httpx logs every request's
        URL, and a password must not reach a log). Without an API key they are sent as HTTP
        Basic auth; with one, the key is sent (as before) and they are not used."""
        parsed = httpx.URL(self.base_url)
        if not parsed.userinfo:
            return
        self._secrets = Secrets((*self._secrets, *(s for s in (parsed.password,) if len(s) >= 4)))
        if not has_key:
            self._auth = httpx.BasicAuth(parsed.username, parsed.password)
        self.base_url = shown_url(self.base_url)

    def __repr__(self) -> str:
        where = "local" if self.local_model is not None else shown_url(self.base_url)
        return f"{type(self).__name__}(base_url={where!r}, max_retries={self.max_retries})"

    def _accept_http_client(
        self,
        http_client: object,
        kind: type[httpx.Client] | type[httpx.AsyncClient],
        timeout: object,
    ) -> None:
        """Check a user's ``http_client``; a configured one keeps its timeout."""
        if http_client is None:
            return
        if not isinstance(http_client, kind):
            raise InvalidInputError(
                "http_client",
                f"must be an {kind.__module__}.{kind.__name__}, not {_type_name(http_client)}",
            )
        if self.local_model is not None:
            raise InvalidInputError(
                "http_client", "cannot be combined with the local engine (base_url='local')"
            )
        # Unless it is httpx's 5 s default (far too short for transcription) or a timeout was
        # passed to us.
        if timeout is None and http_client.timeout != _HTTPX_DEFAULT:
            self.timeout = http_client.timeout

    def _check_open(self, closed: bool) -> None:
        if closed:
            raise InvalidInputError(
                "client", "is closed (close() or the end of its with-block); create a new one"
            )

    def _own_http_settings(self) -> dict[str, Any]:
        """Arguments for the httpx client we create when the user brings none."""
        transport = self._local_transport() if self.local_model is not None else None
        return {"timeout": self.timeout, "transport": transport, "limits": DEFAULT_LIMITS}

    def _check_many(
        self,
        files: object,
        model: object,
        response_format: object,
        options: Mapping[str, Any],
        max_concurrency: object,
    ) -> tuple[list[Any], int]:
        """``transcribe_many``'s arguments, checked before any file is touched."""
        if isinstance(files, (str, bytes, bytearray, memoryview)) or hasattr(files, "read"):
            raise InvalidInputError(
                "files", "must be a list (or other iterable) of inputs, not a single input"
            )
        try:
            items = list(files)  # type: ignore[call-overload]
        except TypeError:
            raise InvalidInputError(
                "files", f"must be an iterable, not {_type_name(files)}"
            ) from None
        limit = check_concurrency(max_concurrency)
        self._prepare_call(model, response_format, options)
        _one_key_per_call(options)
        return items, limit

    def _check_long(
        self,
        model: object,
        response_format: object,
        options: Mapping[str, Any],
        *,
        max_chunk_bytes: object,
        max_chunk_seconds: object,
        max_concurrency: object,
    ) -> tuple[SplitPlan, int]:
        """``transcribe_long``'s arguments, checked for the whole call and for its pieces."""
        # The format a single call would use (timestamp_granularities implies verbose_json),
        # so a split result has the same type as an unsplit one.
        effective = self._prepare_call(model, response_format, options).asked_format
        self._prepare_call(model, "verbose_json", options)
        plan = plan_split(
            max_chunk_bytes=max_chunk_bytes,
            max_chunk_seconds=max_chunk_seconds,
            response_format=effective,
            options=options,
        )
        limit = check_concurrency(max_concurrency)
        _one_key_per_call(options)
        return plan, limit

    def _local_transport(self) -> LocalTransport:
        from .local import LocalApp, LocalTransport, shared_engine

        return LocalTransport(LocalApp(shared_engine(self.local_model or None)))

    def _prepare_call(
        self,
        model: object,
        response_format: object,
        options: Mapping[str, Any],
        stream: object = False,
    ) -> Call:
        unknown = sorted(set(options) - _OPTION_NAMES)
        if unknown:
            raise InvalidInputError(
                unknown[0],
                "is not an argument of transcribe(); known ones are model, response_format, "
                + ", ".join(sorted(_OPTION_NAMES)),
            )
        silence = check_silence_filter(options.get("silence_filter"))
        params = build_params(
            model=model,
            response_format=response_format,
            **{name: options.get(name) for name in _PARAM_OPTIONS},
        )
        asked = params.response_format  # what the caller gets back, whatever is sent
        if silence is not None:
            params = ask_for_scores(params)
        enforce = options.get("enforce_allowed_providers")
        check_limit_options(
            options.get("max_upload_bytes"),
            options.get("max_audio_seconds"),
            enforce,
            options.get("allowed_providers"),
        )
        if not isinstance(stream, bool):
            raise InvalidInputError("stream", f"must be True or False, not {stream!r}")
        if stream and enforce:
            raise InvalidInputError(
                "enforce_allowed_providers",
                "cannot check a stream: its events do not name the provider",
            )
        if stream:
            if silence is not None:
                raise InvalidInputError(
                    "silence_filter",
                    "cannot filter a stream: its text is delivered before the segments are "
                    "scored; use stream=False with silence_filter",
                )
            params = RequestParams([*params.fields, ("stream", "true")], params.response_format)
        headers = {
            **self.default_headers,
            **_check_headers(options.get("extra_headers"), "extra_headers"),
        }
        timeout = options.get("timeout")
        retries = options.get("max_retries")
        deadline = options.get("deadline")
        if deadline is not None and not _positive_seconds(deadline):
            raise InvalidInputError(
                "deadline", f"must be a finite number of seconds more than 0, not {deadline!r}"
            )
        limits = self.timeout if timeout is None else to_timeout(timeout)
        # The backoff shape comes from the client's policy; the count and deadline per call.
        policy = replace(
            self.retry_policy,
            max_retries=self.max_retries if retries is None else _check_retries(retries),
            deadline=deadline,
        )
        if not any(k.lower() == "idempotency-key" for k in headers):
            # The same key on every attempt of this call lets a server that supports it drop a
            # retried duplicate instead of transcribing (and billing) it twice.
            headers["Idempotency-Key"] = f"transcribe-sdk-{uuid.uuid4().hex}"
        return Call(
            max_response_bytes=self.max_response_bytes,
            local=self.local_model is not None,
            router=httpx.URL(self.base_url).host in ROUTER_HOSTS,
            secrets=self._secrets,
            url=f"{self.base_url}/audio/transcriptions",
            params=params,
            headers=headers,
            # An overall deadline also bounds each attempt: no wait may outlast what is left of it.
            timeout=within(limits, deadline) if deadline is not None else limits,
            policy=policy,
            started=time.monotonic(),
            silence=silence,
            asked_format=asked,
            stream=stream,
            max_upload_bytes=options.get("max_upload_bytes"),
            max_audio_seconds=options.get("max_audio_seconds"),
            enforce_providers=tuple(options["allowed_providers"]) if enforce else None,
        )


def _keep_to_deadline(call: Call, spent: float) -> None:
    """Cap the next attempt's timeouts at what the deadline leaves after ``spent`` seconds."""
    if call.policy.deadline is not None:
        call.timeout = within(call.timeout, call.policy.deadline - spent)


@dataclass(frozen=True)
class Wait:
    """A step of :func:`call_flow`: sleep this long, then carry on."""

    seconds: float


@dataclass(frozen=True)
class Send:
    """A step of :func:`call_flow`: make attempt number ``attempt`` and send back what it gave."""

    attempt: int


def needs_spool(call: Call, audio: AudioFile) -> bool:
    """A one-shot stream is copied before the first attempt only when retries could re-send it."""
    return call.policy.max_retries > 0 and not audio.replayable


def _log_attempt(call: Call, audio: AudioFile, attempt: int) -> None:
    if logger.isEnabledFor(logging.DEBUG):  # never logs headers, so never the key
        logger.debug(
            "POST %s attempt %d: file=%r (%s, %s bytes), fields=%s",
            call.shown_url,
            attempt,
            audio.filename,
            audio.content_type,
            "unknown" if audio.size is None else audio.size,
            [n for n, _ in call.params.fields],
        )


def call_flow(
    call: Call, audio: AudioFile
) -> Generator[Wait | Send, Exchange | APIConnectionError | None, RawResponse[Any]]:
    """Every decision of one call, as steps for a client to carry out.

    Like httpx's auth flows, the generator yields what to do (:class:`Wait` or :class:`Send`)
    and is sent what happened (the :class:`Exchange` or the connection error of a ``Send``);
    it returns the result or raises the final error. The sync and async clients drive it the
    same way and differ only in how they sleep and send.
    """
    call.upload_size = audio.size
    attempt = 0
    while True:
        attempt += 1
        if call.gate is not None and (pause := call.gate.wait_time()) > 0:
            yield Wait(pause)  # a batch neighbour was rate limited
        _log_attempt(call, audio, attempt)
        outcome = yield Send(attempt)
        if outcome is None:
            raise RuntimeError("call_flow: a Send step must be answered with its outcome")
        try:
            step = settle(call, attempt, outcome)
        except TranscribeError as exc:
            raise scrub_error(exc, call.secrets) from exc.__cause__
        if isinstance(step, RawResponse):
            return step
        yield Wait(step)


def _after_attempts(
    error: APIConnectionError | UnexpectedResponseError, attempt: int
) -> APIConnectionError | UnexpectedResponseError:
    """The final error of a call, saying how many attempts it made."""
    error.attempts = attempt
    if attempt > 1:
        error.message += f" Gave up after {attempt} attempts."
        error.args = (error.message,)
    return error


def settle(
    call: Call, attempt: int, outcome: Exchange | APIConnectionError
) -> RawResponse[Any] | float:
    """After attempt number ``attempt``: the result, a delay before retrying, or raise the error."""
    now = time.time()
    elapsed = time.monotonic() - call.started
    if isinstance(outcome, APIConnectionError):
        delay = call.policy.next_delay(
            attempt=attempt, status_code=None, headers=None, elapsed=elapsed, now=now
        )
        if delay is not None:
            logger.info(
                "attempt %d of POST %s failed (%s: %s); retrying in %.2f s",
                attempt,
                call.shown_url,
                type(outcome).__name__,
                outcome.reason,
                delay,
            )
            _keep_to_deadline(call, elapsed + delay)
            return delay
        raise _after_attempts(outcome, attempt)
    response = outcome.response
    status = response.status_code
    if 200 <= status < 300:
        if outcome.truncated:
            raise _after_attempts(_too_large(call, response), attempt)
        try:
            parsed = parse_success(
                status=status,
                headers=response.headers,
                content=outcome.content,
                response_format=call.params.response_format,
            )
        except UnexpectedResponseError as exc:
            raise _after_attempts(exc, attempt) from None
        from .models import Transcription  # loaded by parse_success already

        if isinstance(parsed, Transcription):
            parsed._request_id = request_id_from(response.headers)
            if call.silence is not None:
                parsed = apply_silence(parsed, call.silence, call.asked_format)
            if call.enforce_providers is not None:
                check_provider(parsed, call.enforce_providers, parsed.request_id)
        return RawResponse(parsed, response, attempt)
    delay = call.policy.next_delay(
        attempt=attempt, status_code=status, headers=response.headers, elapsed=elapsed, now=now
    )
    if status == 429 and call.gate is not None:
        # Everyone sharing the gate (a batch) waits, not only this request.
        asked = parse_retry_after(response.headers, now)
        wait = delay if delay is not None else asked or call.policy.backoff(attempt)
        # No longer than one call would wait: a Retry-After of an hour fails this request (with
        # its retry_after), it must not stall the rest of the batch for that hour.
        call.gate.hold(min(wait, call.policy.max_retry_after))
    if delay is not None:
        logger.info(
            "attempt %d of POST %s got %d; retrying in %.2f s",
            attempt,
            call.shown_url,
            status,
            delay,
        )
        _keep_to_deadline(call, elapsed + delay)
        return delay
    raise error_from_response(
        status_code=status,
        headers=response.headers,
        content=outcome.content,
        method="POST",
        url=call.shown_url,
        truncated=outcome.truncated,
        attempts=attempt,
        retry_after=parse_retry_after(response.headers, now),
        upload_size=call.upload_size,
        where=call.where,
        router=call.router or any(k.lower().startswith("x-litellm-") for k in response.headers),
    )


def _too_large(call: Call, response: httpx.Response) -> ResponseTooLargeError:
    limit = call.max_response_bytes
    request_id = request_id_from(response.headers)
    error = ResponseTooLargeError(
        f"The answer from {call.where} is larger than max_response_bytes={limit:,} "
        f"({limit / 1024 / 1024:.0f} MiB, after decompression); reading stopped there. No real "
        "transcript is this large: the server (or a proxy) is misbehaving. Raise "
        "max_response_bytes on the client if you expect such answers."
        + (f" (request id: {request_id})" if request_id else ""),
        status_code=response.status_code,
        request_id=request_id,
        body=None,
        headers=response.headers,
    )
    error.limit = limit
    return error


__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_LIMITS",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "DEFAULT_MAX_SPOOL_BYTES",
    "DEFAULT_TIMEOUT",
    "ENV_API_KEY",
    "ENV_BASE_URL",
    "ERROR_BODY_LIMIT",
    "BaseClient",
    "BodySink",
    "Call",
    "Exchange",
    "Send",
    "TranscribeOptions",
    "Wait",
    "call_flow",
    "closed_error",
    "map_transport_error",
    "needs_spool",
    "resend_on_fresh_connection",
    "settle",
]
