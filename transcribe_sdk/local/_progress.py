"""How far the local engine has decoded, reported to a callback while a long file runs.

The local engine decodes a file segment by segment; each segment's end time against the
file's duration says how far it is. :func:`decoding_progress` sets a callback for the calls a
block of code makes with ``Client(base_url="local")`` (or ``AsyncClient``): the in-process
transport reads it when a request arrives and the engine calls it as segments come out.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

__all__ = ["DecodingProgress", "decoding_progress"]

DecodingProgress = Callable[[str, float, float], None]
"""``callback(file_name, seconds_decoded, duration)``: ``file_name`` is the name the upload was
sent with (a path's last part), both times are seconds of the file's audio."""

_CALLBACK: ContextVar[DecodingProgress | None] = ContextVar(
    "transcribe_sdk_decoding_progress", default=None
)


@contextmanager
def decoding_progress(callback: DecodingProgress) -> Iterator[None]:
    """Within the ``with`` block, every transcription by the local engine reports its decoding:
    ``callback(file_name, seconds_decoded, duration)`` as each segment is decoded, and once
    more with ``seconds_decoded == duration`` when the file is done (silence at its end
    included). It runs in the thread doing the work: keep it short and thread-safe.

    It reaches the calls of this thread and of the tasks and threads started from it
    (``transcribe_many`` included), as a :class:`contextvars.ContextVar` does. A callback that
    raises is warned about (``RuntimeWarning``) and not called again for that file; the
    transcription goes on. A remote server reports nothing: it sends its answer whole.
    """
    token = _CALLBACK.set(callback)
    try:
        yield
    finally:
        _CALLBACK.reset(token)


def current() -> DecodingProgress | None:
    """The callback set by :func:`decoding_progress` where this runs, if any."""
    return _CALLBACK.get()


def reporter(
    callback: DecodingProgress | None, file_name: str, duration: float
) -> Callable[[float], None] | None:
    """``report(seconds)`` for one file: calls ``callback`` with seconds that only grow and
    never pass ``duration``, and stops at the callback's first exception (a warning)."""
    if callback is None:
        return None
    state = {"seconds": -1.0, "broken": False}

    def report(seconds: float) -> None:
        seconds = min(max(seconds, 0.0), duration)
        if state["broken"] or seconds <= state["seconds"]:
            return
        state["seconds"] = seconds
        try:
            callback(file_name, seconds, duration)
        except Exception as exc:  # the user's code: the transcription must not fail for it
            state["broken"] = True
            warnings.warn(
                f"the decoding_progress callback raised {type(exc).__name__}: {exc}; it is not "
                f"called again for {file_name!r}",
                RuntimeWarning,
                stacklevel=2,
            )

    return report
