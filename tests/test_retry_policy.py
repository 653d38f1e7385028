"""The retry policy on its own (transcribe_sdk/_http/retry.py): pure decisions, no sleep, no clock.

Jitter is made exact by injecting ``random``; times are passed in (``elapsed``, ``now``), so no
test waits. The last section checks how a call's deadline caps the timeout of each attempt.
"""

from __future__ import annotations

import dataclasses
import email.utils
import itertools
import time
from collections.abc import Mapping

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from internals import (
    RETRYABLE_STATUSES,
    Call,
    Exchange,
    build_params,
    is_retryable_status,
    parse_retry_after,
    server_says_retry,
    settle,
    within,
)

from transcribe_sdk import RetryPolicy

NOW = 1_700_000_000.0  # a fixed "now" (unix seconds) for HTTP dates


def exact(**kwargs: object) -> RetryPolicy:
    """A policy without jitter: every delay is the computed one."""
    return RetryPolicy(jitter=0.0, **kwargs)  # type: ignore[arg-type]


def delay(
    policy: RetryPolicy,
    *,
    attempt: int = 1,
    status: int | None = 503,
    headers: Mapping[str, str] | None = None,
    elapsed: float = 0.0,
    replayable: bool = True,
) -> float | None:
    return policy.next_delay(
        attempt=attempt,
        status_code=status,
        headers=headers,
        elapsed=elapsed,
        now=NOW,
        replayable=replayable,
    )


# -- defaults --------------------------------------------------------------------------------------
def test_defaults() -> None:
    policy = RetryPolicy()
    assert policy.max_retries == 2
    assert policy.initial_delay == 0.5
    assert policy.max_delay == 8.0
    assert 0 < policy.jitter < 1
    assert policy.max_retry_after == 60.0
    assert policy.deadline is None


def test_the_random_source_is_not_part_of_the_policy_identity() -> None:
    a = RetryPolicy(random=lambda: 0.1)
    b = RetryPolicy(random=lambda: 0.9)
    assert a == b
    assert "random" not in repr(a)
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.max_retries = 5  # type: ignore[misc]


# -- backoff ---------------------------------------------------------------------------------------
def test_backoff_doubles_from_the_initial_delay() -> None:
    policy = exact(initial_delay=0.5, max_delay=100.0)
    assert [policy.backoff(n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0]


def test_backoff_is_capped_by_max_delay() -> None:
    policy = exact(initial_delay=0.5, max_delay=3.0)
    assert [policy.backoff(n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 3.0, 3.0, 3.0]
    assert policy.backoff(1000) == 3.0  # no overflow for a silly retry count


def test_retry_number_zero_or_less_is_the_first_delay() -> None:
    policy = exact(initial_delay=0.25)
    assert policy.backoff(0) == policy.backoff(-3) == 0.25


@pytest.mark.parametrize(("draw", "expected"), [(0.0, 4.0), (0.5, 3.5), (1.0, 3.0)])
def test_jitter_takes_off_up_to_its_fraction(draw: float, expected: float) -> None:
    policy = RetryPolicy(initial_delay=1.0, max_delay=4.0, jitter=0.25, random=lambda: draw)
    assert policy.backoff(3) == pytest.approx(expected)


@settings(max_examples=200, deadline=None)
@given(
    draw=st.floats(0.0, 1.0),
    jitter=st.floats(0.0, 1.0),
    initial=st.floats(0.001, 10.0),
    cap=st.floats(0.001, 60.0),
    retry=st.integers(1, 50),
)
def test_jitter_stays_within_bounds(
    draw: float, jitter: float, initial: float, cap: float, retry: int
) -> None:
    policy = RetryPolicy(initial_delay=initial, max_delay=cap, jitter=jitter, random=lambda: draw)
    base = min(cap, initial * 2 ** (retry - 1))
    assert base * (1 - jitter) - 1e-9 <= policy.backoff(retry) <= base + 1e-9


def test_jitter_draws_a_new_number_for_each_delay() -> None:
    draws = itertools.cycle([0.0, 1.0])
    policy = RetryPolicy(initial_delay=1.0, jitter=0.5, random=lambda: next(draws))
    assert [policy.backoff(1) for _ in range(4)] == [1.0, 0.5, 1.0, 0.5]


# -- how many attempts -----------------------------------------------------------------------------
def test_gives_up_after_max_retries() -> None:
    policy = exact(max_retries=2, initial_delay=1.0)
    assert delay(policy, attempt=1) == 1.0
    assert delay(policy, attempt=2) == 2.0
    assert delay(policy, attempt=3) is None  # three attempts made: the first and two retries


def test_no_retries_means_one_attempt() -> None:
    assert delay(exact(max_retries=0), attempt=1) is None


def test_an_input_that_cannot_be_replayed_is_not_retried() -> None:
    assert delay(exact(), replayable=False) is None
    assert delay(exact(), status=None, replayable=False) is None


# -- what is retried -------------------------------------------------------------------------------
def test_retryable_statuses() -> None:
    assert frozenset({408, 409, 429}) == RETRYABLE_STATUSES
    assert all(is_retryable_status(s) for s in (408, 409, 429, *range(500, 600)))
    others = [s for s in range(100, 500) if s not in (408, 409, 429)]
    assert not any(is_retryable_status(s) for s in others)


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 504, 529, 599])
def test_retried_statuses_get_a_delay(status: int) -> None:
    assert delay(exact(initial_delay=0.5), status=status) == 0.5


@pytest.mark.parametrize("status", [400, 401, 402, 403, 404, 405, 410, 413, 415, 422, 451])
def test_other_client_errors_are_never_retried(status: int) -> None:
    assert delay(exact(), status=status) is None


@pytest.mark.parametrize("status", [200, 201, 204, 301, 302, 304])
def test_non_error_statuses_are_not_retried(status: int) -> None:
    assert delay(exact(), status=status) is None


def test_connection_errors_and_timeouts_are_retried() -> None:
    # status_code None: no answer at all (refused, reset, timed out)
    policy = exact(initial_delay=0.5)
    assert delay(policy, status=None, attempt=1) == 0.5
    assert delay(policy, status=None, attempt=2) == 1.0


# -- the server's explicit signal ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("true", True),
        ("TRUE", True),
        (" True ", True),
        ("false", False),
        ("False", False),
        ("yes", None),
        ("1", None),
        ("", None),
    ],
)
def test_server_says_retry_reads_x_should_retry(value: str, expected: bool | None) -> None:
    assert server_says_retry({"X-Should-Retry": value}) is expected
    assert server_says_retry({}) is None


@pytest.mark.parametrize("status", [None, 408, 429, 500, 503])
def test_do_not_retry_wins_over_everything(status: int | None) -> None:
    headers = {"x-should-retry": "false", "retry-after": "1"}
    assert delay(exact(), status=status, headers=headers) is None


def test_do_not_retry_wins_over_retry_after() -> None:
    headers = {"Retry-After": "0", "x-should-retry": "false"}
    assert delay(exact(), status=429, headers=headers) is None


def test_should_retry_true_does_not_make_a_final_4xx_retryable() -> None:
    # Only "do not retry" is honoured against the table: a 400 is final whatever the header.
    assert delay(exact(initial_delay=0.5), status=400, headers={"x-should-retry": "true"}) is None
    assert delay(exact(initial_delay=0.5), status=503, headers={"x-should-retry": "true"}) == 0.5


# -- Retry-After -----------------------------------------------------------------------------------
def _date(offset: float) -> str:
    return email.utils.formatdate(NOW + offset, usegmt=True)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "7"}, 7.0),
        ({"retry-after": "0"}, 0.0),
        ({"RETRY-AFTER": " 2 "}, 2.0),
        ({"Retry-After": "1.5"}, 1.5),
        ({"Retry-After": _date(30)}, 30.0),
        ({"Retry-After": _date(-30)}, 0.0),  # a date in the past: go now
        ({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, 0.0),
        ({"retry-after-ms": "250"}, 0.25),
        ({"Retry-After-Ms": "0"}, 0.0),
        ({"retry-after-ms": "1500", "Retry-After": "9"}, 1.5),  # the precise one wins
        ({"retry-after-ms": "soon", "Retry-After": "9"}, 9.0),  # unreadable ms: fall back
        ({"retry-after-ms": "-5", "Retry-After": "4"}, 4.0),
        ({}, None),
        ({"Retry-After": "soon"}, None),
        ({"Retry-After": ""}, None),
        ({"Retry-After": "-1"}, None),
        ({"Retry-After": "nan"}, None),
        ({"Retry-After": "inf"}, None),
        ({"Retry-After": "1e999"}, None),
        ({"Retry-After": "Mon, 32 Foo 2024 99:99:99 GMT"}, None),
        ({"retry-after-ms": "nan"}, None),
        ({"retry-after-ms": "-1"}, None),
    ],
)
def test_parse_retry_after(headers: dict[str, str], expected: float | None) -> None:
    assert parse_retry_after(headers, NOW) == expected


def test_parse_retry_after_reads_httpx_headers() -> None:
    assert parse_retry_after(httpx.Headers({"Retry-After": "3"}), NOW) == 3.0


def test_http_date_without_a_zone_is_read_as_utc() -> None:
    naive = email.utils.formatdate(NOW + 10, usegmt=True).replace("GMT", "-0000")
    assert parse_retry_after({"Retry-After": naive}, NOW) == pytest.approx(10.0)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "3"}, 3.0),
        ({"Retry-After": _date(20)}, 20.0),
        ({"retry-after-ms": "100"}, 0.1),
        ({"Retry-After": "0"}, 0.0),
    ],
)
def test_retry_after_replaces_the_backoff(headers: dict[str, str], expected: float) -> None:
    policy = RetryPolicy(initial_delay=0.5, random=lambda: 0.999)  # jitter does not apply
    assert delay(policy, status=429, headers=headers) == pytest.approx(expected)
    assert delay(policy, status=503, headers=headers) == pytest.approx(expected)


@pytest.mark.parametrize("value", ["soon", "-3", "nan", ""])
def test_unreadable_retry_after_falls_back_to_the_backoff(value: str) -> None:
    assert delay(exact(initial_delay=0.5), status=429, headers={"Retry-After": value}) == 0.5


def test_retry_after_up_to_the_cap_is_honoured() -> None:
    policy = exact(max_retry_after=60.0)
    assert delay(policy, status=429, headers={"Retry-After": "60"}) == 60.0


@pytest.mark.parametrize(
    "headers",
    [{"Retry-After": "61"}, {"Retry-After": _date(3600)}, {"retry-after-ms": "90000"}],
)
def test_retry_after_over_the_cap_gives_up(headers: dict[str, str]) -> None:
    assert delay(exact(max_retry_after=60.0), status=429, headers=headers) is None


def test_retry_after_is_not_read_without_a_response() -> None:
    # headers of a connection error do not exist; a stray mapping is ignored
    policy = exact(initial_delay=0.5)
    assert delay(policy, status=None, headers={"Retry-After": "30"}) == 0.5


def test_retry_after_does_not_make_a_final_status_retryable() -> None:
    assert delay(exact(), status=400, headers={"Retry-After": "1"}) is None


# -- the overall deadline --------------------------------------------------------------------------
def test_deadline_allows_a_retry_that_ends_in_time() -> None:
    policy = exact(initial_delay=1.0, deadline=10.0)
    assert delay(policy, elapsed=8.9) == 1.0


def test_deadline_refuses_a_retry_that_would_end_too_late() -> None:
    policy = exact(initial_delay=1.0, deadline=10.0)
    assert delay(policy, elapsed=9.0) is None
    assert delay(policy, elapsed=12.0) is None


def test_deadline_counts_a_retry_after_wait() -> None:
    policy = exact(deadline=10.0)
    assert delay(policy, status=429, headers={"Retry-After": "5"}, elapsed=4.0) == 5.0
    assert delay(policy, status=429, headers={"Retry-After": "5"}, elapsed=5.0) is None


def test_no_deadline_means_only_max_retries_limits() -> None:
    assert delay(exact(initial_delay=1.0), elapsed=1e9) == 1.0


# -- the deadline also caps the timeouts of each attempt -------------------------------------------
def test_within_caps_every_phase() -> None:
    capped = within(httpx.Timeout(connect=10, read=600, write=600, pool=60), 5.0)
    assert (capped.connect, capped.read, capped.write, capped.pool) == (5.0, 5.0, 5.0, 5.0)
    loose = within(httpx.Timeout(None), 2.0)  # "no limit" becomes the time that is left
    assert (loose.connect, loose.read, loose.write, loose.pool) == (2.0, 2.0, 2.0, 2.0)
    kept = within(httpx.Timeout(1.0), 5.0)
    assert kept.read == 1.0


def _call(policy: RetryPolicy, timeout: httpx.Timeout) -> Call:
    return Call(
        url="http://127.0.0.1:9/v1/audio/transcriptions",
        params=build_params(model="whisper-1"),
        headers={},
        timeout=timeout,
        policy=policy,
        started=time.monotonic(),
    )


def test_a_retry_leaves_the_next_attempt_only_what_the_deadline_has_left() -> None:
    call = _call(exact(initial_delay=2.0, deadline=10.0), httpx.Timeout(600))
    answer = httpx.Response(503, request=httpx.Request("POST", call.url))
    step = settle(call, 1, Exchange(answer, b""))
    assert step == 2.0
    assert call.timeout.read is not None
    assert 7.0 < call.timeout.read <= 8.0  # 10 s - 2 s of waiting - the time spent so far
    assert call.timeout.connect is not None
    assert call.timeout.connect <= 8.0


def test_without_a_deadline_the_timeouts_stay() -> None:
    call = _call(exact(initial_delay=2.0), httpx.Timeout(600))
    answer = httpx.Response(503, request=httpx.Request("POST", call.url))
    assert settle(call, 1, Exchange(answer, b"")) == 2.0
    assert call.timeout == httpx.Timeout(600)
