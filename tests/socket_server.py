"""The scriptable HTTP/1.1 server on 127.0.0.1 for the network tests (a helper, not a test file).

One server for every test that needs real sockets; ``transcribe_sdk.testing.FakeServer`` is the
other one, for the request/response contract. :class:`ScriptedServer` is a context manager: on
entry it binds a free port on 127.0.0.1 and accepts connections on a thread of its own, serving
each connection on a thread of its own; on exit it cuts every connection still open (a client's
idle keep-alive included), joins every thread it started and closes every socket, failing
loudly if a thread does not stop. ``tls`` serves ``https://`` instead.

Every request is recorded (:class:`Recorded`: method, path, headers in order, the body, whether
it was chunked, which connection carried it) and answered by the test's script, in this order:

1. ``script``, one :data:`Action` per request in arrival order, picked as soon as the request's
   head is in (so an action can cut the upload short: :class:`Reset`, a :class:`Stall` that
   reads nothing);
2. replies added with :meth:`ScriptedServer.queue`, for the next requests read whole;
3. ``then``: one action for every later request (by default the script's last one), or, with
   no script, the ``responder``: a function of the request (:func:`echo_upload` by default).

The actions: :class:`Answer` (a status, headers and body; delayed, dropped, declared longer
than it is, or dripped), :class:`Respond` (an answer built from the request), :class:`Reset`
(a TCP reset, mid-upload or before answering), :class:`Stall` (silence, then close),
:class:`Truncate` (a head announcing more than follows), :class:`Drip` (raw bytes a few at a
time) and :class:`Flood` (a chunked answer with no end).

Every wait is bounded: socket reads and writes time out after :data:`IO_TIMEOUT`, stalls and
holds after their own seconds. :func:`parse_multipart` reads a ``multipart/form-data`` body back
strictly, to check what a client sent; :func:`refused_port` is a port where nothing listens.

Example::

    with ScriptedServer([json_reply({"error": "busy"}, 503), json_reply({"text": "hi"})]) as server:
        client = Client(api_key="sk-...", base_url=server.base_url)
        client.transcribe(path, model="whisper-1")
        assert len(server.attempts) == 2
        assert server.requests[-1].form().file().data == Path(path).read_bytes()
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import http
import json
import re
import select
import selectors
import socket
import ssl
import struct
import threading
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

__all__ = [
    "JSON",
    "Action",
    "Answer",
    "Drip",
    "Flood",
    "Form",
    "Part",
    "Recorded",
    "Reset",
    "Respond",
    "Responder",
    "ScriptedServer",
    "Stall",
    "Truncate",
    "echo_upload",
    "json_reply",
    "parse_multipart",
    "refused_port",
    "text_reply",
]

HOST = "127.0.0.1"
IO_TIMEOUT = 10.0
"""Seconds any one socket read or write of the server may block: a stuck client fails a test,
it does not hang it."""
JOIN_TIMEOUT = 10.0
"""Seconds :meth:`ScriptedServer.close` waits for its threads once every socket is cut."""
HOLD = 10.0
"""Seconds ``unread="hold"`` keeps a connection open at most."""
POLL = 0.01
"""How often blocked loops look at the stop flag."""
JSON = (("Content-Type", "application/json"),)
_PIECE = 64 * 1024
_MAX_HEAD = 64 * 1024


# -- the script -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Answer:
    """Answer with ``status``, ``headers`` and ``body``; ``Content-Length`` is added unless
    ``headers`` set it. The connection stays open for the next request unless ``close``."""

    status: int = 200
    headers: Sequence[tuple[str, str]] = ()
    body: bytes = b""
    close: bool = False
    delay: float = 0.0
    """Seconds to wait before answering."""
    drop: bool = False
    """Close the connection instead of answering: the client sees the server disconnect."""
    length: int | None = None
    """The ``Content-Length`` to declare instead of the body's; a larger one is an answer the
    connection then ends short of (it is closed after the body)."""
    drip: float = 0.0
    """Send the answer, head included, one byte every ``drip`` seconds, then close: a server
    that keeps every read short while the answer never quite comes."""
    hangup: float | None = None
    """Close the connection this many seconds after answering, without saying so (no
    ``Connection: close``); what the client sent meanwhile is dropped unanswered."""
    reset_next: bool = False
    """Keep the connection after answering until the client's next request begins on it, then
    reset it, that request unread: the keep-alive race at its worst."""


@dataclass(frozen=True)
class Respond:
    """Build the answer from the request, once it is read whole (``make(request) -> Answer``)."""

    make: Callable[[Recorded], Answer]


@dataclass(frozen=True)
class Reset:
    """Reset the connection after ``after_bytes`` bytes of the body, or (``None``) after the
    whole request was read, before any answer."""

    after_bytes: int | None = None


@dataclass(frozen=True)
class Stall:
    """Read the request, then send nothing for ``seconds`` (less if the client gives up), then
    close without an answer. With ``read_body=False`` the body is left unread, so a client
    uploading more than the socket buffers hold blocks on its writes."""

    seconds: float
    read_body: bool = True


@dataclass(frozen=True)
class Truncate:
    """Send a head with ``Content-Length: declared`` and only ``body``, then close."""

    declared: int
    body: bytes = b""
    status: int = 200
    headers: Sequence[tuple[str, str]] = JSON
    then: Literal["close", "hold", "reset"] = "close"
    """After ``body``: ``"close"`` at once (a FIN); ``"hold"``: say nothing more for ``hold``
    seconds (less if the client hangs up), then close; ``"reset"``: the same wait, then a TCP
    reset."""
    hold: float = IO_TIMEOUT


@dataclass(frozen=True)
class Drip:
    """Read the request, send the first ``burst`` bytes of ``raw`` (a whole answer, head
    included) at once, then the rest ``step`` bytes (one by default) every ``every`` seconds,
    then close: a server that keeps a connection busy without ever letting a read time out."""

    raw: bytes
    every: float
    burst: int = 0
    step: int = 1


@dataclass(frozen=True)
class Flood:
    """Answer 200 with a chunked body of ``chunk`` repeated up to ``total`` bytes (or until the
    client hangs up): an answer with no length that does not end."""

    chunk: bytes
    total: int
    headers: Sequence[tuple[str, str]] = JSON


Action: TypeAlias = Answer | Respond | Reset | Stall | Truncate | Drip | Flood
Responder = Callable[["Recorded"], Answer]


def json_reply(
    data: object,
    status: int = 200,
    headers: Mapping[str, str] | Sequence[tuple[str, str]] = (),
    **options: Any,
) -> Answer:
    """An :class:`Answer` with a JSON body and ``Content-Type: application/json``; ``options``
    are :class:`Answer`'s (``delay``, ``drop``, ``length``, ``drip``, ``close``...)."""
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    return Answer(status, (*JSON, *pairs), json.dumps(data).encode("utf-8"), **options)


def text_reply(
    text: str,
    status: int = 200,
    content_type: str = "text/plain; charset=utf-8",
    headers: Mapping[str, str] | None = None,
) -> Answer:
    """A text answer (a plain transcript, an srt file, an HTML error page...)."""
    pairs = (("Content-Type", content_type), *(headers or {}).items())
    return Answer(status, pairs, text.encode("utf-8"))


def echo_upload(request: Recorded) -> Answer:
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


# -- what the server records ----------------------------------------------------------------------
@dataclass(frozen=True)
class Part:
    """One part of a multipart body."""

    name: str
    filename: str | None
    content_type: str | None
    data: bytes
    headers: tuple[tuple[str, str], ...] = ()


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


@dataclass
class Recorded:
    """One request as the server read it off the socket. ``complete`` is false when the body
    was cut short, on purpose (a mid-upload :class:`Reset`, a :class:`Stall` that reads
    nothing) or by the client; such a request is in :attr:`ScriptedServer.attempts` only."""

    number: int
    """1, 2, ... in arrival order, among every attempt."""
    method: str
    path: str
    headers: list[tuple[str, str]]
    connection: int
    """Which accepted connection carried it (0, 1, ...): equal numbers mean a reused socket."""
    started: float
    """``time.monotonic()`` when the request line arrived."""
    body: bytes = b""
    chunked: bool = False
    chunks: int = 0
    complete: bool = False
    finished: float = 0.0
    """``time.monotonic()`` when the last byte of the body did."""

    @property
    def target(self) -> str:
        return self.path

    def header(self, name: str) -> str | None:
        """The first header called ``name`` (any case), or ``None``."""
        wanted = name.lower()
        return next((v for k, v in self.headers if k.lower() == wanted), None)

    def form(self) -> Form:
        """The body parsed as ``multipart/form-data`` (raises ``ValueError`` if it is not)."""
        assert self.complete, f"request {self.number} was not received whole"
        return parse_multipart(self.header("content-type") or "", self.body)

    def parts(self) -> list[Part]:
        """The multipart body, part by part."""
        return list(self.form().parts)

    def field(self, name: str) -> str | None:
        """The text of the one form field called ``name``."""
        return self.form().field(name)

    def file_bytes(self) -> bytes:
        """The bytes of the part named ``file``."""
        return self.form().file().data

    def json(self) -> Any:
        return json.loads(self.body)


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
        part = Part(
            params["name"], params.get("filename"), found.get("content-type"), data, tuple(headers)
        )
        parts.append(part)
    return Form(tuple(parts))


def refused_port() -> int:
    """A port on 127.0.0.1 where nothing listens: bound to learn a free number, then closed."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
    return port


# -- one connection -------------------------------------------------------------------------------
class _Gone(Exception):
    """The client closed the connection, or the server is stopping."""


class _Conn:
    """A buffered reader over one accepted socket (plain or TLS)."""

    def __init__(self, sock: socket.socket, stop: threading.Event) -> None:
        self.sock = sock
        self.stop = stop
        self.buffer = bytearray()  # grown and eaten from the front in amortised constant time

    def _fill(self) -> None:
        if self.stop.is_set():
            raise _Gone
        try:
            data = self.sock.recv(256 * 1024)
        except (TimeoutError, OSError) as exc:
            raise _Gone from exc
        if not data:
            raise _Gone
        self.buffer += data

    def _pending(self) -> bool:
        return isinstance(self.sock, ssl.SSLSocket) and self.sock.pending() > 0

    def wait_for_request(self) -> None:
        """Block (bounded, stop-aware) until the next request begins or the client leaves."""
        deadline = time.monotonic() + IO_TIMEOUT
        while not self.buffer:
            if self.stop.is_set() or time.monotonic() > deadline:
                raise _Gone
            if self._pending():
                self._fill()
                continue
            with selectors.DefaultSelector() as selector:
                selector.register(self.sock, selectors.EVENT_READ)
                if selector.select(POLL):
                    self._fill()

    def line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            if len(self.buffer) > _MAX_HEAD:
                raise ValueError("a head line is too long")
            self._fill()
        end = self.buffer.index(b"\r\n")
        line = bytes(self.buffer[:end])
        del self.buffer[: end + 2]
        return line

    def exact(self, size: int) -> bytes:
        while len(self.buffer) < size:
            self._fill()
        return self.take(size)

    def take(self, size: int) -> bytes:
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data

    def up_to(self, size: int) -> bytes:
        """At most ``size`` bytes: fewer if the client stops sending."""
        try:
            return self.exact(size)
        except _Gone:
            return self.take(size)

    def send(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except OSError as exc:
            raise _Gone from exc


def _head(
    status: int, headers: Sequence[tuple[str, str]], length: int, *, close: bool = False
) -> bytes:
    lines = [f"HTTP/1.1 {status} {_reason(status)}"]
    names = {name.lower() for name, _ in headers}
    lines.extend(f"{name}: {value}" for name, value in headers)
    if "content-length" not in names and "transfer-encoding" not in names:
        lines.append(f"Content-Length: {length}")
    if close and "connection" not in names:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _reason(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def _drain(sock: socket.socket) -> None:
    """Read and drop whatever the client has sent so far, without waiting."""
    sock.setblocking(False)
    with contextlib.suppress(OSError):
        while sock.recv(65536):
            pass


# -- the server -----------------------------------------------------------------------------------
@dataclass
class _Outcome:
    """What the connection does after one request: keep it, close it, or reset it."""

    keep: bool = False
    reset: bool = False


@dataclass
class _State:
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)
    open: dict[int, socket.socket] = field(default_factory=dict)
    accepted: int = 0


class ScriptedServer:
    """The scripted server; use it as a context manager. See the module docstring.

    ``read_pause`` sleeps that many seconds after each 64 KiB of body read, to make a large
    upload take a while. ``read_body=False`` answers as soon as a request's head is in (the
    recorded body is then empty); ``unread`` says what follows: ``"close"`` (at once, the body
    unread), ``"drain"`` (read the body to its end or the client's hang-up and drop it, then
    close: :attr:`drained` gets the byte count) or ``"hold"`` (read nothing, keep the connection
    until the client hangs up, the server closes, or :data:`HOLD` seconds pass). ``interim``
    (raw interim answers, ``b"HTTP/1.1 100 Continue\\r\\n\\r\\n"``...) is sent as soon as a
    request's head is in, before its body is read.
    """

    def __init__(
        self,
        script: Sequence[Action] = (),
        *,
        then: Action | None = None,
        responder: Responder | None = None,
        read_pause: float = 0.0,
        read_body: bool = True,
        tls: ssl.SSLContext | None = None,
        interim: bytes = b"",
        unread: Literal["close", "drain", "hold"] = "close",
    ) -> None:
        if callable(script):  # ScriptedServer(responder), the common case of a reply per request
            script, responder = (), script
        self._script = list(script)
        self._then = then if then is not None or not self._script else self._script[-1]
        self.responder: Responder = responder or echo_upload
        self.read_pause = read_pause
        self.read_body = read_body
        self.tls = tls
        self.interim = interim
        self.unread = unread
        self._queued: collections.deque[Answer | Respond] = collections.deque()
        self._state = _State()
        self._listener: socket.socket | None = None
        self.attempts: list[Recorded] = []
        """Every request, in arrival order, whole or not."""
        self.errors: list[str] = []
        """Tracebacks from the server's threads and the test's responder (a test should find
        none)."""
        self.aborted: list[str] = []
        """Requests whose client went away before its body was complete."""
        self.drained: list[int] = []

    # -- lifecycle ----------------------------------------------------------------------------
    def __enter__(self) -> ScriptedServer:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((HOST, 0))
            listener.listen(512)  # 50 clients connecting at once must not overflow the backlog
            listener.settimeout(POLL)
        except BaseException:
            listener.close()
            raise
        self._listener = listener
        self._start(self._accept_loop, "scripted-accept")
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop accepting, cut every open connection, join every thread; raise if one hangs."""
        state = self._state
        state.stop.set()
        deadline = time.monotonic() + JOIN_TIMEOUT
        with state.lock:
            accept = state.threads[:1]
        for thread in accept:  # first, so no connection thread starts after the cut below
            thread.join(JOIN_TIMEOUT)
        with state.lock:
            sockets = list(state.open.values())
            threads = list(state.threads)
        for sock in sockets:
            with contextlib.suppress(OSError):  # already gone
                sock.shutdown(socket.SHUT_RDWR)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        alive = [t.name for t in threads if t.is_alive()]
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        with state.lock:
            leftover = list(state.open.values())
            state.open.clear()
        for sock in leftover:
            sock.close()
        if alive:
            raise RuntimeError(f"ScriptedServer threads did not stop: {alive}")

    @property
    def closed(self) -> bool:
        """Whether the listening socket is closed and every thread has ended."""
        with self._state.lock:
            threads = list(self._state.threads)
        return self._listener is None and not any(t.is_alive() for t in threads)

    # -- addresses ------------------------------------------------------------------------------
    @property
    def port(self) -> int:
        if self._listener is None:
            raise RuntimeError("the server is not running; use it in a with block")
        port: int = self._listener.getsockname()[1]
        return port

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>`` (``https://`` with ``tls``)."""
        scheme = "http" if self.tls is None else "https"
        return f"{scheme}://{HOST}:{self.port}"

    @property
    def base_url(self) -> str:
        """The URL to give a client as ``base_url``: :attr:`url` plus ``/v1``."""
        return f"{self.url}/v1"

    # -- the script and what came in ------------------------------------------------------------
    def queue(self, *replies: Answer | Respond) -> None:
        """Answer the next requests read whole with these replies, in order."""
        with self._state.lock:
            self._queued.extend(replies)

    @property
    def requests(self) -> list[Recorded]:
        """Every request read whole so far, in arrival order."""
        with self._state.lock:
            return [a for a in self.attempts if a.complete]

    @property
    def connections(self) -> int:
        """How many connections were accepted in all."""
        with self._state.lock:
            return self._state.accepted

    @property
    def open_connections(self) -> int:
        """Connections the server holds open right now."""
        with self._state.lock:
            return len(self._state.open)

    def wait_until_idle(self, timeout: float = 5.0) -> bool:
        """Wait until every connection is closed (by the client or by a fault); ``False`` if
        some are still open after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.open_connections == 0:
                return True
            time.sleep(POLL / 5)
        return self.open_connections == 0

    # -- threads --------------------------------------------------------------------------------
    def _start(self, target: Callable[..., None], name: str, *args: Any) -> None:
        thread = threading.Thread(target=self._guard, args=(target, *args), name=name, daemon=True)
        with self._state.lock:
            self._state.threads.append(thread)
        thread.start()

    def _guard(self, target: Callable[..., None], *args: Any) -> None:
        try:
            target(*args)
        except BaseException:  # recorded so a test can fail on it
            if not self._state.stop.is_set():
                self.errors.append(traceback.format_exc())

    def _accept_loop(self) -> None:
        assert self._listener is not None
        listener, state = self._listener, self._state
        while not state.stop.is_set():
            try:
                sock, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            sock.settimeout(IO_TIMEOUT)
            if self.tls is not None:
                # An answer goes out at once: Nagle would hold it behind the unacknowledged
                # session ticket, and a close with the upload unread would then drop it unsent.
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with state.lock:
                number = state.accepted
                state.accepted += 1
                state.open[number] = sock
            self._start(self._serve, f"scripted-conn-{number}", number, sock)

    def _serve(self, number: int, sock: socket.socket) -> None:
        outcome = _Outcome()
        try:
            if self.tls is not None:
                # The handshake runs here, on the connection's own thread.
                try:
                    sock = self.tls.wrap_socket(sock, server_side=True)
                except (OSError, ssl.SSLError):
                    return  # a client that gave up during the handshake
                with self._state.lock:
                    self._state.open[number] = sock
            conn = _Conn(sock, self._state.stop)
            while True:
                conn.wait_for_request()
                outcome = self._one_request(conn, number)
                if not outcome.keep:
                    return
        except _Gone:
            return
        finally:
            with self._state.lock:
                self._state.open.pop(number, None)
            with contextlib.suppress(OSError):  # already unusable: closing is all that is left
                if outcome.reset:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                else:
                    # A FIN first: an answer sent with the upload unread reaches the client
                    # before the reset that closing over unread bytes sends.
                    sock.shutdown(socket.SHUT_WR)
            sock.close()

    # -- one request ----------------------------------------------------------------------------
    def _one_request(self, conn: _Conn, number: int) -> _Outcome:
        request = self._read_head(conn, number)
        action = self._scripted(request)
        if isinstance(action, Reset) and action.after_bytes is not None:
            request.body = conn.up_to(action.after_bytes)
            return _Outcome(reset=True)
        if isinstance(action, Stall) and not action.read_body:
            self._wait_for_hangup(conn.sock, action.seconds)
            return _Outcome(reset=True)  # unread data: closing resets the connection anyway
        if self.interim:
            conn.send(self.interim)
        if not self.read_body:
            request.complete, request.finished = True, time.monotonic()
            answer = self._answer_for(request, action)
            if not isinstance(answer, Answer):
                raise TypeError(f"read_body=False answers with an Answer, not {answer!r}")
            self._send(conn, answer, keep=False)
            self._after_unread_answer(conn, request)
            return _Outcome()
        try:
            self._read_body(conn, request)
        except _Gone as exc:
            self.aborted.append(f"{request.method} {request.path}: {exc.__cause__!r}")
            return _Outcome()
        except ValueError as exc:
            conn.send(_head(400, (), 0, close=True))
            self.errors.append(f"unreadable body: {exc}")
            return _Outcome()
        return self._act(conn, request, self._answer_for(request, action))

    def _scripted(self, request: Recorded) -> Action | None:
        # Numbered, recorded and matched to its scripted action as one step, in arrival order.
        with self._state.lock:
            request.number = len(self.attempts) + 1
            self.attempts.append(request)
            index = request.number - 1
            if index < len(self._script):
                return self._script[index]
            # ``then`` is known at the head too (it may cut the upload short), unless replies
            # are queued: those go to the next requests read whole.
            return self._then if not self._queued else None

    def _answer_for(self, request: Recorded, action: Action | None) -> Action:
        """The action for a request read whole: the scripted one, a queued reply, ``then`` or
        the responder's answer."""
        if action is None:
            with self._state.lock:
                action = self._queued.popleft() if self._queued else self._then
        if isinstance(action, Respond):
            return self._call(action.make, request)
        return action if action is not None else self._call(self.responder, request)

    def _call(self, make: Callable[[Recorded], Answer], request: Recorded) -> Answer:
        try:
            return make(request)
        except Exception:
            self.errors.append(traceback.format_exc())
            return text_reply("the test's responder raised; see server.errors", status=500)

    def _read_head(self, conn: _Conn, number: int) -> Recorded:
        request_line = conn.line().decode("latin-1")
        started = time.monotonic()
        method, target, _version = request_line.split(" ", 2)
        headers = []
        while line := conn.line():
            name, _, value = line.decode("latin-1").partition(":")
            headers.append((name.strip(), value.strip()))
        return Recorded(0, method, target, headers, number, started)  # numbered by _scripted

    def _read_body(self, conn: _Conn, request: Recorded) -> None:
        if (request.header("transfer-encoding") or "").lower() == "chunked":
            request.chunked = True
            body = bytearray()
            while True:
                size = int(conn.line().split(b";")[0], 16)
                if size == 0:
                    while conn.line():  # trailers, up to the blank line
                        pass
                    break
                body += self._paced(conn, size)
                request.chunks += 1
                if conn.exact(2) != b"\r\n":
                    raise ValueError("a chunk is not followed by CRLF")
            request.body = bytes(body)
        else:
            request.body = self._paced(conn, int(request.header("content-length") or 0))
        request.complete, request.finished = True, time.monotonic()

    def _paced(self, conn: _Conn, size: int) -> bytes:
        if not self.read_pause:
            return conn.exact(size)
        out = bytearray()
        while len(out) < size:
            out += conn.exact(min(_PIECE, size - len(out)))
            time.sleep(self.read_pause)
        return bytes(out)

    def _act(self, conn: _Conn, request: Recorded, action: Action) -> _Outcome:
        if isinstance(action, Reset):
            return _Outcome(reset=True)
        if isinstance(action, Stall):
            self._stall(conn, action.seconds)
        elif isinstance(action, Truncate):
            conn.send(_head(action.status, action.headers, action.declared, close=True))
            conn.send(action.body)
            if action.then in ("hold", "reset"):
                self._stall(conn, action.hold)
            if action.then == "reset":
                return _Outcome(reset=True)
        elif isinstance(action, Drip):
            self._drip(conn, action.raw, action.every, action.burst, action.step)
        elif isinstance(action, Flood):
            self._flood(conn, action)
        elif isinstance(action, Answer):
            wants_close = (request.header("connection") or "").lower() == "close"
            return self._send(conn, action, keep=not wants_close)
        return _Outcome()

    def _send(self, conn: _Conn, answer: Answer, *, keep: bool) -> _Outcome:
        if answer.delay and self._state.stop.wait(answer.delay):
            return _Outcome()
        if answer.drop:
            return _Outcome()
        length = len(answer.body) if answer.length is None else answer.length
        head = _head(answer.status, answer.headers, length, close=answer.close)
        if answer.drip:
            self._drip(conn, head + answer.body, answer.drip, 0, 1)
            return _Outcome()
        conn.send(head + answer.body)  # one write: the client has it all before any close
        if answer.hangup is not None:
            self._state.stop.wait(answer.hangup)
            _drain(conn.sock)  # so the close is a FIN the client reads, not a reset
            return _Outcome()
        if answer.reset_next:
            conn.wait_for_request()
            return _Outcome(reset=True)
        short = answer.length is not None and answer.length > len(answer.body)
        return _Outcome(keep=keep and not answer.close and not short)

    def _after_unread_answer(self, conn: _Conn, request: Recorded) -> None:
        """``read_body=False``: what an answer given with the body unread leads to."""
        if self.unread == "drain":
            length = int(request.header("content-length") or 0)
            drained = len(conn.take(length))
            with contextlib.suppress(OSError, ValueError):  # the client hung up, or went quiet
                while drained < length:
                    piece = conn.sock.recv(min(_PIECE, length - drained))
                    if not piece:
                        break
                    drained += len(piece)
            self.drained.append(drained)
        elif self.unread == "hold":
            self._wait_for_hangup(conn.sock, HOLD)

    def _drip(self, conn: _Conn, raw: bytes, every: float, burst: int, step: int) -> None:
        conn.send(raw[:burst])
        for index in range(burst, len(raw), step):
            if self._state.stop.wait(every):
                return
            conn.send(raw[index : index + step])

    def _flood(self, conn: _Conn, action: Flood) -> None:
        head = _head(200, (*action.headers, ("Transfer-Encoding", "chunked")), 0, close=True)
        conn.send(head)
        piece = f"{len(action.chunk):x}\r\n".encode() + action.chunk + b"\r\n"
        for _ in range(action.total // len(action.chunk)):
            if self._state.stop.is_set():
                return
            conn.send(piece)
        conn.send(b"0\r\n\r\n")

    def _wait_for_hangup(self, sock: socket.socket, seconds: float) -> None:
        """Wait ``seconds``, reading nothing so the client's writes block. Ends early if the
        client's hang-up shows (a FIN queued behind unread data may not, until the end)."""
        poller = select.poll()
        poller.register(sock, select.POLLRDHUP | select.POLLHUP | select.POLLERR)
        deadline = time.monotonic() + seconds
        while not self._state.stop.is_set() and time.monotonic() < deadline:
            if poller.poll(POLL * 1000):
                return

    def _stall(self, conn: _Conn, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        with selectors.DefaultSelector() as selector:
            selector.register(conn.sock, selectors.EVENT_READ)
            while not self._state.stop.is_set() and time.monotonic() < deadline:
                if selector.select(min(POLL, max(0.0, deadline - time.monotonic()))):
                    try:
                        if not conn.sock.recv(65536):
                            return  # the client gave up and closed
                    except OSError:
                        return
