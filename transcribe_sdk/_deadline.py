"""The wall-clock bound of a call, as the socket layer sees it.

The shells set :data:`deadline` around each attempt; every read, write and wait on a
connection we made takes :func:`cap` of its own timeout, so no single socket operation can run
past what is left of the call's ``deadline``.
"""

from __future__ import annotations

import time
from contextvars import ContextVar

__all__ = ["cap", "deadline"]

deadline: ContextVar[float | None] = ContextVar("transcribe_sdk_deadline", default=None)
"""``time.monotonic()`` by which the current attempt must be done, or ``None``."""

_EXPIRED = 0.001
"""The timeout handed to a read or write once the deadline has passed: it fails at once."""


def cap(timeout: float | None) -> float | None:
    """``timeout``, shortened to what is left before the deadline (if one is set)."""
    at = deadline.get()
    if at is None:
        return timeout
    left = max(at - time.monotonic(), _EXPIRED)
    return left if timeout is None else min(timeout, left)
