"""One call, checked, and every decision of its attempts: the part of a call that is not I/O.

:class:`Call` is a ``transcribe`` call ready to send (URL, fields, headers, timeout, retry
policy). :func:`call_flow` is a generator that yields what to do (:class:`Wait` or
:class:`Send`) and is sent what happened; :func:`settle` turns an attempt's outcome into the
result, a delay before the next attempt, or the error to raise. The shells in
:mod:`transcribe_sdk._client.shells` carry out the steps.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from .._error_words import error_from_response, request_id_from, scrub_error
from .._http.retry import parse_retry_after, parse_router_wait
from ..errors import (
    APIConnectionError,
    ResponseTooLargeError,
    TranscribeError,
    UnexpectedResponseError,
    UploadInterruptedError,
)
from .guards import check_provider
from .options import within
from .response import RawResponse, as_format, parse_success
from .silence import apply as apply_silence

if TYPE_CHECKING:
    from ..files import AudioFile
    from .attempt import Exchange
    from .call import Call

logger = logging.getLogger("transcribe_sdk")

__all__ = ["Send", "Wait", "call_flow", "logger", "needs_spool", "settle"]


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
            attempt=attempt,
            status_code=None,
            headers=None,
            elapsed=elapsed,
            now=now,
            replayable=not isinstance(outcome, UploadInterruptedError),  # refused: never again
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
        from .._route import route_from_headers  # pydantic: loaded by parse_success already
        from ..models import Transcription

        if isinstance(parsed, Transcription):
            parsed._request_id = request_id_from(response.headers)
            parsed._route = route = route_from_headers(response.headers)
            if parsed.provider is None and route.provider is not None:
                parsed.provider = route.provider  # the body names none: the router's word
            if call.silence is not None:
                parsed = as_format(apply_silence(parsed, call.silence), call.asked_format)
                if isinstance(parsed, Transcription):
                    parsed._route = route
            if call.enforce_providers is not None:
                check_provider(parsed, call.enforce_providers, parsed.request_id)
        return RawResponse(parsed, response, attempt)
    # A router cooling down names its wait in the message only ("Try again in 2 seconds").
    named = parse_router_wait(status, outcome.content)
    delay = call.policy.next_delay(
        attempt=attempt,
        status_code=status,
        headers=response.headers,
        elapsed=elapsed,
        now=now,
        named_wait=named,
    )
    if call.gate is not None and (status == 429 or named is not None):
        # Everyone sharing the gate (a batch) waits, not only this request.
        asked = parse_retry_after(response.headers, now)
        if asked is None:
            asked = named
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
        retry_after=_retry_after(parse_retry_after(response.headers, now), named),
        upload_size=call.upload_size,
        where=call.where,
        advice=not call.local,
        router=call.router or any(k.lower().startswith("x-litellm-") for k in response.headers),
    )


def _retry_after(header: float | None, named: float | None) -> float | None:
    return header if header is not None else named


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
