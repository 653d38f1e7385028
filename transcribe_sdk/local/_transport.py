"""The local engine as an httpx transport: requests are answered in-process, never sent.

The async side runs the model in a worker thread so the event loop keeps going.
"""

from __future__ import annotations

import anyio.to_thread
import httpx

from ._app import LocalApp, Reply
from ._url import LOCAL_BASE_URL

__all__ = ["LOCAL_BASE_URL", "LocalTransport"]


def _response(reply: Reply, request: httpx.Request) -> httpx.Response:
    return httpx.Response(reply.status, headers=reply.headers, content=reply.body, request=request)


class LocalTransport(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """An httpx transport (sync and async) that answers with :class:`LocalApp`."""

    def __init__(self, app: LocalApp | None = None) -> None:
        self.app = app or LocalApp()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        reply = self.app.handle(request.method, request.url.path, request.headers, body)
        return _response(reply, request)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        reply = await anyio.to_thread.run_sync(
            self.app.handle, request.method, request.url.path, request.headers, body
        )
        return _response(reply, request)
