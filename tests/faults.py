"""A fault-injection HTTP/1.1 server on 127.0.0.1, built on raw sockets (a helper, not a test file).

:class:`FaultServer` accepts connections on its own thread and serves each connection on a thread
of its own. Every request it receives is one *attempt*: it reads the request head, then the body
(``Content-Length`` or chunked) and records it (:class:`Attempt`), then does what the script says
for that attempt, one :data:`Action` per request in arrival order:

- :class:`Answer` -- a status, headers and a body (an ``Answer`` may also be built per request by
  :class:`Respond`, e.g. to echo a field back);
- :class:`Reset` -- a TCP reset (``SO_LINGER`` 0, then close), after ``after_bytes`` bytes of the
  body (mid-upload) or, with ``after_bytes=None``, once the whole request is in (before answering);
- :class:`Stall` -- read the request, then say nothing for ``seconds`` (or until the client
  hangs up), then close: a server that never sends its headers;
- :class:`Truncate` -- a head announcing ``Content-Length: declared`` followed by fewer bytes,
  then close.

When the script runs out, ``then`` is used for every later request (by default the last action).
Every wait is bounded: socket reads and writes time out after :data:`IO_TIMEOUT`, a stall after
its ``seconds``, and :meth:`FaultServer.close` cuts every connection still open and joins every
thread it started, failing loudly if one does not stop. A connection refused is a port where
nothing listens: :func:`refused_port`.

Example::

    with FaultServer([Answer(503), Answer(200, JSON, b'{"text": "hi"}')]) as server:
        client = Client(api_key="sk-...", base_url=server.base_url)
        client.transcribe(path, model="whisper-1")
        assert len(server.attempts) == 2
        assert server.attempts[-1].file_bytes() == Path(path).read_bytes()
"""

from __future__ import annotations

import contextlib
import json
import select
import selectors
import socket
import struct
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

__all__ = [
    "JSON",
    "Action",
    "Answer",
    "Attempt",
    "Drip",
    "FaultServer",
    "Flood",
    "Reset",
    "Respond",
    "Stall",
    "Truncate",
    "json_answer",
    "parse_multipart",
    "record_sleeps",
    "refused_port",
]

HOST = "127.0.0.1"
IO_TIMEOUT = 10.0
"""Seconds a single socket read or write of the server may block."""
JOIN_TIMEOUT = 10.0
"""Seconds :meth:`FaultServer.close` waits for its threads once every socket is cut."""
POLL = 0.01
"""How often blocked loops look at the stop flag."""
JSON = (("Content-Type", "application/json"),)
_MAX_HEAD = 64 * 1024


# -- the script ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Answer:
    """Answer with ``status``, ``headers`` and ``body``; ``Content-Length`` is added unless
    ``headers`` set it. The connection stays open for the next request unless ``close``."""

    status: int = 200
    headers: Sequence[tuple[str, str]] = ()
    body: bytes = b""
    close: bool = False
    hangup: float | None = None
    """Close the connection this many seconds after answering, without saying so (no
    ``Connection: close``); what the client sent meanwhile is dropped unanswered."""
    reset_next: bool = False
    """Keep the connection after answering until the client's next request begins on it, then
    reset it, that request unread: the keep-alive race at its worst (the server closed the idle
    connection as the request went out)."""


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


@dataclass(frozen=True)
class Respond:
    """Build the answer from what was received (``make(attempt) -> Answer``)."""

    make: Callable[[Attempt], Answer]


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


Action: TypeAlias = Answer | Respond | Reset | Stall | Truncate | Drip | Flood


def json_answer(data: object, status: int = 200, headers: Sequence[tuple[str, str]] = ()) -> Answer:
    """An :class:`Answer` with a JSON body."""
    return Answer(status, (*JSON, *headers), json.dumps(data).encode())


# -- what the server records --------------------------------------------------------------------
@dataclass(frozen=True)
class Part:
    """One part of a multipart body."""

    name: str
    filename: str | None
    content_type: str | None
    data: bytes


@dataclass
class Attempt:
    """One request as received. ``complete`` is false when the body was cut short on purpose
    (a mid-upload reset) or by the client."""

    number: int
    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes = b""
    chunked: bool = False
    complete: bool = False

    def header(self, name: str) -> str | None:
        """The first header called ``name`` (case-insensitive), or ``None``."""
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    def parts(self) -> list[Part]:
        """The multipart body, part by part (only for a complete body)."""
        assert self.complete, f"attempt {self.number} was not received whole"
        return parse_multipart(self.header("content-type") or "", self.body)

    def field(self, name: str) -> str | None:
        """The text of the first form field called ``name``."""
        part = next((p for p in self.parts() if p.name == name), None)
        return None if part is None else part.data.decode()

    def file_bytes(self) -> bytes:
        """The bytes of the part named ``file``."""
        files = [p for p in self.parts() if p.name == "file"]
        assert len(files) == 1, [p.name for p in self.parts()]
        return files[0].data


def parse_multipart(content_type: str, body: bytes) -> list[Part]:
    """Read a ``multipart/form-data`` body strictly: exact delimiters, one header per line."""
    kind, _, params = content_type.partition(";")
    assert kind.strip() == "multipart/form-data", content_type
    key, _, boundary = params.strip().partition("=")
    assert key == "boundary", content_type
    assert boundary, content_type
    delimiter = b"--" + boundary.encode("ascii")
    assert body.startswith(delimiter + b"\r\n"), body[:80]
    closing = b"\r\n" + delimiter + b"--\r\n"
    assert body.endswith(closing), body[-80:]
    inner = body[len(delimiter) + 2 : len(body) - len(closing)]
    parts = []
    for chunk in inner.split(b"\r\n" + delimiter + b"\r\n"):
        head, separator, data = chunk.partition(b"\r\n\r\n")
        assert separator, chunk[:200]
        headers = {}
        for line in head.decode("utf-8").split("\r\n"):
            name, colon, value = line.partition(":")
            assert colon, line
            headers[name.strip().lower()] = value.strip()
        disposition = headers["content-disposition"]
        values = dict(
            item.strip().partition("=")[::2] for item in disposition.split(";")[1:] if "=" in item
        )
        parts.append(
            Part(
                name=values["name"].strip('"'),
                filename=values["filename"].strip('"') if "filename" in values else None,
                content_type=headers.get("content-type"),
                data=data,
            )
        )
    return parts


class _Patched:
    """A module whose ``sleep`` is replaced; every other attribute is the real one."""

    def __init__(self, module: Any, sleep: Callable[..., Any]) -> None:
        self._module = module
        self.sleep = sleep

    def __getattr__(self, name: str) -> Any:
        return getattr(self._module, name)


def record_sleeps(monkeypatch: Any) -> list[float]:
    """Make the clients' waits between retries free: each delay is recorded, not slept.

    Replaces ``time`` and ``anyio`` as seen by ``transcribe_sdk._client.shells`` only (the two
    places the shells sleep), so nothing else in the process is affected.
    """
    import anyio

    from transcribe_sdk._client import shells as _shells

    delays: list[float] = []
    real_sleep = anyio.sleep

    async def asleep(seconds: float) -> None:
        delays.append(seconds)
        await real_sleep(0)

    monkeypatch.setattr(_shells, "time", _Patched(time, delays.append))
    monkeypatch.setattr(_shells, "anyio", _Patched(anyio, asleep))
    return delays


def refused_port() -> int:
    """A port on 127.0.0.1 where nothing listens: bound to learn a free number, then closed."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
    return port


# -- the server ---------------------------------------------------------------------------------
class _Gone(Exception):
    """The client closed the connection, or the server is stopping."""


class _Conn:
    """A buffered reader over one accepted socket."""

    def __init__(self, sock: socket.socket, stop: threading.Event) -> None:
        self.sock = sock
        self.stop = stop
        self.buffer = b""

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

    def wait_for_request(self) -> None:
        """Block (bounded, stop-aware) until the next request begins or the client leaves."""
        deadline = time.monotonic() + IO_TIMEOUT
        while not self.buffer:
            if self.stop.is_set() or time.monotonic() > deadline:
                raise _Gone
            with selectors.DefaultSelector() as selector:
                selector.register(self.sock, selectors.EVENT_READ)
                if selector.select(POLL):
                    self._fill()

    def line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            if len(self.buffer) > _MAX_HEAD:
                raise _Gone
            self._fill()
        line, _, self.buffer = self.buffer.partition(b"\r\n")
        return line

    def exact(self, size: int) -> bytes:
        while len(self.buffer) < size:
            self._fill()
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    def up_to(self, size: int) -> bytes:
        """At most ``size`` bytes: fewer if the client stops sending."""
        try:
            return self.exact(size)
        except _Gone:
            data, self.buffer = self.buffer[:size], self.buffer[size:]
            return data

    def send(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except OSError as exc:
            raise _Gone from exc


class FaultServer:
    """The scripted server; use it as a context manager. See the module docstring."""

    def __init__(self, script: Sequence[Action] = (), *, then: Action | None = None) -> None:
        if then is None and not script:
            raise ValueError("a FaultServer needs a script or a `then` action")
        self._script = list(script)
        self._then = then if then is not None else self._script[-1]
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._open: dict[int, socket.socket] = {}
        self._next_id = 0
        self._listener: socket.socket | None = None
        self.attempts: list[Attempt] = []
        self.connections = 0
        """How many connections were accepted in all."""
        self.errors: list[BaseException] = []
        """Unexpected exceptions in the server's threads (a test should find none)."""

    # -- lifecycle ----------------------------------------------------------------------------
    def __enter__(self) -> FaultServer:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((HOST, 0))
            listener.listen(512)
            listener.settimeout(POLL)
        except BaseException:
            listener.close()
            raise
        self._listener = listener
        self._start(self._accept_loop, "fault-accept")
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop accepting, cut every open connection, join every thread; raise if one hangs."""
        self._stop.set()
        deadline = time.monotonic() + JOIN_TIMEOUT
        with self._lock:
            accept = self._threads[:1]
        for thread in accept:  # first, so no connection thread starts after the cut below
            thread.join(JOIN_TIMEOUT)
        with self._lock:
            sockets = list(self._open.values())
            threads = list(self._threads)
        for sock in sockets:
            with contextlib.suppress(OSError):  # already gone
                sock.shutdown(socket.SHUT_RDWR)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        alive = [t.name for t in threads if t.is_alive()]
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        with self._lock:
            leftover = list(self._open.values())
            self._open.clear()
        for sock in leftover:
            sock.close()
        if alive:
            raise RuntimeError(f"FaultServer threads did not stop: {alive}")

    @property
    def port(self) -> int:
        assert self._listener is not None, "the server is not running"
        port: int = self._listener.getsockname()[1]
        return port

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}/v1"

    @property
    def open_connections(self) -> int:
        """Connections the server holds open right now."""
        with self._lock:
            return len(self._open)

    def wait_until_idle(self, timeout: float = 5.0) -> bool:
        """Wait until every connection is closed (by the client or by a fault); ``False`` if
        some are still open after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.open_connections == 0:
                return True
            time.sleep(POLL / 5)
        return self.open_connections == 0

    # -- threads ------------------------------------------------------------------------------
    def _start(self, target: Callable[..., None], name: str, *args: Any) -> None:
        thread = threading.Thread(target=self._guard, args=(target, *args), name=name, daemon=True)
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def _guard(self, target: Callable[..., None], *args: Any) -> None:
        try:
            target(*args)
        except BaseException as exc:  # recorded so a test can fail on it
            self.errors.append(exc)

    def _accept_loop(self) -> None:
        assert self._listener is not None
        listener = self._listener
        while not self._stop.is_set():
            try:
                sock, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            sock.settimeout(IO_TIMEOUT)
            with self._lock:
                self._next_id += 1
                key = self._next_id
                self._open[key] = sock
                self.connections += 1
            self._start(self._serve, f"fault-conn-{key}", key, sock)

    def _forget(self, key: int, sock: socket.socket, *, reset: bool = False) -> None:
        with self._lock:
            self._open.pop(key, None)
        if reset:
            with contextlib.suppress(OSError):  # already unusable: closing is all that is left
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()

    # -- one connection -----------------------------------------------------------------------
    def _serve(self, key: int, sock: socket.socket) -> None:
        conn = _Conn(sock, self._stop)
        reset = False
        try:
            while True:
                conn.wait_for_request()
                keep = self._one_request(conn)
                if keep is None:
                    reset = True
                    return
                if not keep:
                    return
        except _Gone:
            return
        finally:
            self._forget(key, sock, reset=reset)

    def _read_head(self, conn: _Conn) -> Attempt:
        request_line = conn.line().decode("latin-1")
        method, target, _version = request_line.split(" ", 2)
        headers = []
        while line := conn.line():
            name, _, value = line.decode("latin-1").partition(":")
            headers.append((name.strip(), value.strip()))
        return Attempt(0, method, target, headers)  # numbered once its action is picked

    def _read_body(self, conn: _Conn, attempt: Attempt) -> None:
        if (attempt.header("transfer-encoding") or "").lower() == "chunked":
            attempt.chunked = True
            body = b""
            while True:
                size = int(conn.line().split(b";")[0], 16)
                if size == 0:
                    while conn.line():  # trailers, up to the blank line
                        pass
                    break
                body += conn.exact(size)
                conn.exact(2)
            attempt.body = body
        else:
            attempt.body = conn.exact(int(attempt.header("content-length") or 0))
        attempt.complete = True

    def _one_request(self, conn: _Conn) -> bool | None:
        """Serve one request; ``True`` to keep the connection, ``False`` to close it, ``None``
        to reset it."""
        attempt = self._read_head(conn)
        action = self._next_action_for(attempt)
        if isinstance(action, Reset) and action.after_bytes is not None:
            attempt.body = conn.up_to(action.after_bytes)
            return None
        if isinstance(action, Stall) and not action.read_body:
            self._wait_for_hangup(conn.sock, action.seconds)
            return None  # unread data: closing resets the connection anyway
        try:
            self._read_body(conn, attempt)
        except _Gone:
            return False
        if isinstance(action, Respond):
            action = action.make(attempt)
        if isinstance(action, Reset):
            return None
        if isinstance(action, Stall):
            self._stall(conn, action.seconds)
            return False
        if isinstance(action, Truncate):
            conn.send(_head(action.status, action.headers, action.declared, close=True))
            conn.send(action.body)
            return False
        if isinstance(action, Drip):
            self._drip(conn, action)
            return False
        if isinstance(action, Flood):
            self._flood(conn, action)
            return False
        conn.send(_head(action.status, action.headers, len(action.body), close=action.close))
        conn.send(action.body)
        if action.hangup is not None:
            self._stop.wait(action.hangup)
            _drain(conn.sock)  # so the close is a FIN the client reads, not a reset
            return False
        if action.reset_next:
            conn.wait_for_request()
            return None
        return not action.close and (attempt.header("connection") or "").lower() != "close"

    def _drip(self, conn: _Conn, action: Drip) -> None:
        conn.send(action.raw[: action.burst])
        for index in range(action.burst, len(action.raw), action.step):
            if self._stop.wait(action.every):
                return
            conn.send(action.raw[index : index + action.step])

    def _flood(self, conn: _Conn, action: Flood) -> None:
        head = _head(200, (*action.headers, ("Transfer-Encoding", "chunked")), 0, close=True)
        conn.send(head)
        piece = f"{len(action.chunk):x}\r\n".encode() + action.chunk + b"\r\n"
        for _ in range(action.total // len(action.chunk)):
            if self._stop.is_set():
                return
            conn.send(piece)
        conn.send(b"0\r\n\r\n")

    def _next_action_for(self, attempt: Attempt) -> Action:
        # Numbered, recorded and matched to its action as one step, in arrival order.
        with self._lock:
            attempt.number = len(self.attempts) + 1
            self.attempts.append(attempt)
            index = attempt.number - 1
        return self._script[index] if index < len(self._script) else self._then

    def _wait_for_hangup(self, sock: socket.socket, seconds: float) -> None:
        """Wait ``seconds``, reading nothing so the client's writes block. Ends early if the
        client's hang-up shows (a FIN queued behind unread data may not, until the end)."""
        poller = select.poll()
        poller.register(sock, select.POLLRDHUP | select.POLLHUP | select.POLLERR)
        deadline = time.monotonic() + seconds
        while not self._stop.is_set() and time.monotonic() < deadline:
            if poller.poll(POLL * 1000):
                return

    def _stall(self, conn: _Conn, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        with selectors.DefaultSelector() as selector:
            selector.register(conn.sock, selectors.EVENT_READ)
            while not self._stop.is_set() and time.monotonic() < deadline:
                if selector.select(min(POLL, max(0.0, deadline - time.monotonic()))):
                    try:
                        if not conn.sock.recv(65536):
                            return  # the client gave up and closed
                    except OSError:
                        return


def _drain(sock: socket.socket) -> None:
    """Read and drop whatever the client has sent so far, without waiting."""
    sock.setblocking(False)
    with contextlib.suppress(OSError):
        while sock.recv(65536):
            pass


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
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"
