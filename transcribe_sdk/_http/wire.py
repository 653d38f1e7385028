"""What one attempt's connections saw, and the deadline they keep to.

The shells set :data:`current` to a fresh :class:`Wire` around each attempt. Our transport and
streams run in the same thread or task (and in tasks it starts, which copy the context), so they
record into it what the retry layer needs to know and cannot learn from an exception: whether
the attempt opened a connection, and whether any byte of an answer came back. Every socket wait
on our connections takes :func:`cap` of its own timeout, so none outlasts the call's deadline.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

__all__ = ["Wire", "apart", "cap", "current", "expired", "saw_answer_bytes", "saw_connect"]


@dataclass
class Wire:
    """One attempt, as its connection saw it."""

    deadline: float | None = None
    """``time.monotonic()`` by which the attempt must be done, or ``None``."""
    carried: bool = False
    """Our transport carried the request (so the two counts below are known)."""
    connected: bool = False
    """A connection was opened for it (not a reused keep-alive one)."""
    answer_bytes: int = 0
    """Bytes of the server's answer read (early answers and interim ``1xx`` included)."""


current: ContextVar[Wire | None] = ContextVar("transcribe_sdk_wire", default=None)

_EXPIRED = 0.001
"""The timeout handed to a socket wait once the deadline has passed: it fails at once."""


def cap(timeout: float | None) -> float | None:
    """``timeout``, shortened to what is left before the deadline (if one is set)."""
    wire = current.get()
    if wire is None or wire.deadline is None:
        return timeout
    left = max(wire.deadline - time.monotonic(), _EXPIRED)
    return left if timeout is None else min(timeout, left)


def expired() -> bool:
    """Whether the current attempt has a deadline and it has passed."""
    wire = current.get()
    return wire is not None and wire.deadline is not None and time.monotonic() >= wire.deadline


@contextmanager
def apart() -> Iterator[None]:
    """Requests made inside (a download the upload reads from) keep to the attempt's deadline
    but record nothing into it: their connections and answers are not the upload's."""
    wire = current.get()
    token = current.set(None if wire is None else Wire(deadline=wire.deadline))
    try:
        yield
    finally:
        current.reset(token)


def saw_answer_bytes(count: int) -> None:
    wire = current.get()
    if wire is not None:
        wire.answer_bytes += count


def saw_connect() -> None:
    wire = current.get()
    if wire is not None:
        wire.connected = True
