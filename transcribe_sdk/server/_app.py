"""The local engine's HTTP face: a Starlette app (run by uvicorn in :mod:`._main`).

Request handling is the local engine's own (:class:`~transcribe_sdk.local._app.LocalApp`, the
same the in-process ``base_url="local"`` transport uses); this module adds what a server needs
around it: the key, bounded bodies read as they arrive, a bounded number of transcriptions at
once, a client's hang-up or the server's shutdown stopping its work, and ``/health``.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from ..local._app import SSE_CONTENT_TYPE, LocalApp, Reply, RequestError, error_payload
from ..local._forms import Form, FormError, FormReader
from ..local._results import Cancelled
from ._jobs import Abandoned, Jobs

if TYPE_CHECKING:
    from ._settings import ServerSettings

_END = object()
SHUTDOWN_WAIT = 60.0
"""At shutdown, the longest wait for cancelled transcriptions to stop (each stops at its next
segment, a second or so on CPU)."""
CLIENT_CLOSED = 499
"""The status logged for a request whose client hung up before its answer (nginx's number)."""


def _error(
    status: int,
    message: str,
    param: str | None = None,
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(error_payload(status, message, param, code), status, headers=headers)


def _closing_error(status: int, message: str, code: str | None = None) -> JSONResponse:
    # The rest of the body is not read: the connection cannot carry another request.
    return _error(status, message, code=code, headers={"connection": "close"})


def _response(reply: Reply) -> Response:
    headers = {k: v for k, v in reply.headers.items() if k not in ("content-length",)}
    return Response(reply.body, reply.status, headers=headers)


class _TooLarge(Exception):
    pass


class _Stalled(Exception):
    def __init__(self, whole: bool) -> None:
        super().__init__()
        self.whole = whole
        """The whole body's time ran out (not the time between two pieces)."""


class _Stopping(Exception):
    pass


STOP_POLL = 0.25
"""While a body is read, how often the reader looks whether the server is stopping."""


class _Release:
    """Gives back what one transcription holds (its slot, its spooled upload), once."""

    def __init__(self, server: Server, form: Form | None) -> None:
        self.server = server
        self.form = form
        self.cancel = threading.Event()
        self.slot = False

    def __call__(self) -> None:
        if self.slot:
            self.slot = False
            self.server.jobs.discard(self.cancel)
            self.server.slots().release()
        if self.form is not None:
            self.form.close()
            self.form = None


class _EventStream(StreamingResponse):
    """Server-Sent Events that give back their transcription's slot however they end, even
    when the client leaves before the first event is asked for."""

    def __init__(self, events: AsyncIterator[bytes], release: _Release) -> None:
        headers = {"cache-control": "no-store"}
        super().__init__(events, media_type=SSE_CONTENT_TYPE, headers=headers)
        self._release = release

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._release.cancel.set()
            self._release()


class Server:
    """The state one server process shares between its requests."""

    def __init__(self, app: LocalApp, settings: ServerSettings) -> None:
        self.app = app
        self.settings = settings
        self.jobs = Jobs()
        self.waiting = 0
        self._slots: anyio.Semaphore | None = None
        key = settings.api_key
        self._expected = key.encode() if key else None

    def slots(self) -> anyio.Semaphore:
        if self._slots is None:  # created in the event loop that serves
            self._slots = anyio.Semaphore(self.settings.concurrency)
        return self._slots

    def authorised(self, request: Request) -> bool:
        if self._expected is None:
            return True
        scheme, _, token = request.headers.get("authorization", "").strip().partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            token.strip().encode(), self._expected
        )

    # -- the body -------------------------------------------------------------------------
    async def body(self, request: Request) -> AsyncIterator[bytes]:
        """The body in pieces as they arrive; raises :class:`_TooLarge` past the bound,
        :class:`_Stalled` for a client silent too long or slower than the whole body's time,
        :class:`_Stopping` once the server is stopping, and ``OSError`` for one that left."""
        total = 0
        limit = self.settings.max_upload_bytes
        now = anyio.current_time()
        deadline = now + self.settings.body_total_timeout
        while True:
            quiet_until = min(deadline, anyio.current_time() + self.settings.body_timeout)
            message = None
            while message is None:
                if self.jobs.shutting_down:  # the grace period is over: stop waiting for it
                    raise _Stopping
                now = anyio.current_time()
                if now >= quiet_until:
                    raise _Stalled(whole=now >= deadline)
                # Short waits, so a shutdown reaches a body that drips (a cancelled receive
                # loses nothing: the next one returns what arrived meanwhile).
                with anyio.move_on_after(min(STOP_POLL, quiet_until - now)):
                    message = await request.receive()
            if message["type"] == "http.disconnect":
                raise ConnectionResetError("the client went away while sending its body")
            piece: bytes = message.get("body", b"")
            total += len(piece)
            if total > limit:
                raise _TooLarge
            if piece:
                yield piece
            if not message.get("more_body", False):
                return

    async def drain(self, request: Request) -> None:
        """Read and drop the body (within the same bounds) so the client reads our answer."""
        with contextlib.suppress(_TooLarge, _Stalled, _Stopping, OSError):
            async for _ in self.body(request):
                pass

    def declared_too_large(self, request: Request) -> Response | None:
        raw = request.headers.get("content-length")
        if raw is None:
            return None
        if not raw.strip().isdigit():
            return _closing_error(400, f"Content-Length must be a number of bytes, not {raw!r}")
        if int(raw) > self.settings.max_upload_bytes:
            return self._too_large()
        return None

    def _too_large(self) -> Response:
        limit = self.settings.max_upload_bytes
        return _closing_error(
            413, f"the body is larger than this server's {limit} bytes", "file_too_large"
        )

    async def read_form(self, request: Request) -> Form | Response:
        refused = self.declared_too_large(request)
        if refused is not None:
            return refused
        try:
            reader = FormReader(request.headers.get("content-type", ""))
        except FormError as exc:
            await self.drain(request)
            return _error(400, str(exc), exc.param)
        try:
            async for piece in self.body(request):
                reader.feed(piece)
            return reader.finish()
        except _TooLarge:
            reader.close()
            return self._too_large()
        except _Stalled as stalled:
            reader.close()
            if stalled.whole:
                whole = self.settings.body_total_timeout
                message = f"the body took longer than this server's {whole:g} s to arrive"
            else:
                message = f"the body stalled for {self.settings.body_timeout:g} s"
            return _closing_error(408, message, "request_timeout")
        except _Stopping:
            reader.close()
            return self._stopped(close=True)
        except FormError as exc:
            reader.close()
            await self.drain(request)
            return _error(400, str(exc), exc.param)
        except BaseException:
            reader.close()
            raise

    # -- the transcription ----------------------------------------------------------------
    def _busy(self) -> Response:
        return _error(
            503,
            f"all {self.settings.concurrency} transcription slots stayed busy for "
            f"{self.settings.queue_timeout:g} s; retry later",
            code="server_busy",
            headers={"retry-after": str(self.settings.retry_after)},
        )

    def _stopped(self, close: bool = False) -> Response:
        headers = {"retry-after": str(self.settings.retry_after)}
        if close:  # the rest of the body is not read
            headers["connection"] = "close"
        return _error(
            503, "the server is shutting down", code="server_shutting_down", headers=headers
        )

    async def _acquire(self) -> bool:
        slots = self.slots()
        self.waiting += 1
        try:
            with anyio.move_on_after(self.settings.queue_timeout):
                await slots.acquire()
                return True
            return False
        finally:
            self.waiting -= 1

    async def transcribe(self, request: Request) -> Response:
        received = await self.read_form(request)
        if isinstance(received, Response):
            return received
        form = received
        release = _Release(self, form)
        try:
            try:
                job = self.app.prepare(form)
            except RequestError as exc:
                return _error(exc.status, str(exc), exc.param, exc.code)
            if not await self._acquire():
                return self._busy()
            release.slot = True
            if self.jobs.shutting_down:  # it waited for a slot while the server began to stop
                return self._stopped()
            self.jobs.add(release.cancel)
            try:
                if job.stream:
                    events = await self.jobs.run(job.events, release.cancel)
                    response = _EventStream(self._relay(events, release), release)
                    release = _Release(self, None)  # the stream releases the real one
                    return response
                return await self._watching(request, job.run, release.cancel)
            except RequestError as exc:
                return _error(exc.status, str(exc), exc.param, exc.code)
            except (Cancelled, Abandoned):
                if self.jobs.shutting_down:
                    return self._stopped()
                return Response(status_code=CLIENT_CLOSED)
            except Exception as exc:  # an engine failure is the server's fault: a 500
                message = f"the local engine failed: {type(exc).__name__}: {exc}"
                return _error(500, message)
        finally:
            release()

    async def _watching(
        self, request: Request, work: Callable[[threading.Event], Reply], cancel: threading.Event
    ) -> Response:
        """Run ``work`` while watching for the client's hang-up, which cancels it."""
        failure: Exception | None = None
        reply: Reply | None = None
        async with anyio.create_task_group() as group:

            async def watch() -> None:
                while (await request.receive())["type"] != "http.disconnect":
                    pass
                cancel.set()

            group.start_soon(watch)
            try:
                reply = await self.jobs.run(work, cancel)
            except Exception as exc:  # raised outside the group, not as an ExceptionGroup
                failure = exc
            finally:
                group.cancel_scope.cancel()
        if failure is not None:
            raise failure
        assert reply is not None
        return _response(reply)

    async def _relay(self, events: Iterator[bytes], release: _Release) -> AsyncIterator[bytes]:
        """The events, each produced in a worker thread as the model decodes a segment."""
        try:
            while True:
                item: Any = await self.jobs.run(lambda _: next(events, _END), release.cancel)
                if item is _END:
                    return
                yield item
        except (Cancelled, Abandoned):  # the server is stopping: say so, as OpenAI reports one
            message = "the server is shutting down"
            stopping = error_payload(503, message, None, "server_shutting_down")
            yield b"data: " + json.dumps(stopping).encode() + b"\n\n"
        finally:
            release()

    # -- the other routes -------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        return {
            "status": "stopping" if self.jobs.shutting_down else "ok",
            "model": self.app.engine.default_model,
            "running": self.jobs.running,
            "waiting": self.waiting,
            "concurrency": self.settings.concurrency,
        }


def create_app(app: LocalApp, settings: ServerSettings) -> Starlette:
    """The Starlette app serving ``app`` within ``settings``' bounds."""
    server = Server(app, settings)

    def guarded(handler: Callable[[Request], Any]) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            if not server.authorised(request):
                # Answered on the head alone: no byte of a body is read for a client without
                # the key, and the connection closes, so it holds nothing afterwards (a client
                # sending "Expect: 100-continue" never sends its body at all).
                headers = {"www-authenticate": "Bearer", "connection": "close"}
                return _error(
                    401, "missing or wrong bearer key", code="invalid_api_key", headers=headers
                )
            result = handler(request)
            answer: Response = result if isinstance(result, Response) else await result
            return answer

        return endpoint

    async def transcriptions(request: Request) -> Response:
        return await server.transcribe(request)

    def models(request: Request) -> Response:
        return _response(app.models())

    async def health(request: Request) -> Response:
        return JSONResponse(server.health())

    async def not_found(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 404
        path = request.url.path
        if status == 405:
            return _error(
                405, f"{request.method} is not allowed on {path}", code="method_not_allowed"
            )
        return _error(status, f"no route for {request.method} {path}", code="not_found")

    routes = [
        Route("/health", health, methods=["GET"]),
    ]
    for prefix in ("/v1", ""):
        routes += [
            Route(f"{prefix}/models", guarded(models), methods=["GET"]),
            Route(f"{prefix}/audio/transcriptions", guarded(transcriptions), methods=["POST"]),
        ]

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        yield
        # uvicorn has stopped taking requests and waited its grace period: stop what still
        # runs, and wait for the model's threads, so none is cut off when the process ends.
        server.jobs.cancel_all()
        await anyio.to_thread.run_sync(server.jobs.wait, SHUTDOWN_WAIT)

    starlette = Starlette(
        routes=routes,
        exception_handlers={404: not_found, 405: not_found},
        lifespan=lifespan,
    )
    starlette.state.server = server
    return starlette
