"""The local engine as an httpx transport: requests are answered in-process, never sent.

The request goes through the same :class:`~._app.LocalApp` as the HTTP server's: the body is
fed to its form reader as the client produces it (the upload spools to disk past a megabyte),
and ``stream=true`` answers with events produced as the model decodes. The async side runs the
model in a worker thread so the event loop keeps going.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio.to_thread
import httpx

from ._app import SSE_CONTENT_TYPE, LocalApp, Reply
from ._forms import Form, FormError

__all__ = ["LocalTransport"]

_END = object()


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
    def __init__(self, events: Iterator[bytes]) -> None:
        self._events = events

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while True:
            item = await anyio.to_thread.run_sync(next, self._events, _END)
            if item is _END:
                return
            yield item  # type: ignore[misc]

    async def aclose(self) -> None:
        close = getattr(self._events, "close", None)
        if close is not None:
            await anyio.to_thread.run_sync(close)


def _stream_response(events: Iterator[bytes], request: httpx.Request, *, sync: bool) -> Any:
    stream = _Events(events) if sync else _AsyncEvents(events)
    headers = {"content-type": SSE_CONTENT_TYPE, "cache-control": "no-store"}
    return httpx.Response(200, headers=headers, stream=stream, request=request)


class LocalTransport(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """An httpx transport (sync and async) that answers with :class:`LocalApp`."""

    def __init__(self, app: LocalApp | None = None) -> None:
        self.app: LocalApp = app or LocalApp()
        """The request handling this transport answers with."""

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
        return self._answered(self.app.answer(form), request, sync=True)

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
        answered = await anyio.to_thread.run_sync(self.app.answer, form)
        return self._answered(answered, request, sync=False)

    @staticmethod
    def _answered(
        answered: Reply | Iterator[bytes], request: httpx.Request, *, sync: bool
    ) -> httpx.Response:
        if isinstance(answered, Reply):
            return _response(answered, request)
        return _stream_response(answered, request, sync=sync)  # type: ignore[no-any-return]
