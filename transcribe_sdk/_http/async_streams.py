"""The async network backend of our connection pools: connections on sockets of our own.

httpcore's own async backend runs on anyio's socket streams, which on asyncio sit on a
transport; when a write fails, the transport closes its socket, and a server's early answer
still in the kernel (a ``413`` sent as the upload went on) goes with it. This backend opens its
sockets itself: resolved with ``anyio.getaddrinfo``, connected, read and written without
blocking, and waited on with anyio's ``wait_readable``/``wait_writable``, all documented for a
socket one owns. A failed write then loses nothing, on asyncio and trio alike. TLS is anyio's
``TLSStream`` over that socket (:class:`_Socket` is an ``anyio.abc.ByteStream``).

What the streams add is what :mod:`.streams` adds to sync connections: an answer that comes
before the upload is over is read (a final one stops it, an interim ``1xx`` does not, a
server that answers and stops reading is heard while the write waits); no wait outlasts the
call's deadline; the attempt's :class:`~.wire.Wire` learns of new connections and answer bytes.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import math
import os
import socket
import ssl
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import anyio
import anyio.abc
import anyio.lowlevel
import httpcore
from anyio.streams.tls import TLSAttribute, TLSStream

from .early import EarlyAnswer
from .streams import READ_SIZE, peer_spoke, stopped
from .wire import cap, saw_answer_bytes, saw_connect

__all__ = ["AsyncBackend"]

LOOK_TIMEOUT = 0.002
"""How long a look at what the server sent waits for more once the kernel's bytes are taken:
on TLS they may be a session ticket, no answer."""

_wait_readable: Callable[[socket.socket], Any] = (
    getattr(anyio, "wait_readable", None) or anyio.wait_socket_readable
)
_wait_writable: Callable[[socket.socket], Any] = (
    getattr(anyio, "wait_writable", None) or anyio.wait_socket_writable
)
_notify_closing: Callable[[socket.socket], None] | None = getattr(anyio, "notify_closing", None)

_STREAM_ERRORS = (anyio.BrokenResourceError, anyio.ClosedResourceError, ssl.SSLError, OSError)


class _Stopped(Exception):
    """The server gave its final answer while a write waited: stop sending."""


class _Socket(anyio.abc.ByteStream):
    """A connected non-blocking socket of ours, as the byte stream TLS runs over.

    A send that fails does not raise: it records why (:attr:`failed`) and drops the rest, and
    the stream above raises it. anyio's ``TLSStream`` refuses every read once a send of its
    has raised, and the answer that made the send fail must still be read.
    """

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.failed: BaseException | None = None
        self.blocked: Callable[[], Any] = self.writable
        """Awaited when the socket takes no more (the stream above watches the server)."""
        self._sending = False
        self._waits: set[anyio.CancelScope] = set()

    async def _wait(self, ready: Callable[[socket.socket], Any]) -> None:
        # A wait that close() can end: anyio before 4.7 has no notify_closing, and a socket
        # closed under a wait would leave it waiting for ever.
        with anyio.CancelScope() as scope:
            self._waits.add(scope)
            try:
                await ready(self.sock)
            finally:
                self._waits.discard(scope)
        if scope.cancelled_caught or self.sock.fileno() < 0:
            raise anyio.ClosedResourceError

    async def readable(self) -> None:
        await self._wait(_wait_readable)

    async def writable(self) -> None:
        await self._wait(_wait_writable)

    async def receive(self, max_bytes: int = 65536) -> bytes:
        # The loop's turn comes first: once bytes are taken from the kernel nothing awaits,
        # so a cancelled read never loses them.
        await anyio.lowlevel.checkpoint()
        while True:
            try:
                data = self.sock.recv(max_bytes)
            except (BlockingIOError, InterruptedError):
                await self.readable()
                continue
            except OSError as exc:
                raise anyio.BrokenResourceError(str(exc)) from exc
            if not data:
                raise anyio.EndOfStream
            return data

    async def send(self, item: bytes) -> None:
        if self._sending:
            raise anyio.BusyResourceError("sending")
        self._sending = True
        try:
            await self._send(memoryview(item))
        finally:
            self._sending = False

    async def _send(self, view: memoryview) -> None:
        await anyio.lowlevel.checkpoint()
        while view and self.failed is None:
            try:
                sent = self.sock.send(view)
            except (BlockingIOError, InterruptedError):
                try:
                    await self.blocked()
                except _Stopped as exc:
                    self.failed = exc
                continue
            except OSError as exc:
                self.failed = exc
                return
            view = view[sent:]

    async def send_eof(self) -> None:
        self.sock.shutdown(socket.SHUT_WR)

    async def aclose(self) -> None:
        self.close()

    def close(self) -> None:
        for scope in list(self._waits):
            scope.cancel()
        if self.sock.fileno() >= 0:
            if _notify_closing is not None:
                _notify_closing(self.sock)
            self.sock.close()


@contextmanager
def _timed(
    timeout: float | None, expired: type[httpcore.TimeoutException], broken: type[Exception]
) -> Iterator[None]:
    """``timeout`` (capped by the deadline) on what runs inside, and anyio's, ssl's and the
    socket's failures as httpcore's: ``expired`` for a timeout, ``broken`` for the rest."""
    limit = cap(timeout)
    try:
        with anyio.fail_after(math.inf if limit is None else limit):
            yield
    except TimeoutError:
        raise expired("timed out") from None
    except (*_STREAM_ERRORS, anyio.EndOfStream) as exc:
        raise broken(str(exc) or type(exc).__name__) from exc


def _failed(exc: BaseException) -> httpcore.WriteError:
    return stopped() if isinstance(exc, _Stopped) else httpcore.WriteError(str(exc))


class _Stream(httpcore.AsyncNetworkStream):
    def __init__(self, tcp: _Socket, top: anyio.abc.ByteStream) -> None:
        self._tcp = tcp
        self._top = top  # the socket itself, or TLS over it
        self._early = EarlyAnswer()
        tcp.blocked = self._blocked

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        held = self._early.take(max_bytes)
        if held is not None:
            return held
        with _timed(timeout, httpcore.ReadTimeout, httpcore.ReadError):
            try:
                data = await self._top.receive(max_bytes)
            except anyio.EndOfStream:
                return b""
        saw_answer_bytes(len(data))
        return data

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        self._early.before_write()
        if self._tcp.failed is not None:
            raise _failed(self._tcp.failed)
        if not self._early.stop and peer_spoke(self._tcp.sock):
            await self._look()
        if self._early.stop:
            raise stopped()
        try:
            with _timed(timeout, httpcore.WriteTimeout, httpcore.WriteError):
                await self._top.send(buffer)
        except httpcore.WriteTimeout:
            if self._early.final:  # it answered and stopped reading
                raise stopped() from None
            raise
        if self._tcp.failed is not None:
            raise _failed(self._tcp.failed)

    async def _blocked(self) -> None:
        """The socket takes no more: wait until it does, reading whatever the server says
        meanwhile. A final answer, a hang-up or a reset stops the upload."""
        closed: anyio.ClosedResourceError | None = None
        async with anyio.create_task_group() as group:
            group.start_soon(self._listen, group.cancel_scope)
            try:
                await self._tcp.writable()
            except anyio.ClosedResourceError as exc:  # raised as itself, not in a group
                closed = exc
            group.cancel_scope.cancel()
        if closed is not None:
            raise closed
        if self._early.stop:
            raise _Stopped

    async def _listen(self, write: anyio.CancelScope) -> None:
        while not self._early.stop:
            await self._take()
        write.cancel()

    async def _look(self) -> None:
        """Read what the server sent (the socket said something is there)."""
        with anyio.move_on_after(LOOK_TIMEOUT):
            await self._take()

    async def _take(self) -> None:
        try:
            data = await self._top.receive(READ_SIZE)
        except anyio.EndOfStream:
            data = b""
        except (*_STREAM_ERRORS, anyio.BusyResourceError) as exc:
            self._early.fail(httpcore.ReadError(str(exc) or type(exc).__name__))
            return
        self._early.add(data)

    async def aclose(self) -> None:
        self._tcp.close()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            with _timed(timeout, httpcore.ConnectTimeout, httpcore.ConnectError):
                tls = await TLSStream.wrap(
                    self._top,
                    server_side=False,
                    hostname=server_hostname,
                    ssl_context=ssl_context,
                    standard_compatible=False,
                )
        except BaseException:  # failed or cancelled: httpcore never gets the stream to close
            self._tcp.close()
            raise
        return _Stream(self._tcp, tls)

    def get_extra_info(self, info: str) -> Any:
        sock, top = self._tcp.sock, self._top
        if info == "ssl_object":
            return top.extra(TLSAttribute.ssl_object) if isinstance(top, TLSStream) else None
        if info == "is_readable":
            return peer_spoke(sock)
        if info == "socket":
            return sock
        with contextlib.suppress(OSError):  # what httpx documents of a network stream
            if info == "client_addr":
                return sock.getsockname()
            if info == "server_addr":
                return sock.getpeername()
        return None


async def _addresses(host: str, port: int) -> list[tuple[Any, ...]]:
    """Where ``host`` is: an address as it is (no resolver round trip), else looked up."""
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return list(await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM))
    family = socket.AF_INET if address.version == 4 else socket.AF_INET6
    return [(family, socket.SOCK_STREAM, 0, "", (str(address), port))]


async def _connect_one(
    info: tuple[Any, ...], local_address: str | None, options: Iterable[Any]
) -> socket.socket:
    family, kind, proto, _, address = info
    sock = socket.socket(family, kind, proto)
    try:
        sock.settimeout(0.0)  # non-blocking: every wait is an awaited one
        for option in options:
            sock.setsockopt(*option)
        if family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if local_address:
                sock.bind((local_address, 0))
        code = sock.connect_ex(address)
        if code in (errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EAGAIN):
            await _wait_writable(sock)
            code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if code:
            raise OSError(code, f"{os.strerror(code)} (connecting to {address})")
    except BaseException:
        sock.close()
        raise
    return sock


HAPPY_EYEBALLS_DELAY = 0.25
"""When a host has several addresses, the next is tried this long after the one before began
(at once if it failed), the first to connect wins (RFC 8305): an address family that drops
packets silently (a broken IPv6 route) costs a quarter of a second, not the connect timeout."""


async def _connect(
    infos: list[tuple[Any, ...]], local_address: str | None, options: Iterable[Any]
) -> socket.socket:
    """A connected non-blocking socket to the first address that takes the connection."""
    options = list(options)
    if len(infos) == 1:
        return await _connect_one(infos[0], local_address, options)
    won: list[socket.socket] = []
    errors: list[OSError] = []

    async def attempt(info: tuple[Any, ...], turn: anyio.Event, after: anyio.Event) -> None:
        await turn.wait()  # the attempt before failed, or had its head start
        group.start_soon(head_start, after)
        try:
            sock = await _connect_one(info, local_address, options)
        except OSError as exc:
            errors.append(exc)
            after.set()
            if len(errors) == len(infos):
                group.cancel_scope.cancel()
            return
        if won:
            sock.close()
        else:
            won.append(sock)
            group.cancel_scope.cancel()

    async def head_start(after: anyio.Event) -> None:
        await anyio.sleep(HAPPY_EYEBALLS_DELAY)
        after.set()

    async with anyio.create_task_group() as group:
        turn = anyio.Event()
        turn.set()
        for info in infos:
            after = anyio.Event()
            group.start_soon(attempt, info, turn, after)
            turn = after
    if won:
        return won[0]
    raise errors[-1] if errors else OSError("no address to connect to")


class AsyncBackend(httpcore.AsyncNetworkBackend):
    """Connections on sockets of our own (see the module's notes), on asyncio or trio."""

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        saw_connect()
        with _timed(timeout, httpcore.ConnectTimeout, httpcore.ConnectError):
            found = await _addresses(host, port)
            tcp = _Socket(await _connect(found, local_address, socket_options or ()))
        return _Stream(tcp, tcp)

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        saw_connect()
        found = [(socket.AF_UNIX, socket.SOCK_STREAM, 0, "", path)]
        with _timed(timeout, httpcore.ConnectTimeout, httpcore.ConnectError):
            tcp = _Socket(await _connect(found, None, socket_options or ()))
        return _Stream(tcp, tcp)

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(seconds)
