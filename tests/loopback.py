"""A real HTTP/1.1 server on 127.0.0.1 for tests that need sockets (a helper, not a test file).

:class:`LoopbackServer` is a context manager: on entry it binds port 0 on 127.0.0.1 and serves
from a background thread (``http.server.ThreadingHTTPServer``, one thread per connection); on
exit it stops serving, cuts every connection still open (a client's idle keep-alive included),
joins every thread it started and closes every socket, so nothing outlives the ``with`` block.

Every request is recorded (:class:`Recorded`: method, path, headers in order, the whole body,
and whether it came with ``Content-Length`` or chunked) and answered by the test's script:
replies queued with :meth:`LoopbackServer.queue` are used first, in order, then the responder
(a function of the recorded request, :func:`echo_upload` by default). :func:`parse_multipart`
reads a ``multipart/form-data`` body back into its parts, strictly, to check what a client sent.

Example::

    with LoopbackServer() as server:
        server.queue(json_reply({"error": {"message": "busy"}}, status=503))
        client = Client(api_key="sk-...", base_url=server.base_url)
        ...
        assert server.requests[1].form().file().data == audio_bytes
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import http
import http.server
import io
import json
import re
import select
import socket
import socketserver
import ssl
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "Form",
    "LoopbackServer",
    "Part",
    "Recorded",
    "Reply",
    "Responder",
    "echo_upload",
    "json_reply",
    "parse_multipart",
    "text_reply",
]

HOST = "127.0.0.1"
IO_TIMEOUT = 10.0
"""Seconds any one socket read or write of the server may block: a stuck client fails a test,
it does not hang it."""
JOIN_TIMEOUT = 10.0
"""Seconds the server's threads get to finish once their connections are cut."""
HOLD = 10.0
"""Seconds ``unread="hold"`` keeps a connection open at most."""
_PIECE = 64 * 1024
_MAX_LINE = 64 * 1024


# -- what the server records and what it answers ------------------------------------------------
@dataclass(frozen=True)
class Part:
    """One part of a multipart body."""

    name: str
    filename: str | None
    content_type: str | None
    data: bytes
    headers: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Form:
    """A parsed ``multipart/form-data`` body, its parts in the order they were sent."""

    parts: tuple[Part, ...]

    def fields(self) -> list[tuple[str, str]]:
        """The text fields (parts without a filename) as ``(name, value)`` pairs, in order."""
        return [(p.name, p.data.decode("utf-8")) for p in self.parts if p.filename is None]

    def field(self, name: str) -> str | None:
        """The value of the one text field ``name``, ``None`` if absent; two is an error."""
        values = [value for key, value in self.fields() if key == name]
        if len(values) > 1:
            raise ValueError(f"field {name!r} was sent {len(values)} times")
        return values[0] if values else None

    def file(self, name: str = "file") -> Part:
        """The one file part called ``name``."""
        found = [p for p in self.parts if p.name == name and p.filename is not None]
        if len(found) != 1:
            raise ValueError(f"expected one file part {name!r}, found {len(found)}")
        return found[0]


@dataclass(frozen=True)
class Recorded:
    """One request as the server read it off the socket."""

    index: int
    method: str
    path: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    chunked: bool
    chunks: int
    connection: int
    """Which accepted connection carried it (0, 1, ...): equal numbers mean a reused socket."""
    started: float
    finished: float
    """``time.monotonic()`` when the request line arrived and when the last body byte did."""

    def header(self, name: str) -> str | None:
        """The first header called ``name`` (any case), or ``None``."""
        wanted = name.lower()
        return next((v for k, v in self.headers if k.lower() == wanted), None)

    def form(self) -> Form:
        """The body parsed as ``multipart/form-data`` (raises ``ValueError`` if it is not)."""
        return parse_multipart(self.header("content-type") or "", self.body)

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class Reply:
    """What to answer. ``delay`` waits before answering; ``drop`` closes the connection instead
    of answering (the client sees the server disconnect); ``length`` is the ``Content-Length``
    to declare (default: the body's), a larger one an answer the connection then ends short of."""

    status: int = 200
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    delay: float = 0.0
    drop: bool = False
    length: int | None = None
    drip: float = 0.0
    """Send the answer (head included) one byte every ``drip`` seconds, then close: a server
    that keeps every read short while the answer never quite comes."""


Responder = Callable[[Recorded], Reply]


def json_reply(data: object, status: int = 200, headers: Mapping[str, str] | None = None) -> Reply:
    """A JSON answer with ``Content-Type: application/json``."""
    pairs = (("Content-Type", "application/json"), *(headers or {}).items())
    return Reply(status, json.dumps(data).encode("utf-8"), tuple(pairs))


def text_reply(
    text: str,
    status: int = 200,
    content_type: str = "text/plain; charset=utf-8",
    headers: Mapping[str, str] | None = None,
) -> Reply:
    """A text answer (a plain transcript, an srt file, an HTML error page...)."""
    pairs = (("Content-Type", content_type), *(headers or {}).items())
    return Reply(status, text.encode("utf-8"), tuple(pairs))


def echo_upload(request: Recorded) -> Reply:
    """Answer with what arrived, as a transcription: ``text`` is the ``prompt`` field if one was
    sent, else the uploaded filename; the rest describes the file part and the fields."""
    try:
        form = request.form()
        upload = form.file()
    except ValueError as exc:
        return json_reply({"error": {"message": f"bad multipart body: {exc}"}}, status=400)
    return json_reply(
        {
            "text": form.field("prompt") or upload.filename,
            "filename": upload.filename,
            "content_type": upload.content_type,
            "size": len(upload.data),
            "sha256": hashlib.sha256(upload.data).hexdigest(),
            "fields": form.fields(),
        }
    )


# -- multipart, read strictly ---------------------------------------------------------------------
_PARAM = re.compile(r';\s*([A-Za-z0-9*_-]+)=(?:"([^"]*)"|([^;\s]*))')


def _params(value: str) -> dict[str, str]:
    return {m[1].lower(): m[2] if m[2] is not None else m[3] for m in _PARAM.finditer(value)}


def parse_multipart(content_type: str, body: bytes) -> Form:
    """Split a ``multipart/form-data`` body into its parts.

    Strict on purpose, as a test of the sender: no preamble, CRLF line ends, every part with a
    ``Content-Disposition: form-data; name=...``, and the body ending exactly at the closing
    delimiter. Raises ``ValueError`` on anything else.
    """
    media, _, rest = content_type.partition(";")
    if media.strip().lower() != "multipart/form-data":
        raise ValueError(f"content type is {content_type!r}, not multipart/form-data")
    boundary = _params(";" + rest).get("boundary")
    if not boundary:
        raise ValueError(f"no boundary in {content_type!r}")
    delimiter = b"--" + boundary.encode("ascii")
    opening, closing = delimiter + b"\r\n", b"\r\n" + delimiter + b"--\r\n"
    if not body.startswith(opening):
        raise ValueError("the body does not start with the boundary")
    if not body.endswith(closing):
        raise ValueError("the body does not end with the closing boundary")
    inner = body[len(opening) : len(body) - len(closing)]
    parts = []
    for raw in inner.split(b"\r\n" + delimiter + b"\r\n"):
        head, separator, data = raw.partition(b"\r\n\r\n")
        if not separator:
            raise ValueError("a part has no blank line after its headers")
        headers = []
        for line in head.decode("utf-8").split("\r\n"):
            name, colon, value = line.partition(":")
            if not colon:
                raise ValueError(f"malformed part header {line!r}")
            headers.append((name.strip(), value.strip()))
        found = {k.lower(): v for k, v in headers}
        disposition = found.get("content-disposition", "")
        if not disposition.lower().startswith("form-data"):
            raise ValueError(f"part disposition is {disposition!r}, not form-data")
        params = _params(disposition[len("form-data") :])
        if "name" not in params:
            raise ValueError(f"a part has no name: {disposition!r}")
        parts.append(
            Part(
                params["name"],
                params.get("filename"),
                found.get("content-type"),
                data,
                tuple(headers),
            )
        )
    return Form(tuple(parts))


# -- the server -----------------------------------------------------------------------------------
class _ClientGone(Exception):
    """The client closed the connection before its body was complete."""


def _read_exact(rfile: io.BufferedIOBase, size: int, pause: float) -> bytes:
    out = bytearray()
    while len(out) < size:
        piece = rfile.read(min(_PIECE, size - len(out)))
        if not piece:
            raise _ClientGone(f"the body ended after {len(out)} of {size} bytes")
        out += piece
        if pause:
            time.sleep(pause)
    return bytes(out)


def _read_chunked(rfile: io.BufferedIOBase, pause: float) -> tuple[bytes, int]:
    out = bytearray()
    count = 0
    while True:
        line = rfile.readline(_MAX_LINE)
        if not line:
            raise _ClientGone("the chunked body ended before its last chunk")
        if not line.endswith(b"\n"):
            raise ValueError("a chunk-size line is too long")
        size = int(line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            break
        out += _read_exact(rfile, size, pause)
        count += 1
        if rfile.read(2) != b"\r\n":
            raise ValueError("a chunk is not followed by CRLF")
    while True:  # trailers, up to the blank line
        line = rfile.readline(_MAX_LINE)
        if line in (b"\r\n", b"\n"):
            return bytes(out), count
        if not line:
            raise _ClientGone("the chunked body ended inside its trailers")


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so connection reuse is exercised too
    timeout = IO_TIMEOUT
    server: _Server

    def handle(self) -> None:
        # A client may hang up between requests, or without reading all of an answer (as an
        # SDK capping the error bodies it reads does): its choice, not a server error.
        with contextlib.suppress(ConnectionError):
            super().handle()

    def do_POST(self) -> None:
        self.server.owner._serve(self)

    do_GET = do_PUT = do_PATCH = do_DELETE = do_POST

    def log_message(self, format: str, *args: Any) -> None:
        pass  # tests read server.requests, not stderr


class _Server(http.server.ThreadingHTTPServer):
    request_queue_size = 128  # 50 clients connecting at once must not overflow the backlog

    def __init__(self, owner: LoopbackServer) -> None:
        self.owner = owner
        self.lock = threading.Lock()
        self.workers: list[threading.Thread] = []
        self.open_sockets: dict[socket.socket, int] = {}
        self.accepted = 0
        self.closing = False
        super().__init__((HOST, 0), _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind asks socket.getfqdn, which can go to a DNS server; we only
        # need the port.
        socketserver.TCPServer.server_bind(self)
        self.server_name = "localhost"
        self.server_port = self.server_address[1]

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = super().get_request()
        tls = self.owner.tls
        if tls is None:
            return sock, address
        # An answer goes out at once: Nagle would hold it behind the unacknowledged session
        # ticket, and a close with the upload unread resets the connection, dropping it unsent.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # The handshake runs on the connection's own thread, at its first read.
        return tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), address

    def process_request(self, request: Any, client_address: Any) -> None:
        # Our own thread per connection (ThreadingMixIn's are untracked daemons) so that
        # close() can join each one with a bound.
        with self.lock:
            refused = self.closing
        if refused:  # accepted in the instant close() began
            self.shutdown_request(request)
            return
        with self.lock:
            number = self.accepted
            self.accepted += 1
            self.open_sockets[request] = number
            worker = threading.Thread(
                target=self.process_request_thread,
                args=(request, client_address),
                name=f"loopback-conn-{number}",
                daemon=True,
            )
            self.workers.append(worker)
        worker.start()

    def shutdown_request(self, request: Any) -> None:
        with self.lock:
            self.open_sockets.pop(request, None)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not self.closing:
            self.owner.errors.append(traceback.format_exc())

    def connection_number(self, sock: socket.socket) -> int:
        with self.lock:
            return self.open_sockets.get(sock, -1)

    def cut_connections(self) -> None:
        with self.lock:
            self.closing = True
            sockets = list(self.open_sockets)
        for sock in sockets:
            # Wakes a thread blocked reading it; one already closed by its thread is skipped.
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class LoopbackServer:
    """A scripted HTTP/1.1 server on ``127.0.0.1:<free port>``; use it as a context manager.

    ``responder`` answers every request that no queued reply is waiting for (default:
    :func:`echo_upload`). ``read_pause`` sleeps that many seconds after each 64 KiB of body
    read, to make a large upload take a while. ``read_body=False`` answers as soon as the
    headers are in and closes the connection without reading the body, as a server refusing a
    too-large upload does (the recorded body is then empty). ``errors`` collects tracebacks
    from handler threads; a test can assert it stays empty. ``aborted`` describes requests whose
    client went away before its body was complete (they are not recorded as requests).
    ``tls`` (a server-side ``ssl.SSLContext``) serves ``https://`` instead. ``interim`` (raw
    interim answers, ``b"HTTP/1.1 100 Continue\\r\\n\\r\\n"``...) is sent as soon as a
    request's head is in, before its body is read. With ``read_body=False``, ``unread`` says what
    follows the answer: ``"close"`` (at once, the body unread), ``"drain"`` (read the body to its
    end or the client's hang-up and drop it, then close: a lingering close; :attr:`drained` gets
    the byte count) or ``"hold"`` (read nothing, keep the connection open until the client hangs
    up, the server closes, or :data:`HOLD` seconds pass).
    """

    def __init__(
        self,
        responder: Responder | None = None,
        *,
        read_pause: float = 0.0,
        read_body: bool = True,
        tls: ssl.SSLContext | None = None,
        interim: bytes = b"",
        unread: Literal["close", "drain", "hold"] = "close",
    ) -> None:
        self.responder: Responder = responder or echo_upload
        self.read_pause = read_pause
        self.read_body = read_body
        self.tls = tls
        self.interim = interim
        self.unread = unread
        self.drained: list[int] = []
        self.errors: list[str] = []
        self.aborted: list[str] = []
        self._replies: collections.deque[Reply] = collections.deque()
        self._requests: list[Recorded] = []
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------------
    def __enter__(self) -> LoopbackServer:
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.01},
            name="loopback-server",
            daemon=True,
        )
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop serving, cut open connections, join every thread, close every socket."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self._server = self._thread = None
        server.shutdown()  # returns once serve_forever has left its loop (within poll_interval)
        thread.join(JOIN_TIMEOUT)
        server.cut_connections()
        deadline = time.monotonic() + JOIN_TIMEOUT
        for worker in server.workers:
            worker.join(max(0.0, deadline - time.monotonic()))
        server.server_close()
        stuck = [w.name for w in (thread, *server.workers) if w.is_alive()]
        if stuck:
            raise RuntimeError(f"loopback server threads still running after close: {stuck}")

    # -- addresses ---------------------------------------------------------------------------
    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the server is not running; use it in a with block")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>`` (``https://`` with ``tls``)."""
        scheme = "http" if self.tls is None else "https"
        return f"{scheme}://{HOST}:{self.port}"

    @property
    def base_url(self) -> str:
        """The URL to give a client as ``base_url``: :attr:`url` plus ``/v1``."""
        return f"{self.url}/v1"

    # -- the script --------------------------------------------------------------------------
    def queue(self, *replies: Reply) -> None:
        """Answer the next requests with these replies, in order, before the responder."""
        with self._lock:
            self._replies.extend(replies)

    @property
    def requests(self) -> list[Recorded]:
        """Every request received so far, in arrival order."""
        with self._lock:
            return list(self._requests)

    def _next_reply(self, request: Recorded) -> Reply:
        with self._lock:
            queued = self._replies.popleft() if self._replies else None
        if queued is not None:
            return queued
        try:
            return self.responder(request)
        except Exception:
            self.errors.append(traceback.format_exc())
            return text_reply("the test's responder raised; see server.errors", status=500)

    def _serve(self, handler: _Handler) -> None:
        started = time.monotonic()
        headers = tuple((k, v) for k, v in handler.headers.items())
        encoding = (handler.headers.get("Transfer-Encoding") or "").lower()
        length = handler.headers.get("Content-Length")
        chunked = "chunked" in encoding
        chunks = 0
        try:
            if self.interim:
                handler.wfile.write(self.interim)
            if not self.read_body:
                handler.close_connection = True
                body = b""
            elif chunked:
                body, chunks = _read_chunked(handler.rfile, self.read_pause)
            elif length is not None:
                body = _read_exact(handler.rfile, int(length), self.read_pause)
            else:
                body = b""
        except (_ClientGone, ConnectionError, TimeoutError) as exc:
            # A cancelled or timed-out client: not a server error, but a test may look.
            handler.close_connection = True
            self.aborted.append(f"{handler.command} {handler.path}: {exc!r}")
            return
        except ValueError as exc:
            handler.close_connection = True
            handler.send_error(400, f"unreadable body: {exc}")
            return
        with self._lock:
            request = Recorded(
                index=len(self._requests),
                method=handler.command,
                path=handler.path,
                headers=headers,
                body=body,
                chunked=chunked,
                chunks=chunks,
                connection=handler.server.connection_number(handler.connection),
                started=started,
                finished=time.monotonic(),
            )
            self._requests.append(request)
        reply = self._next_reply(request)
        if reply.delay:
            time.sleep(reply.delay)
        if reply.drop:
            handler.close_connection = True
            return
        if reply.drip:
            handler.close_connection = True
            self._drip(handler, reply)
            return
        # A client that gave up (a timeout, a cancelled task) may be gone: that is its test's
        # business, not a server error.
        with contextlib.suppress(ConnectionError):
            handler.send_response(reply.status)
            for name, value in reply.headers:
                handler.send_header(name, value)
            length = len(reply.body) if reply.length is None else reply.length
            handler.send_header("Content-Length", str(length))
            handler.end_headers()
            handler.wfile.write(reply.body)
            handler.wfile.flush()
        if not self.read_body and self.unread != "close":
            self._after_answer(handler)

    def _after_answer(self, handler: _Handler) -> None:
        """``unread="drain"`` or ``"hold"``: what an answer given with the body unread leads to."""
        if self.unread == "drain":
            length = int(handler.headers.get("Content-Length") or 0)
            drained = 0
            with contextlib.suppress(OSError, ValueError):  # the client hung up, or went quiet
                while drained < length:
                    piece = handler.rfile.read1(min(_PIECE, length - drained))
                    if not piece:
                        break
                    drained += len(piece)
            self.drained.append(drained)
            return
        poller = select.poll()
        poller.register(handler.connection.fileno(), select.POLLRDHUP | select.POLLHUP)
        end = time.monotonic() + HOLD
        server = handler.server
        while not server.closing and time.monotonic() < end and not poller.poll(10):
            pass

    def _drip(self, handler: _Handler, reply: Reply) -> None:
        server = handler.server
        head = [f"HTTP/1.1 {reply.status} {http.HTTPStatus(reply.status).phrase}"]
        head += [f"{name}: {value}" for name, value in reply.headers]
        head.append(f"Content-Length: {len(reply.body) if reply.length is None else reply.length}")
        raw = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + reply.body
        with contextlib.suppress(OSError):  # the client gave up
            for index in range(len(raw)):
                if server.closing:
                    return
                handler.wfile.write(raw[index : index + 1])
                time.sleep(reply.drip)
