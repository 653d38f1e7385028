"""The local engine as an httpx transport: requests are answered on this machine, never sent.

The request goes through the same :class:`~._app.LocalApp` as the HTTP server's: the body is
fed to its form reader as the client produces it (the upload spools to disk past a megabyte),
and ``stream=true`` answers with events produced as the model decodes. The async side waits
for the model in a worker thread so the event loop keeps going.

Stopping: every transcription gets a cancel event the engine checks while it waits for, or
decodes, the next segment. A cancelled async call (Ctrl+C, a timeout scope) sets it and
returns at once; closing the client's transport sets the events of its calls and waits (at
most :data:`STOP_WAIT` seconds) for them to stop; and so does the interpreter's exit, for
every transport. With ``base_url="local"`` the model runs in the engine's own process
(:mod:`._process`), so those waits end within a poll; a :class:`~._engine.WhisperEngine` in
this process stops at its next segment, since CTranslate2's threads must not be running when
the interpreter tears down (they abort the process: "terminate called without an active
exception").
"""

from __future__ import annotations

import atexit
import contextlib
import threading
import time
import weakref
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import anyio.to_thread
import httpx

from ._app import SSE_CONTENT_TYPE, LocalApp, Reply, error_reply
from ._forms import Form, FormError
from ._progress import DecodingProgress, current
from ._results import Cancelled

__all__ = ["STOP_WAIT", "LocalTransport"]

_END = object()
STOP_WAIT = 5.0
"""Seconds a closing transport (or the interpreter's exit) waits for its running
transcriptions to stop at their next segment."""


class _Running:
    """The cancel events of one transport's transcriptions in progress."""

    def __init__(self) -> None:
        self._events: set[threading.Event] = set()
        self._changed = threading.Condition()

    @contextmanager
    def job(self, cancel: threading.Event) -> Iterator[None]:
        """While the ``with`` block runs (in the thread doing the work), ``cancel`` is one of
        the transcriptions in progress."""
        with self._changed:
            self._events.add(cancel)
        try:
            yield
        finally:
            with self._changed:
                self._events.discard(cancel)
                self._changed.notify_all()

    def stop(self, wait: float = STOP_WAIT) -> None:
        """Cancel every transcription in progress and wait up to ``wait`` s for them to end."""
        deadline = time.monotonic() + wait
        with self._changed:
            for cancel in self._events:
                cancel.set()
            while self._events and (left := deadline - time.monotonic()) > 0:
                self._changed.wait(left)


_EVERY: weakref.WeakSet[_Running] = weakref.WeakSet()


@atexit.register
def _stop_everything() -> None:
    for running in list(_EVERY):
        running.stop()


def _stopped() -> Reply:
    return error_reply(
        503,
        "the local engine stopped this transcription: its client was closed or the program is "
        "ending",
        code="cancelled",
        headers={"x-should-retry": "false"},
    )


def _response(reply: Reply, request: httpx.Request) -> httpx.Response:
    return httpx.Response(reply.status, headers=reply.headers, content=reply.body, request=request)


class _Events(httpx.SyncByteStream):
    def __init__(self, events: Iterator[bytes]) -> None:
        self._events = events

    def __iter__(self) -> Iterator[bytes]:
        yield from self._events

    def close(self) -> None:
        close = getattr(self._events, "close", None)
        if close is not None:
            close()


class _AsyncEvents(httpx.AsyncByteStream):
    """The events, each waited for in a worker thread. A cancelled task (a timeout scope,
    Ctrl+C) returns at once: ``cancel`` tells the engine to stop, and the events are closed,
    shielded, once the abandoned ``next()`` has ended (within a poll with the engine's
    process; at its next segment with the model in this process)."""

    def __init__(self, events: Iterator[bytes], cancel: threading.Event) -> None:
        self._events = events
        self._cancel = cancel
        self._idle = threading.Event()  # no next() running in a worker thread
        self._idle.set()

    def _next(self) -> Any:
        try:
            return next(self._events, _END)
        finally:
            self._idle.set()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while True:
            self._idle.clear()
            try:
                item = await anyio.to_thread.run_sync(self._next, abandon_on_cancel=True)
            except BaseException:
                self._cancel.set()
                raise
            if item is _END:
                return
            yield item

    def _close(self) -> None:
        self._idle.wait(STOP_WAIT)
        close = getattr(self._events, "close", None)
        if close is not None:
            with contextlib.suppress(ValueError):  # still running after STOP_WAIT: left to it
                close()

    async def aclose(self) -> None:
        # Shielded: the close of a cancelled task's stream is what tells the engine to let go
        # of the file; skipped, the file stays there until the garbage collector comes.
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(self._close)


def _stream_response(
    events: Iterator[bytes], request: httpx.Request, cancel: threading.Event, *, sync: bool
) -> Any:
    stream = _Events(events) if sync else _AsyncEvents(events, cancel)
    headers = {"content-type": SSE_CONTENT_TYPE, "cache-control": "no-store"}
    return httpx.Response(200, headers=headers, stream=stream, request=request)


class LocalTransport(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """An httpx transport (sync and async) that answers with :class:`LocalApp`."""

    def __init__(self, app: LocalApp | None = None) -> None:
        self.app: LocalApp = app or LocalApp()
        """The request handling this transport answers with."""
        self._running = _Running()
        _EVERY.add(self._running)

    def close(self) -> None:
        """Stop this transport's transcriptions in progress (at their next segment)."""
        self._running.stop()

    async def aclose(self) -> None:
        """Stop this transport's transcriptions in progress (at their next segment)."""
        await anyio.to_thread.run_sync(self._running.stop)

    def _answer(
        self, form: Form, cancel: threading.Event, progress: DecodingProgress | None
    ) -> Reply | Iterator[bytes]:
        with self._running.job(cancel):
            try:
                return self.app.answer(form, cancel, progress)
            except Cancelled:
                return _stopped()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Answer ``request`` in this thread (httpx's sync transport interface)."""
        opened = self.app.open(request.method, request.url.path, request.headers)
        if isinstance(opened, Reply):
            request.read()
            return _response(opened, request)
        try:
            for chunk in request.stream:  # type: ignore[union-attr]
                opened.feed(chunk)
            form = opened.finish()
        except FormError as exc:
            opened.close()
            return _response(self.app.rejected(exc), request)
        cancel = threading.Event()
        answered = self._answer(form, cancel, current())
        return self._answered(answered, request, cancel, sync=True)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Answer ``request``, transcribing in a worker thread (httpx's async interface)."""
        opened = self.app.open(request.method, request.url.path, request.headers)
        if isinstance(opened, Reply):
            await request.aread()
            return _response(opened, request)
        try:
            async for chunk in request.stream:  # type: ignore[union-attr]
                opened.feed(chunk)
            form: Form = opened.finish()
        except FormError as exc:
            opened.close()
            return _response(self.app.rejected(exc), request)
        cancel = threading.Event()
        try:
            # A cancelled call returns at once; the thread stops at the model's next segment,
            # told by ``cancel``, instead of holding the event loop until the file's end.
            answered = await anyio.to_thread.run_sync(
                self._answer, form, cancel, current(), abandon_on_cancel=True
            )
        except BaseException:
            cancel.set()
            raise
        return self._answered(answered, request, cancel, sync=False)

    @staticmethod
    def _answered(
        answered: Reply | Iterator[bytes],
        request: httpx.Request,
        cancel: threading.Event,
        *,
        sync: bool,
    ) -> httpx.Response:
        if isinstance(answered, Reply):
            return _response(answered, request)
        return _stream_response(answered, request, cancel, sync=sync)  # type: ignore[no-any-return]
