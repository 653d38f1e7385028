"""Socket-level guards for the httpx clients we create (never for an ``http_client`` passed in).

httpcore takes a *network backend* that opens the connections; we wrap the one httpx gives its
pool so that every connection's reads and writes:

- never wait past the call's ``deadline`` (a :data:`deadline` context variable the shells set
  around an attempt): httpcore applies its read timeout per socket read, so a server dripping
  its headers one byte at a time would otherwise keep a call alive for ever;
- keep a server's early answer (a ``413`` sent, and the connection closed, while the body is
  still being sent) readable. httpcore reads the answer after a failed body write on purpose;
  the sync socket keeps what arrived, but asyncio's transport closes its socket when a write
  fails, and the answer waiting in the kernel went with it (a ``ReadError``, retried: the whole
  upload again). So an async connection keeps a spare ``dup()`` of its socket's descriptor:

  - plain ``http://``: before each write the spare is peeked (the server answered or hung
    up: stop uploading), and after a failed write the answer is read from it;
  - TLS: the answer is encrypted and only anyio's ``TLSStream`` can read it. A
    :class:`_Salvage` under that stream keeps the failure of a send from it (a TLSStream whose
    send raised refuses to read) and, once the transport is gone, hands it the rest of the
    bytes from the spare. No peek before writes here: a server's bytes (a session ticket) do
    not mean an answer, and an answer comes with the reset of its close anyway.

  Whatever a transport loses, the retry layer never sends again an upload the server cut off
  with an answer (``_attempt.answered_mid_upload``).
"""

from __future__ import annotations

import math
import socket
import time
from collections.abc import Iterable
from contextvars import ContextVar
from typing import Any

import anyio
import anyio.abc
import httpcore
from anyio.streams.tls import TLSStream

__all__ = ["deadline", "guard_client"]

deadline: ContextVar[float | None] = ContextVar("transcribe_sdk_deadline", default=None)
"""``time.monotonic()`` by which the current attempt must be done, or ``None``."""

_EXPIRED = 0.001
"""The timeout handed to a read or write once the deadline has passed: it fails at once."""


def _cap(timeout: float | None) -> float | None:
    at = deadline.get()
    if at is None:
        return timeout
    left = max(at - time.monotonic(), _EXPIRED)
    return left if timeout is None else min(timeout, left)


def _plain_socket(stream: Any) -> socket.socket | None:
    if stream.get_extra_info("ssl_object") is not None:
        return None
    sock = stream.get_extra_info("socket")
    return sock if isinstance(sock, socket.socket) else None


def _answered(sock: socket.socket | None) -> bool:
    """Whether the server has sent something (or closed) on this plain-TCP connection."""
    if sock is None or sock.fileno() < 0:
        return False
    # A sync socket has a timeout, and recv with one waits for data first: look without waiting.
    previous = sock.gettimeout()
    try:
        sock.settimeout(0)
        sock.recv(1, socket.MSG_PEEK)
    except (BlockingIOError, InterruptedError):
        return False
    except OSError:
        return True  # reset: the write would fail anyway; let the read report what came
    finally:
        sock.settimeout(previous)
    return True  # data, or b"" (the server hung up)


def _early() -> httpcore.WriteError:
    return httpcore.WriteError("the server answered before the upload was complete")


class _Stream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _cap(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if buffer and _answered(_plain_socket(self._inner)):
            raise _early()
        self._inner.write(buffer, _cap(timeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        return _Stream(self._inner.start_tls(ssl_context, server_hostname, _cap(timeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _AsyncStream(httpcore.AsyncNetworkStream):
    def __init__(self, inner: httpcore.AsyncNetworkStream, salvage: _Salvage | None = None) -> None:
        self._inner = inner
        self._spare = _spare_socket(inner)
        self._salvage = salvage
        self._broken = False

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        if self._spare is None or not self._broken:
            # Without a spare (TLS: see _Salvage; a Unix socket) the stream reads on its own.
            try:
                return await self._inner.read(max_bytes, _cap(timeout))
            except httpcore.ReadError:
                if self._spare is None:
                    raise
                self._broken = True  # what the kernel still holds may be the answer
        return await _read_spare(self._spare, max_bytes, _cap(timeout))

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        try:
            if buffer and _answered(self._spare):
                raise _early()
            await self._inner.write(buffer, _cap(timeout))
            if self._salvage is not None and self._salvage.failed is not None:
                raise httpcore.WriteError(str(self._salvage.failed.__cause__ or "")) from (
                    self._salvage.failed
                )
        except httpcore.WriteError:
            # httpcore now reads the answer; asyncio may have closed its socket already.
            self._broken = True
            raise

    async def aclose(self) -> None:
        if self._spare is not None:
            self._spare.close()
        await self._inner.aclose()

    async def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.AsyncNetworkStream:
        if self._spare is not None:
            self._spare.close()
            self._spare = None
        inner = await self._inner.start_tls(ssl_context, server_hostname, _cap(timeout))
        return _AsyncStream(inner, _keep_tls_answers(inner))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


def _spare_socket(stream: httpcore.AsyncNetworkStream) -> socket.socket | None:
    """A second descriptor of a plain-TCP connection's socket. asyncio closes its own when a
    write fails, dropping an answer that already arrived; through this one it can still be read
    (one more descriptor per connection, closed with it)."""
    if stream.get_extra_info("ssl_object") is not None:
        return None
    return _dup(stream.get_extra_info("socket"))


def _dup(sock: Any) -> socket.socket | None:
    """A non-blocking second descriptor of a TCP socket (asyncio gives a TransportSocket)."""
    fileno = getattr(sock, "fileno", None)
    family = getattr(sock, "family", None)
    if not callable(fileno) or family not in (socket.AF_INET, socket.AF_INET6):
        return None
    try:
        spare = socket.fromfd(fileno(), family, socket.SOCK_STREAM)  # dup()s the descriptor
    except OSError:
        return None
    spare.setblocking(False)
    return spare


async def _read_spare(spare: socket.socket, max_bytes: int, timeout: float | None) -> bytes:
    wait = getattr(anyio, "wait_readable", None) or anyio.wait_socket_readable
    with anyio.move_on_after(math.inf if timeout is None else timeout):
        while True:
            try:
                return spare.recv(max_bytes)
            except (BlockingIOError, InterruptedError):
                try:
                    await wait(spare)
                except NotImplementedError as exc:  # an event loop that cannot watch a socket
                    raise httpcore.ReadError("the connection was closed") from exc
            except OSError as exc:
                raise httpcore.ReadError(str(exc)) from exc
    raise httpcore.ReadTimeout("timed out reading the answer")


class _Salvage(anyio.abc.ByteStream):
    """The TCP stream under an async TLS connection, with a spare descriptor of its socket.

    anyio's asyncio transport closes its socket when a write fails, dropping what the server
    had sent: an early answer, still encrypted, in the kernel. The TLS layer reads through this
    stream, so once the transport is gone it reads the rest from the spare descriptor and
    decrypts the answer as usual (the TLS state is intact: a failed send loses no record).
    """

    def __init__(self, inner: anyio.abc.ByteStream, spare: socket.socket) -> None:
        self._inner = inner
        self._spare = spare
        self._lost = False
        self.failed: anyio.BrokenResourceError | None = None
        """The failure of a send, kept from the TLS layer (see :meth:`send`)."""

    async def receive(self, max_bytes: int = 65536) -> bytes:
        if not self._lost:
            try:
                return await self._inner.receive(max_bytes)
            except anyio.BrokenResourceError:
                if self.failed is None:
                    raise  # a reset while reading: no upload was cut short
                self._lost = True  # what the kernel still holds may be the answer
        try:
            data = await _read_spare(self._spare, max_bytes, None)  # httpcore times the read
        except httpcore.ReadError as exc:
            raise anyio.BrokenResourceError from exc
        if not data:
            raise anyio.EndOfStream
        return data

    async def send(self, item: bytes) -> None:
        # anyio's TLSStream refuses to read once a send of its has raised, so the failure is
        # kept here instead; _AsyncStream.write raises it as httpcore's WriteError, and the TLS
        # stream, never used to send again, can still read the answer.
        if self.failed is not None:
            raise anyio.BrokenResourceError from self.failed
        try:
            await self._inner.send(item)
        except anyio.BrokenResourceError as exc:
            self.failed = exc

    async def send_eof(self) -> None:
        await self._inner.send_eof()

    async def aclose(self) -> None:
        self._spare.close()
        await self._inner.aclose()

    @property
    def extra_attributes(self) -> Any:
        return self._inner.extra_attributes


def _keep_tls_answers(stream: httpcore.AsyncNetworkStream) -> _Salvage | None:
    """Put a :class:`_Salvage` under the TLS layer of a connection httpcore just secured.

    httpcore's anyio backend keeps anyio's ``TLSStream`` as ``_stream``; its documented
    ``transport_stream`` is the TCP stream it reads from. Another layout (trio, TLS inside a
    proxy's TLS) is left as it is: the retry layer then still never re-sends such an upload.
    """
    tls = getattr(stream, "_stream", None)
    if not isinstance(tls, TLSStream):
        return None
    tcp = tls.transport_stream
    if not isinstance(tcp, anyio.abc.SocketStream):
        return None
    spare = _dup(tcp.extra(anyio.abc.SocketAttribute.raw_socket, None))
    if spare is None:
        return None
    salvage = _Salvage(tcp, spare)
    tls.transport_stream = salvage
    return salvage


class _Backend(httpcore.NetworkBackend):
    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        stream = self._inner.connect_tcp(host, port, _cap(timeout), local_address, socket_options)
        return _Stream(stream)

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        return _Stream(self._inner.connect_unix_socket(path, _cap(timeout), socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class _AsyncBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, inner: httpcore.AsyncNetworkBackend) -> None:
        self._inner = inner

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        stream = await self._inner.connect_tcp(
            host, port, _cap(timeout), local_address, socket_options
        )
        return _AsyncStream(stream)

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        stream = await self._inner.connect_unix_socket(path, _cap(timeout), socket_options)
        return _AsyncStream(stream)

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def guard_client(client: Any) -> None:
    """Wrap the network backend of every connection pool of an httpx client we created.

    httpx has no public way to hand its pool a backend; the attributes are checked, and a
    layout this does not know is left as it is (the guards are then simply absent).
    """
    transports = [getattr(client, "_transport", None), *getattr(client, "_mounts", {}).values()]
    for transport in transports:
        pool = getattr(transport, "_pool", None)
        backend = getattr(pool, "_network_backend", None)
        if isinstance(backend, httpcore.AsyncNetworkBackend):
            pool._network_backend = _AsyncBackend(backend)  # type: ignore[union-attr]
        elif isinstance(backend, httpcore.NetworkBackend):
            pool._network_backend = _Backend(backend)  # type: ignore[union-attr]
