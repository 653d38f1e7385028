"""Property tests of the response handling: whatever a server sends, the SDK returns a result or
raises a :class:`TranscribeError`, never anything else.

Hypothesis feeds arbitrary statuses (100-599), headers and bodies (bytes, JSON-ish, HTML-ish,
text in odd charsets) to the three pure functions between the wire and the caller:
``parse_success`` (a 2xx body), ``error_from_response`` (an error body) and ``settle`` (the
decision after an attempt: result, delay or error).
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from internals import (
    Call,
    Exchange,
    build_params,
    error_from_response,
    parse_retry_after,
    parse_success,
    server_says_retry,
    settle,
)

from transcribe_sdk import (
    APIConnectionError,
    APIStatusError,
    RateLimitError,
    RawResponse,
    RetryPolicy,
    TranscribeError,
    Transcription,
    UnexpectedResponseError,
    VerboseTranscription,
)

URL = "http://127.0.0.1:9/v1/audio/transcriptions"
PROFILE = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# -- strategies ------------------------------------------------------------------------------------
statuses = st.integers(100, 599)
formats = st.sampled_from([None, "json", "verbose_json", "text", "srt", "vtt"])
content_types = st.sampled_from(
    [
        "application/json",
        "application/json; charset=utf-8",
        "application/problem+json",
        "text/plain",
        "text/plain; charset=utf-8",
        "text/plain; charset=latin-1",
        "text/plain; charset=no-such-charset",
        "text/html; charset=utf-8",
        "text/vtt",
        "application/x-subrip",
        "application/octet-stream",
        "",
    ]
)
header_names = st.sampled_from(
    [
        "Content-Type",
        "content-type",
        "Retry-After",
        "retry-after-ms",
        "x-should-retry",
        "x-request-id",
        "x-litellm-call-id",
        "cf-ray",
    ]
) | st.text(
    st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters=":"),
    min_size=1,
    max_size=20,
)
header_values = (
    content_types
    | st.sampled_from(["0", "1", "-1", "1.5", "1e999", "nan", "true", "false", "TRUE"])
    | st.sampled_from(["Wed, 21 Oct 2015 07:28:00 GMT", "Fri, 31 Dec 9999 23:59:59 -0000"])
    | st.text(max_size=40)
)
headers = st.dictionaries(header_names, header_values, max_size=6)
# What arrives on the wire: latin-1 bytes, which httpx decodes for us.
wire_values = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=40)
wire_headers = st.lists(
    st.tuples(header_names, header_values.filter(str.isascii) | wire_values), max_size=6
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
transcription_keys = st.sampled_from(
    [
        *("text", "language", "duration", "segments", "words", "usage", "id", "model"),
        *("provider", "created", "object", "error", "detail", "message", "x_groq", "task"),
    ]
)
json_objects = st.dictionaries(transcription_keys | st.text(max_size=8), json_values, max_size=6)
segments = st.lists(
    st.dictionaries(
        st.sampled_from(["id", "seek", "start", "end", "text", "tokens", "temperature"])
        | st.sampled_from(["avg_logprob", "compression_ratio", "no_speech_prob", "words"]),
        json_values,
    ),
    max_size=3,
)
transcriptions = st.fixed_dictionaries(
    {"text": st.text(max_size=30)},
    optional={
        "language": st.none() | st.text(max_size=10),
        "duration": st.floats() | st.text(max_size=6) | st.none(),
        "segments": st.none() | segments,
        "words": st.none() | segments,
        "usage": json_values,
    },
)
html_pages = st.builds(
    lambda title, text: (
        f"<!DOCTYPE html><html><head><title>{title}</title></head><body><h1>{text}</h1>"
        "<script>var x = '<h1>';</script></body></html>"
    ),
    st.text(max_size=20),
    st.text(max_size=40),
)
bodies = st.one_of(
    st.binary(max_size=300),
    st.builds(lambda v: json.dumps(v).encode(), json_values),
    st.builds(lambda v: json.dumps(v).encode(), json_objects),
    st.builds(lambda v: json.dumps(v).encode(), transcriptions),
    st.builds(str.encode, html_pages),
    st.builds(lambda t: t.encode("utf-8"), st.text(max_size=200)),
    st.builds(lambda t: t.encode("utf-16"), st.text(max_size=50)),
    st.sampled_from([b"", b" ", b"null", b"{}", b"[]", b'{"text": null}', b'"just a string"']),
    st.sampled_from([b'{"error": {"message": "x", "code": 429}}', b'{"detail": [{"loc": 1}]}']),
)

RESULT_TYPES = (Transcription, VerboseTranscription, str)


def outcome_of(function: Any, /, **kwargs: Any) -> Any:
    """What ``function(**kwargs)`` returned, or the TranscribeError it raised (anything else
    propagates and fails the test)."""
    try:
        return function(**kwargs)
    except TranscribeError as exc:
        return exc


# -- parse_success: a result or UnexpectedResponseError --------------------------------------------
@PROFILE
@given(status=st.integers(200, 299), headers=headers, content=bodies, response_format=formats)
def test_parse_success_returns_a_result_or_raises_ours(
    status: int, headers: dict[str, str], content: bytes, response_format: str | None
) -> None:
    result = outcome_of(
        parse_success,
        status=status,
        headers=headers,
        content=content,
        response_format=response_format,
    )
    if isinstance(result, TranscribeError):
        assert isinstance(result, UnexpectedResponseError)
        assert result.status_code == status
        assert str(result)
    elif response_format in ("text", "srt", "vtt"):
        assert isinstance(result, str)
    elif response_format == "verbose_json":
        assert isinstance(result, VerboseTranscription)
    else:
        assert isinstance(result, Transcription)
        assert isinstance(result.text, str)


@PROFILE
@given(data=transcriptions, extra=json_objects, response_format=st.sampled_from([None, "json"]))
def test_a_transcription_with_any_extra_fields_parses(
    data: dict[str, Any], extra: dict[str, Any], response_format: str | None
) -> None:
    result = outcome_of(
        parse_success,
        status=200,
        headers={"Content-Type": "application/json"},
        content=json.dumps({**extra, **data}).encode(),
        response_format=response_format,
    )
    if isinstance(result, TranscribeError):  # e.g. segments of the wrong shape: refused
        assert isinstance(result, UnexpectedResponseError)
    else:
        assert isinstance(result, Transcription)
        assert result.text == data["text"].strip()  # one rule: no surrounding whitespace


# -- error_from_response: always an APIStatusError, never a crash ----------------------------------
@PROFILE
@given(
    status=statuses,
    headers=headers,
    content=bodies,
    truncated=st.booleans(),
    attempts=st.integers(1, 10),
    retry_after=st.none() | st.floats(0, 1e6),
    upload_size=st.none() | st.integers(0, 10**10),
)
def test_error_from_response_always_builds_an_error(
    *,
    status: int,
    headers: dict[str, str],
    content: bytes,
    truncated: bool,
    attempts: int,
    retry_after: float | None,
    upload_size: int | None,
) -> None:
    error = error_from_response(
        status_code=status,
        headers=headers,
        content=content,
        method="POST",
        url=URL,
        truncated=truncated,
        attempts=attempts,
        retry_after=retry_after,
        upload_size=upload_size,
    )
    assert isinstance(error, APIStatusError)
    assert error.status_code == status
    assert error.attempts == attempts
    message = str(error)
    assert str(status) in message
    assert len(message) < 2000  # a sentence, not the body
    assert (f"after {attempts} attempts" in message) is (attempts > 1)
    if isinstance(error, RateLimitError):
        assert error.retry_after == retry_after


# -- settle: a result, a delay, or a TranscribeError -----------------------------------------------
def _call(response_format: str | None, max_retries: int, deadline: float | None) -> Call:
    return Call(
        url=URL,
        params=build_params(model="whisper-1", response_format=response_format),
        headers={},
        timeout=httpx.Timeout(10),
        policy=RetryPolicy(max_retries=max_retries, deadline=deadline),
        started=time.monotonic(),
    )


@PROFILE
@given(
    status=statuses,
    wire=wire_headers,
    content=bodies,
    response_format=formats,
    attempt=st.integers(1, 4),
    max_retries=st.integers(0, 3),
    deadline=st.none() | st.floats(0.001, 100),
)
def test_settle_returns_a_result_or_a_delay_or_raises_ours(
    *,
    status: int,
    wire: list[tuple[str, str]],
    content: bytes,
    response_format: str | None,
    attempt: int,
    max_retries: int,
    deadline: float | None,
) -> None:
    call = _call(response_format, max_retries, deadline)
    raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in wire]
    response = httpx.Response(status, headers=raw, content=content)
    step = outcome_of(settle, call=call, attempt=attempt, outcome=Exchange(response, content))
    if isinstance(step, TranscribeError):
        assert not isinstance(step, APIConnectionError)
        assert getattr(step, "attempts", attempt) == attempt
    elif isinstance(step, RawResponse):
        assert 200 <= status < 300
        assert isinstance(step.parsed, RESULT_TYPES)
        assert step.attempts == attempt
    else:
        assert isinstance(step, float)
        assert not 200 <= status < 300  # a success is never retried
        assert attempt <= max_retries
        assert math.isfinite(step)
        assert 0 <= step <= call.policy.max_retry_after
        assert deadline is None or step < deadline


@PROFILE
@given(attempt=st.integers(1, 5), max_retries=st.integers(0, 4))
def test_settle_after_a_connection_error(attempt: int, max_retries: int) -> None:
    error = APIConnectionError("refused")
    step = outcome_of(settle, call=_call(None, max_retries, None), attempt=attempt, outcome=error)
    if attempt > max_retries:
        assert step is error
        assert error.attempts == attempt
    else:
        assert isinstance(step, float)
        assert error.attempts == 1  # untouched while it is still being retried


# -- the header readers ----------------------------------------------------------------------------
@PROFILE
@given(headers=headers, now=st.floats(0, 4e9))
def test_retry_after_is_none_or_a_finite_wait(headers: dict[str, str], now: float) -> None:
    wait = parse_retry_after(headers, now)
    assert wait is None or (math.isfinite(wait) and wait >= 0)
    assert server_says_retry(headers) in (True, False, None)
