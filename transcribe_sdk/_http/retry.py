"""The retry policy: given what happened on attempt *n*, how long to wait, or give up.

Pure code: no sleeping and no clock of its own, so every rule is tested without waiting. Both
clients ask it the same question after each attempt and differ only in how they sleep.
"""

from __future__ import annotations

import email.utils
import math
import random
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

__all__ = [
    "RETRYABLE_STATUSES",
    "ROUTER_WAIT_STATUSES",
    "RetryPolicy",
    "parse_retry_after",
    "parse_router_wait",
]

# 408 request timeout, 409 conflict, 429 rate limited, and every 5xx.
RETRYABLE_STATUSES = frozenset({408, 409, 429})


def is_retryable_status(status_code: int) -> bool:
    return status_code in RETRYABLE_STATUSES or status_code >= 500


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


def parse_retry_after(headers: Mapping[str, str], now: float) -> float | None:
    """Seconds the server asks us to wait: ``retry-after-ms``, or ``Retry-After`` in seconds or
    as an HTTP date (relative to ``now``, a unix time). ``None`` when absent or unreadable."""
    millis = _header(headers, "retry-after-ms")
    if millis is not None:
        try:
            value = float(millis) / 1000
        except ValueError:
            value = math.nan
        if math.isfinite(value) and value >= 0:
            return value
    raw = _header(headers, "retry-after")
    if raw is None:
        return None
    raw = raw.strip()
    try:
        seconds = float(raw)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        return max(0.0, when.timestamp() - now)
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


ROUTER_WAIT_STATUSES = frozenset({429, 503})
"""The statuses whose message may name a wait (a router whose deployments are cooling down)."""

MAX_ROUTER_WAIT_SCAN = 64 * 1024
"""Only the first 64 KiB of an error body are searched for a named wait."""

_ROUTER_WAIT = re.compile(
    r"(?:try\s+again\s+in|retry\s+after)\s+(\d{1,9}(?:\.\d{1,9})?)\s*"
    r"(?:seconds?|secs?|s)\b",
    re.IGNORECASE,
)


def parse_router_wait(status_code: int, content: bytes) -> float | None:
    """Seconds an error's message asks us to wait when no header does: LiteLLM's router
    answers 429 "... Try again in 2 seconds ..." while every deployment cools down (also
    "retry after 1.5 s"). ``None`` for another status, or when the message names no wait."""
    if status_code not in ROUTER_WAIT_STATUSES or not content:
        return None
    match = _ROUTER_WAIT.search(content[:MAX_ROUTER_WAIT_SCAN].decode("utf-8", "replace"))
    if match is None:
        return None
    seconds = float(match.group(1))
    return seconds if math.isfinite(seconds) else None


def server_says_retry(headers: Mapping[str, str]) -> bool | None:
    """The server's explicit signal (``x-should-retry: true|false``), or ``None``."""
    value = _header(headers, "x-should-retry")
    if value is None:
        return None
    value = value.strip().lower()
    if value == "true":
        return True
    if value == "false":
        return False
    return None


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter, a cap on each delay, and an optional overall deadline.

    The *n*-th retry waits ``min(max_delay, initial_delay * 2 ** (n - 1))``, reduced by up to
    ``jitter`` (a fraction) at random so many clients do not retry in step. A server's
    ``Retry-After`` (or, with none, a wait its 429 or 503 message names: "try again in 2
    seconds") replaces the computed delay when it is no more than ``max_retry_after``; a
    longer wait is not made, the error is raised with its ``retry_after`` instead.
    """

    max_retries: int = 2
    initial_delay: float = 0.5
    max_delay: float = 8.0
    jitter: float = 0.25
    max_retry_after: float = 60.0
    deadline: float | None = None
    random: Callable[[], float] = field(default=random.random, repr=False, compare=False)

    def __post_init__(self) -> None:
        from ..errors import InvalidInputError

        for name in ("initial_delay", "max_delay", "max_retry_after"):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not (0 <= value < math.inf)
            ):
                raise InvalidInputError(
                    name, f"must be a finite number of seconds >= 0, not {value!r}"
                )
        if (
            isinstance(self.jitter, bool)
            or not isinstance(self.jitter, (int, float))
            or not (0 <= self.jitter <= 1)
        ):
            raise InvalidInputError(
                "jitter", f"must be a fraction from 0 to 1, not {self.jitter!r}"
            )
        if (
            isinstance(self.max_retries, bool)
            or not isinstance(self.max_retries, int)
            or (self.max_retries < 0)
        ):
            raise InvalidInputError(
                "max_retries", f"must be an int of 0 or more, not {self.max_retries!r}"
            )

    def backoff(self, retry_number: int) -> float:
        """The computed delay before retry number ``retry_number`` (1-based), jitter included."""
        base = min(self.max_delay, self.initial_delay * (2 ** max(0, retry_number - 1)))
        return float(base * (1 - self.jitter * self.random()))

    def next_delay(
        self,
        *,
        attempt: int,
        status_code: int | None,
        headers: Mapping[str, str] | None,
        elapsed: float,
        now: float,
        replayable: bool = True,
        named_wait: float | None = None,
    ) -> float | None:
        """Seconds to wait before the next attempt, or ``None`` to give up.

        ``attempt`` is the number of attempts made so far; ``status_code`` is ``None`` for a
        connection error or timeout; ``elapsed`` is the time since the call started;
        ``named_wait`` is a wait the error's message named (:func:`parse_router_wait`), taken
        like a ``Retry-After`` when the headers name none: no longer than ``max_retry_after``.
        """
        if attempt > self.max_retries or not replayable:
            return None
        headers = headers or {}
        # A server's "do not retry" wins; its "retry" cannot make a final 4xx worth repeating.
        if server_says_retry(headers) is False:
            return None
        if status_code is not None and not is_retryable_status(status_code):
            return None
        delay = self.backoff(attempt)
        if status_code is not None:
            asked = parse_retry_after(headers, now)
            if asked is None:
                asked = named_wait
            if asked is not None:
                if asked > self.max_retry_after:
                    return None
                delay = asked
        if self.deadline is not None and elapsed + delay >= self.deadline:
            return None
        return delay
