"""One attempt's I/O-free helpers: what it read, and what its failures mean.

:class:`Exchange` is what an attempt read; :class:`BodySink` collects a body up to its cap;
:class:`AttemptTrace` records what httpcore reported of an attempt; :func:`map_transport_error`
turns an httpx failure into our error with advice (:func:`answered_mid_upload`: an upload the
server cut off with an answer, never sent again); :func:`resend_on_fresh_connection` tells a
stale keep-alive connection from a real failure;
:func:`closed_error` names a client closed under a running call. The shells in ``shells.py``
use them around each send; the decisions across attempts stay in ``flow.call_flow``.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx

from .._http.wire import Wire
from ..errors import (
    APIConnectionError,
    APITimeoutError,
    ClientClosedError,
    UploadInterruptedError,
)

if TYPE_CHECKING:
    from .call import Call

__all__ = [
    "ERROR_BODY_LIMIT",
    "AttemptTrace",
    "BodySink",
    "Exchange",
    "OpenStream",
    "closed_error",
    "map_transport_error",
    "opens_stream",
    "resend_on_fresh_connection",
]

ERROR_BODY_LIMIT = 64 * 1024
"""At most this much of an error body is read: enough for any message, not a 10 MB HTML page."""


@dataclass
class OpenStream:
    """A streamed call's answer: a 2xx ``text/event-stream`` response, open and unread."""

    response: httpx.Response


def opens_stream(call: Call, response: httpx.Response) -> bool:
    """Whether ``response`` is the event stream a ``stream=True`` call waits for."""
    return (
        call.stream
        and 200 <= response.status_code < 300
        and "text/event-stream" in response.headers.get("content-type", "").lower()
    )


@dataclass
class Exchange:
    """What one attempt read: the response (closed) and its body, maybe only the start of it."""

    response: httpx.Response
    content: bytes
    truncated: bool = False


class BodySink:
    """Collects a response body as it is read, up to its cap: ``max_response_bytes`` for a
    success, :data:`ERROR_BODY_LIMIT` for an error. :meth:`add` says when to stop reading; it
    also stops a body that is still arriving when the call's deadline passes."""

    def __init__(self, call: Call, response: httpx.Response) -> None:
        self._call = call
        self._response = response
        self._limit = call.max_response_bytes if response.is_success else ERROR_BODY_LIMIT
        self._chunks: list[bytes] = []
        self._size = 0

    def add(self, chunk: bytes) -> bool:
        """Take a chunk; ``True`` once the cap is passed (stop reading)."""
        self._chunks.append(chunk)
        self._size += len(chunk)
        if self._call.time_left() == 0:
            # A server dripping its body must not outlast the deadline (each read has its own
            # timeout; this bounds them all).
            raise httpx.ReadTimeout("the call's deadline passed while the body was arriving")
        return self._size > self._limit

    def exchange(self) -> Exchange:
        """What was read, cut at the cap."""
        if self._size > self._limit and self._response.is_success:
            self._chunks.clear()  # refused whole (ResponseTooLargeError): no copy of it needed
            return Exchange(self._response, b"", truncated=True)
        content = b"".join(self._chunks)
        self._chunks.clear()
        if self._size <= self._limit:
            return Exchange(_read_copy(self._response, content), content)
        return Exchange(self._response, content[: self._limit], truncated=True)


def _read_copy(response: httpx.Response, content: bytes) -> httpx.Response:
    """``response`` (closed, its body read here in capped chunks) as one whose ``.content``,
    ``.text`` and ``.json()`` work, built with httpx's public constructor. The body is already
    decoded, so the copy names no ``Content-Encoding``; every other header is the server's."""
    headers = [
        (name, value)
        for name, value in response.headers.raw
        if name.lower() not in (b"content-encoding", b"content-length")
    ]
    headers.append((b"Content-Length", str(len(content)).encode("ascii")))
    copy = httpx.Response(
        response.status_code,
        headers=headers,
        stream=httpx.ByteStream(content),
        request=response.request,
        extensions=response.extensions,
        default_encoding=response.default_encoding,
    )
    copy.read()
    with contextlib.suppress(RuntimeError):  # not set on a response a transport built read
        copy.elapsed = response.elapsed
    return copy


_BODY_FAILED = "http11.send_request_body.failed"
_HEAD_IN = "http11.receive_response_headers.complete"
_WROTE = "http11.send_request_headers.started"


class AttemptTrace:
    """What one attempt's connection reported: the httpcore ``trace`` events
    (``"connection.connect_tcp.started"``, ...) and the status of an answer whose head arrived,
    through the request's documented ``trace`` extension (:meth:`record` is the callback; the
    async shell awaits it through a wrapper), and what our own transport saw of it
    (:attr:`wire`: a new connection, answer bytes, the deadline its sockets keep to)."""

    def __init__(self, deadline: float | None = None) -> None:
        self.events: set[str] = set()
        self.status: int | None = None
        self.wire = Wire(deadline=deadline)

    def record(self, event: str, info: object) -> None:
        self.events.add(event)
        if event == _HEAD_IN and isinstance(info, dict):
            head = info.get("return_value")  # (http_version, status, reason, headers, ...)
            if isinstance(head, tuple) and len(head) > 1 and isinstance(head[1], int):
                self.status = head[1]

    def clear(self) -> None:
        self.events.clear()
        self.status = None
        self.wire = Wire(deadline=self.wire.deadline)

    @property
    def answer_began(self) -> bool | None:
        """Whether any byte of an answer came back (``None``: not known, the request went
        through a transport that is not ours)."""
        if self.status is not None:
            return True
        return self.wire.answer_bytes > 0 if self.wire.carried else None


def answered_mid_upload(exc: httpx.RequestError, trace: AttemptTrace) -> bool:
    """The rule that keeps a refused upload from being sent again: writing the body failed
    (the server closed the connection part-way through the upload) *after the server had begun
    to answer*, and the answer could not be read to its end. Such a server is refusing the
    request; a retry would upload the whole file again to be refused again.

    Our own connections read an early answer whole (:mod:`transcribe_sdk._http.streams`);
    this holds for every transport, an ``http_client`` of the user's too (there, only an
    answer whose head arrived is known). An upload cut off with no answer at all (a reset, a
    restart) stays for the retry policy.
    """
    return _BODY_FAILED in trace.events and bool(trace.answer_began)


def resend_on_fresh_connection(exc: httpx.RequestError, trace: AttemptTrace) -> bool:
    """Whether an attempt that failed with ``exc`` may be sent again at once, as the same
    attempt: it went out on a reused keep-alive connection (no connect in the attempt) that
    failed before any byte of an answer came back: the keep-alive race every HTTP/1.1 client
    meets (the server closed the idle connection as the request went out)."""
    if _WROTE not in trace.events:
        return False  # httpcore never wrote on a connection (a mock transport...)
    if trace.wire.connected or any(e.startswith("connection.connect_") for e in trace.events):
        return False  # a new connection: a real failure, for the retry policy
    began = trace.answer_began
    if began:
        return False
    if began is None and isinstance(exc, httpx.ReadError):
        # Another transport: no count of answer bytes. A reset read after a failed write
        # means the server had closed before the request was in; after the whole request
        # went out, it may have started on it (that is for the retry policy).
        return any(
            e.startswith("http11.send_request_") and e.endswith(".failed") for e in trace.events
        )
    return isinstance(exc, httpx.ReadError | httpx.WriteError | httpx.RemoteProtocolError)


_TIMEOUT_PHASES = {
    httpx.ConnectTimeout: ("connecting", "connect"),
    httpx.WriteTimeout: ("uploading the file", "write"),
    httpx.ReadTimeout: ("waiting for the answer", "read"),
    httpx.PoolTimeout: ("waiting for a free connection", "pool"),
}


def map_transport_error(
    exc: httpx.RequestError, call: Call, trace: AttemptTrace | None = None
) -> APIConnectionError:
    """Our error for a transport failure of ``call``; ``trace`` (the attempt's) lets it tell an
    upload the server cut off with an answer (:class:`UploadInterruptedError`, final)."""
    if trace is not None and answered_mid_upload(exc, trace):
        error: APIConnectionError = _cut_off(exc, call, trace.status)
    else:
        error = _transport_error(exc, call)
    # Kept for debugging; httpx puts no request headers (so no key) in its messages.
    error.__cause__ = exc
    error.__suppress_context__ = True
    return error


def _transport_error(exc: httpx.RequestError, call: Call) -> APIConnectionError:
    """Our exception for an httpx transport failure (or an undecodable body), with what to do
    about it."""
    where = call.where
    if isinstance(exc, httpx.TimeoutException):
        if call.time_left() == 0:
            return call.deadline_error()
        doing, phase = next(
            (v for k, v in _TIMEOUT_PHASES.items() if isinstance(exc, k)), ("waiting", "read")
        )
        limit = getattr(call.timeout, phase, None)
        if call.policy.deadline is not None:
            advice = (
                f"The call's deadline is {call.policy.deadline:g} s and no wait may outlast what "
                "is left of it: raise deadline= (or drop it) to wait longer."
            )
        else:
            advice = (
                f"Long audio can take minutes: raise it, e.g. "
                f"timeout=httpx.Timeout(60, {phase}={(limit or 60) * 2:g})."
            )
        return APITimeoutError(
            f"Timed out {doing} for {where} (the {phase} timeout is {limit:g} s). {advice}"
            if limit is not None
            else f"Timed out {doing} for {where}. {advice}",
            reason=f"{phase} timeout",
        )
    detail = (str(exc) or type(exc).__name__).rstrip(".")
    if isinstance(exc, httpx.ConnectError):
        advice = "Check base_url, the network and any proxy settings."
    elif isinstance(exc, httpx.DecodingError):
        advice = (
            "The server's body could not be decoded as its Content-Encoding says; a proxy may "
            "have damaged it."
        )
    elif isinstance(exc, httpx.RemoteProtocolError):
        advice = (
            "The server closed the connection early; it may have restarted or refused the upload."
        )
    else:
        advice = "The connection failed mid-request; retrying usually helps."
    return APIConnectionError(
        f"Could not complete {where}: {detail}. {advice}", reason=detail[:120]
    )


def _cut_off(exc: httpx.RequestError, call: Call, status: int | None) -> UploadInterruptedError:
    answer = f"answered {status}" if status is not None else "began to answer"
    hint = " (413: the file is too large)" if status == 413 else ""
    size = f" of {call.upload_size:,} bytes" if call.upload_size is not None else ""
    detail = (str(exc) or type(exc).__name__).rstrip(".")
    return UploadInterruptedError(
        f"Could not complete {call.where}: the server {answer} while the upload{size} was "
        f"still going, then closed the connection before the whole answer came ({detail}). "
        f"It was not sent again: a server that answers mid-upload refuses the request{hint}, "
        "and a retry would upload the whole file again. Check the server's limits; a smaller "
        "file (mono 16 kHz mp3/ogg) or transcribe_long may get through.",
        status_code=status,
    )


def closed_error(call: Call) -> ClientClosedError:
    """The error of a call whose client was closed under it (from another thread or task):
    httpx then raises a bare ``RuntimeError``, or a transport error from the cut connection."""
    return ClientClosedError(
        f"The client was closed (close() or the end of its with-block, in another thread or "
        f"task) while a call to {call.where} was running; it was abandoned. Close a client "
        "only once every call on it has finished.",
        reason="client closed",
    )
