"""Everything the two clients share that is not I/O: their settings and turning a call into a
:class:`~transcribe_sdk._client.call.Call`.

:class:`BaseClient` checks the key, base URL, timeouts, retries and headers once, and each
call's arguments before any file is touched. The settings' defaults and checks are in
:mod:`transcribe_sdk._client.options`, a call's attempts in :mod:`transcribe_sdk._client.flow`;
the shells in :mod:`transcribe_sdk._client.shells` add only the sending, reading and sleeping.
"""

from __future__ import annotations

import functools
import os
import time
import uuid
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import httpx

from .._http.auth import BearerAuth, Secrets
from .._http.decoded import ACCEPT_ENCODING
from .._http.retry import RetryPolicy
from ..errors import InvalidInputError, MissingAPIKeyError
from ..errors import type_name as _type_name
from ..local._models import LOCAL_BASE_URL
from .batch import check_concurrency
from .call import Call
from .guards import check_limit_options
from .options import (
    DEFAULT_BASE_URL,
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_MAX_SPOOL_BYTES,
    DEFAULT_TIMEOUT,
    ENV_API_KEY,
    ENV_BASE_URL,
    HTTPX_DEFAULT_TIMEOUT,
    OPTION_NAMES,
    PARAM_OPTIONS,
    ROUTER_HOSTS,
    TimeoutTypes,
    check_base_url,
    check_byte_limit,
    check_headers,
    check_retries,
    local_model_of,
    merge_headers,
    positive_seconds,
    shown_url,
    to_timeout,
    user_agent,
    within,
)
from .params import RequestParams, build_params
from .silence import ask_for_scores, check_silence_filter


def one_key_per_call(options: Mapping[str, Any]) -> None:
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
        self.max_response_bytes: int = check_byte_limit(max_response_bytes, "max_response_bytes")
        self.max_spool_bytes: int = check_byte_limit(max_spool_bytes, "max_spool_bytes")
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
            self.base_url = check_base_url(
                raw_url if base_url is not None else raw_url or DEFAULT_BASE_URL
            )
            self._take_userinfo(bool(key))
        self.timeout: httpx.Timeout = DEFAULT_TIMEOUT if timeout is None else to_timeout(timeout)
        """Each request's connect, read, write and pool limits (per call: ``timeout=``)."""
        self.max_retries: int = check_retries(max_retries)
        """Retries after a call's first attempt (per call: ``max_retries=``)."""
        if retry_policy is not None and not isinstance(retry_policy, RetryPolicy):
            raise InvalidInputError(
                "retry_policy", f"must be a RetryPolicy, not {_type_name(retry_policy)}"
            )
        self.retry_policy: RetryPolicy = retry_policy or RetryPolicy()
        """The backoff between retries."""
        self._kept_policy: tuple[RetryPolicy, int, RetryPolicy] | None = None
        self.default_headers: dict[str, str] = merge_headers(
            {
                "User-Agent": user_agent(),
                "Accept": "application/json, text/plain;q=0.9, */*;q=0.5",
                "Accept-Encoding": ACCEPT_ENCODING,
            },
            check_headers(default_headers, "default_headers"),
        )

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
        if timeout is None and http_client.timeout != HTTPX_DEFAULT_TIMEOUT:
            self.timeout = http_client.timeout

    def _check_open(self, closed: bool) -> None:
        if closed:
            raise InvalidInputError(
                "client", "is closed (close() or the end of its with-block); create a new one"
            )

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
        one_key_per_call(options)
        return items, limit

    def _call_policy(self) -> RetryPolicy:
        """The retry policy of a call that sets neither ``max_retries`` nor ``deadline``: the
        client's, with its ``max_retries`` (made once and kept; a policy is frozen)."""
        kept = self._kept_policy
        if kept is None or kept[0] is not self.retry_policy or kept[1] != self.max_retries:
            policy = replace(self.retry_policy, max_retries=self.max_retries, deadline=None)
            kept = self._kept_policy = (self.retry_policy, self.max_retries, policy)
        return kept[2]

    def _prepare_call(
        self,
        model: object,
        response_format: object,
        options: Mapping[str, Any],
        stream: object = False,
    ) -> Call:
        unknown = [] if options.keys() <= OPTION_NAMES else sorted(set(options) - OPTION_NAMES)
        if unknown:
            raise InvalidInputError(
                unknown[0],
                "is not an argument of transcribe(); known ones are model, response_format, "
                + ", ".join(sorted(OPTION_NAMES)),
            )
        silence = check_silence_filter(options.get("silence_filter"))
        params = build_params(
            model=model,
            response_format=response_format,
            **{name: options.get(name) for name in PARAM_OPTIONS},
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
        extra = options.get("extra_headers")
        headers = (
            dict(self.default_headers)
            if extra is None
            else merge_headers(self.default_headers, check_headers(extra, "extra_headers"))
        )
        timeout = options.get("timeout")
        retries = options.get("max_retries")
        deadline = options.get("deadline")
        if deadline is not None and not positive_seconds(deadline):
            raise InvalidInputError(
                "deadline", f"must be a finite number of seconds more than 0, not {deadline!r}"
            )
        limits = self.timeout if timeout is None else to_timeout(timeout)
        # The backoff shape comes from the client's policy; the count and deadline per call.
        if retries is None and deadline is None:
            policy = self._call_policy()
        else:
            policy = replace(
                self.retry_policy,
                max_retries=self.max_retries if retries is None else check_retries(retries),
                deadline=deadline,
            )
        # default_headers cannot hold one (refused when the client is made).
        if extra is None or not any(k.lower() == "idempotency-key" for k in headers):
            # The same key on every attempt of this call lets a server that supports it drop a
            # retried duplicate instead of transcribing (and billing) it twice.
            headers["Idempotency-Key"] = f"transcribe-sdk-{uuid.uuid4().hex}"
        return Call(
            max_response_bytes=self.max_response_bytes,
            local=self.local_model is not None,
            router=_is_router(self.base_url),
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


__all__ = ["BaseClient"]


@functools.lru_cache(maxsize=64)
def _is_router(base_url: str) -> bool:
    """Whether ``base_url`` is the router's (parsed once per URL, not on every call)."""
    return httpx.URL(base_url).host in ROUTER_HOSTS
