"""Many files at once: bounded concurrency, results in input order, one shared 429 back-off.

A failed file becomes its error in the results and the others go on. When any request is
rate limited, :class:`RateGate` makes every worker wait before its next attempt, so a batch
slows down as a whole instead of each worker finding the limit on its own.
"""

from __future__ import annotations

import contextvars
import os
import queue
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import anyio

from ..errors import InvalidFileError, InvalidInputError, TranscribeError, type_name

if TYPE_CHECKING:
    from .._inputs.async_files import AsyncFileInput
    from .._route import Route
    from ..files import FileInput

T = TypeVar("T")

__all__ = ["BatchResult", "ProgressCallback", "RateGate"]


class RateGate:
    """A time before which no worker sharing the gate starts another attempt.

    Thread-safe and loop-agnostic: it only stores a deadline; each shell does its own waiting.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._until = 0.0
        self._lock = threading.Lock()

    def hold(self, seconds: float) -> None:
        """Ask every worker to wait at least ``seconds`` from now."""
        with self._lock:
            self._until = max(self._until, self._clock() + max(0.0, seconds))

    def wait_time(self) -> float:
        """Seconds left before the next attempt may start (0 when free)."""
        with self._lock:
            return max(0.0, self._until - self._clock())


@dataclass(frozen=True)
class BatchResult(Generic[T]):
    """The outcome for one input of a batch: ``result`` or ``error``, never both.

    ``index`` is the input's position; ``input`` is what was passed in.
    """

    index: int
    input: Any
    result: T | None = None
    error: TranscribeError | None = None
    route: Route | None = None
    """What the router said about the answer, the result's or the error's (deployment, cost,
    retries); ``None`` when no answer came (a connection error, a bad input). For a ``text``,
    ``srt`` or ``vtt`` batch, whose results are plain strings, this is where the route is."""
    warnings: tuple[UserWarning, ...] = ()
    """The quality warnings of the result (:class:`~transcribe_sdk.IncompleteTranscriptWarning`,
    :class:`~transcribe_sdk.LanguageMismatchWarning`); each is also warned, from the calling
    thread, as the input finishes."""

    @property
    def ok(self) -> bool:
        """True when this input was transcribed (``result`` is set, ``error`` is None)."""
        return self.error is None

    def unwrap(self) -> T:
        """The result, or raise the error."""
        if self.error is not None:
            raise self.error
        return self.result  # type: ignore[return-value]


ProgressCallback = Callable[[int, int, BatchResult[Any]], None]
"""``on_progress(done, total, item)``, called once per finished input, ``done`` counting 1 to
``total`` (in the calling thread for the sync client, in the event loop for the async one)."""


def check_concurrency(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInputError("max_concurrency", f"must be an int of 1 or more, not {value!r}")
    return value


def _unreadable(exc: OSError) -> InvalidFileError:
    # A file object that fails while being read fails its own input, not the whole batch.
    error = InvalidFileError(f"cannot read the input: {exc}")
    error.__cause__ = exc
    return error


def _failed(index: int, item: Any, exc: TranscribeError | OSError) -> BatchResult[Any]:
    """A failed input's result; an ``OSError`` reading it becomes an InvalidFileError."""
    error = exc if isinstance(exc, TranscribeError) else _unreadable(exc)
    route = getattr(error, "route", None)  # an error built from an answer has one
    return BatchResult(index, item, error=error, route=route)


def _succeeded(index: int, item: Any, raw: Any) -> BatchResult[Any]:
    """A transcribed input's result, from the call's ``RawResponse``."""
    return BatchResult(index, item, result=raw.parsed, route=raw.route, warnings=raw.warnings)


def _settle_item(index: int, item: Any, run: Callable[[], Any]) -> BatchResult[Any]:
    try:
        return _succeeded(index, item, run())
    except (TranscribeError, OSError) as exc:
        return _failed(index, item, exc)


def _warn(item: BatchResult[Any]) -> None:
    # From the calling thread (or the event loop), where the caller's warning filters apply;
    # a filter set to "error" stops the batch there, as a failing on_progress does.
    for warning in item.warnings:
        warnings.warn(warning, stacklevel=4)


_POLL_SECONDS = 0.2
"""How often the calling thread wakes while it waits for a batch's results, so that Ctrl+C is
seen promptly on every platform (a lock wait cannot be interrupted on Windows)."""

_REUSABLE = (str, os.PathLike, bytes, bytearray, memoryview)


def _stateful_parts(item: Any) -> list[Any]:
    """What in one input holds a read position: a file object, an iterator, a prepared
    :class:`AudioFile`. Paths and bytes can be read any number of times."""
    content = item[1] if isinstance(item, tuple) and len(item) >= 2 else item
    return [] if isinstance(content, _REUSABLE) else [content]


def check_distinct(items: Sequence[Any]) -> None:
    """Refuse a stream given twice in one batch.

    Workers would share its read position: each upload would hold part of the file, and each
    could still come back "ok". Raised before any input is read or sent.
    """
    first: dict[int, int] = {}  # id() is unique here: every item is alive in ``items``
    for index, item in enumerate(items):
        for part in _stateful_parts(item):
            seen = first.setdefault(id(part), index)
            if seen != index:
                raise InvalidInputError(
                    "files",
                    f"inputs {seen} and {index} are the same {type_name(part)} object; a stream "
                    "is read as it is uploaded, so a batch may hold it once: open the file once "
                    "per input, or pass its path",
                )


class _Failure:
    """An exception other than a file's failure, carried from a worker to the calling thread."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def run_batch(
    files: list[FileInput],
    call: Callable[[FileInput, RateGate], Any],
    *,
    max_concurrency: int,
    on_progress: ProgressCallback | None,
) -> list[BatchResult[Any]]:
    """Run ``call`` over ``files`` on at most ``max_concurrency`` threads; ``call`` returns a
    ``RawResponse``, whose result, route and warnings become the input's :class:`BatchResult`.

    The workers are daemon threads that take the next input from a queue. When the calling
    thread stops waiting (Ctrl+C, a failing ``on_progress``), no further input is started and
    the exception is raised at once: the calls still in flight are not waited for (they end on
    their own, and their results are dropped), and a program that exits is not held up by them.
    """
    check_distinct(files)
    if not files:
        return []
    gate = RateGate()
    todo: queue.SimpleQueue[tuple[int, FileInput]] = queue.SimpleQueue()
    for pair in enumerate(files):
        todo.put(pair)
    finished: queue.SimpleQueue[BatchResult[Any] | _Failure] = queue.SimpleQueue()
    stop = threading.Event()

    def work() -> None:
        while not stop.is_set():
            try:
                index, item = todo.get_nowait()
            except queue.Empty:
                return
            try:
                finished.put(_settle_item(index, item, partial(call, item, gate)))
            except BaseException as exc:  # raised in the calling thread, as itself
                finished.put(_Failure(exc))
                return

    # Each worker runs in a copy of the caller's context: context variables set around the
    # batch (transcribe_sdk.local.decoding_progress, a tracing span) reach its calls.
    workers = [
        threading.Thread(
            target=contextvars.copy_context().run, args=(work,), name=f"transcribe-{n}", daemon=True
        )
        for n in range(min(max_concurrency, len(files)))
    ]
    for worker in workers:
        worker.start()
    results: list[BatchResult[Any] | None] = [None] * len(files)
    try:
        for done in range(1, len(files) + 1):
            while True:
                try:
                    outcome = finished.get(timeout=_POLL_SECONDS)
                    break
                except queue.Empty:
                    continue
            if isinstance(outcome, _Failure):
                raise outcome.exc
            results[outcome.index] = outcome
            _warn(outcome)
            if on_progress is not None:
                on_progress(done, len(files), outcome)
    finally:
        stop.set()  # nothing new starts; a worker between inputs returns
    for worker in workers:
        worker.join()  # each has finished its last input: this does not wait on the network
    return [r for r in results if r is not None]


async def arun_batch(
    files: list[AsyncFileInput],
    call: Callable[[AsyncFileInput, RateGate], Any],
    *,
    max_concurrency: int,
    on_progress: ProgressCallback | None,
) -> list[BatchResult[Any]]:
    """Run the coroutine function ``call`` (a ``RawResponse`` each) over ``files``, at most
    ``max_concurrency`` at once."""
    check_distinct(files)
    gate = RateGate()
    results: list[BatchResult[Any] | None] = [None] * len(files)
    limiter = anyio.Semaphore(max_concurrency)
    done = 0

    async def one(index: int, item: AsyncFileInput) -> None:
        nonlocal done
        if failures:
            return  # a callback failed: start nothing more
        async with limiter:
            try:
                outcome = _succeeded(index, item, await call(item, gate))
            except (TranscribeError, OSError) as exc:
                outcome = _failed(index, item, exc)
        results[index] = outcome
        done += 1
        if not failures:
            try:
                _warn(outcome)
                if on_progress is not None:
                    on_progress(done, len(files), outcome)
            except Exception as exc:  # raised as itself below, not in an exception group
                failures.append(exc)

    failures: list[Exception] = []
    async with anyio.create_task_group() as group:
        for index, item in enumerate(files):
            group.start_soon(one, index, item)
    if failures:
        raise failures[0]
    return [r for r in results if r is not None]
