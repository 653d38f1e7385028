"""Socket-level guards for the httpx clients we create (never for an ``http_client`` passed in).

httpcore takes a *network backend* that opens the connections; we wrap the one httpx gives its
pool so that every connection's reads and writes:

- never wait past the call's ``deadline`` (a :data:`deadline` context variable the shells set
  around an attempt): httpcore applies its read timeout per socket read, so a server dripping
  its headers one byte at a time would otherwise keep a call alive for ever;
- stop uploading once the server has answered (or hung up) while the body is still being
  sent. httpcore then reads the answer (it treats a failed body write that way on purpose), so
  an early ``413`` is reported. Without this, asyncio's transport closes the socket on the
  failed write and the answer already received is lost (a ``ReadError``, retried: the whole
  upload again). Plain ``http://`` only: on TLS, bytes from the server (a session ticket) do
  not mean an answer.
"""

from __future__ import annotations

import asyncio
import errno
import math
import os
import selectors
import socket
import time
from collections.abc import Iterable
from contextvars import ContextVar
from typing import Any

import anyio
import httpcore

from ._async_files import run_in_thread
from ._regions import Region, claim

__all__ = ["deadline", "guard_client"]

deadline: ContextVar[float | None] = ContextVar("transcribe_sdk_deadline", default=None)
"""``time.monotonic()`` by which the current attempt must be done, or ``None``."""

_EXPIRED = 0.001
"""The timeout handed to a read or write once the deadline has passed: it fails at once."""

CHECK_EVERY = 256 * 1024
"""Bytes written between two looks for an early answer: small requests (one or two writes)
pay for none, a large upload stops within this much of the server's answer."""

PIECE = 8 * 1024 * 1024
"""A file region is sent this much per ``sendfile`` wait (async) or pread-and-write (TLS): a
write timeout means no progress for that long, as for any other write."""

_UNSUPPORTED = (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSOCK)
"""What ``sendfile`` says when it cannot join this file and this socket (then it is read)."""


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


_DONTWAIT = getattr(socket, "MSG_DONTWAIT", 0)
"""Look without waiting in one call, where the platform has the flag (not Windows). Only for a
socket without a timeout: Python waits for data first on one with a timeout, whatever flags."""


def _answered(sock: socket.socket | None) -> bool:
    """Whether the server has sent something (or closed) on this plain-TCP connection."""
    if sock is None or sock.fileno() < 0:
        return False
    previous = sock.gettimeout()
    if _DONTWAIT and not previous:  # non-blocking (our async spare) or blocking: one call
        try:
            sock.recv(1, socket.MSG_PEEK | _DONTWAIT)
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            return True  # reset: the write would fail anyway; let the read report what came
        return True  # data, or b"" (the server hung up)
    # A sync socket has a timeout, and recv with one waits for data first: look without waiting.
    try:
        sock.settimeout(0)
        sock.recv(1, socket.MSG_PEEK)
    except (BlockingIOError, InterruptedError):
        return False
    except OSError:
        return True
    finally:
        sock.settimeout(previous)
    return True


def _early() -> httpcore.WriteError:
    return httpcore.WriteError("the server answered before the upload was complete")


def _sendfile(sock: socket.socket, region: Region, timeout: float | None) -> bool:
    """Send ``region`` with ``os.sendfile``, each wait for the socket bounded like a write's.
    ``False`` if sendfile cannot join this file and socket (nothing was sent then)."""
    out, fd = sock.fileno(), region.file.fileno()
    sock.setblocking(False)  # httpcore sets its timeout again before its own next use
    with selectors.DefaultSelector() as selector:
        selector.register(out, selectors.EVENT_WRITE)
        while region.sent < region.count:
            try:
                sent = os.sendfile(out, fd, region.offset + region.sent, region.count - region.sent)
            except BlockingIOError:
                if not selector.select(_cap(timeout)):
                    raise httpcore.WriteTimeout("timed out sending the file") from None
                continue
            except OSError as exc:
                if exc.errno in _UNSUPPORTED and region.sent == 0:
                    return False
                raise httpcore.WriteError(str(exc)) from exc
            if sent == 0:
                break  # the file ended early; the body reports it
            region.sent += sent
    return True


class _Stream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner
        self._unchecked = 0

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _cap(timeout))

    def _stop_if_answered(self, size: int) -> None:
        self._unchecked += size
        if self._unchecked >= CHECK_EVERY:
            self._unchecked = 0
            if _answered(_plain_socket(self._inner)):
                raise _early()

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        self._stop_if_answered(len(buffer))
        region = claim(buffer)
        if region is not None:
            self._send_region(region, timeout)
            return
        # httpcore sends what the socket takes and slices off the rest, a copy of the rest each
        # time: through a memoryview the slices are free.
        self._inner.write(memoryview(buffer), _cap(timeout))  # type: ignore[arg-type]

    def _send_region(self, region: Region, timeout: float | None) -> None:
        sock = _plain_socket(self._inner)
        if sock is not None and _sendfile(sock, region, timeout):
            return
        # TLS (or a file and socket sendfile cannot join): read the region and write it.
        fd = region.file.fileno()
        while region.sent < region.count:
            data = os.pread(fd, min(PIECE, region.count - region.sent), region.offset + region.sent)
            if not data:
                return  # the file ended early; the body reports it
            self._inner.write(memoryview(data), _cap(timeout))  # type: ignore[arg-type]
            region.sent += len(data)

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        return _Stream(self._inner.start_tls(ssl_context, server_hostname, _cap(timeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _AsyncStream(httpcore.AsyncNetworkStream):
    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner
        self._spare = _spare_socket(inner)
        self._broken = False
        self._unchecked = 0

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        if not self._broken:
            try:
                return await self._inner.read(max_bytes, _cap(timeout))
            except httpcore.ReadError:
                if self._spare is None:
                    raise
                self._broken = True  # what the kernel still holds may be the answer
        if self._spare is None:
            raise httpcore.ReadError("the connection was closed")
        return await _read_spare(self._spare, max_bytes, _cap(timeout))

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        try:
            self._unchecked += len(buffer)
            if self._unchecked >= CHECK_EVERY:
                self._unchecked = 0
                if _answered(self._spare):
                    raise _early()
            region = claim(buffer)
            if region is not None:
                await self._send_region(region, timeout)
            else:
                await self._inner.write(buffer, _cap(timeout))
        except httpcore.WriteError:
            # httpcore now reads the answer; asyncio may have closed its socket already.
            self._broken = True
            raise

    async def _send_region(self, region: Region, timeout: float | None) -> None:
        transport = _asyncio_transport(self._inner)
        if transport is not None and await _asendfile(transport, region, timeout):
            return
        # TLS, another event loop, or a file sendfile cannot send: read it (off the loop).
        fd = region.file.fileno()
        while region.sent < region.count:
            size = min(PIECE, region.count - region.sent)
            data = await run_in_thread(os.pread, fd, size, region.offset + region.sent)
            if not data:
                return  # the file ended early; the body reports it
            await self._inner.write(data, _cap(timeout))
            region.sent += len(data)

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
        return _AsyncStream(inner)

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable" and self._spare is not None and not self._broken:
            # httpcore asks this of every idle connection each time it hands one out; anyio
            # answers by rebuilding its attribute table (a getpeername call) and polling. One
            # look at our own descriptor answers the same: has the server sent or hung up?
            return _answered(self._spare)
        return self._inner.get_extra_info(info)


def _asyncio_transport(stream: httpcore.AsyncNetworkStream) -> asyncio.Transport | None:
    """The asyncio transport under httpcore's anyio stream on plain TCP (``None`` otherwise:
    TLS, trio, a layout this does not know)."""
    if stream.get_extra_info("ssl_object") is not None:
        return None
    transport = getattr(getattr(stream, "_stream", None), "_transport", None)
    return transport if isinstance(transport, asyncio.Transport) else None


async def _asendfile(transport: asyncio.Transport, region: Region, timeout: float | None) -> bool:
    """Send ``region`` with the event loop's ``sendfile`` (which first lets the transport's
    buffer drain), :data:`PIECE` at a time so each piece has a write's timeout. ``False`` if
    the loop cannot (nothing was sent then)."""
    loop = asyncio.get_running_loop()
    while region.sent < region.count:
        piece = min(PIECE, region.count - region.sent)
        wait = _cap(timeout)
        try:
            with anyio.fail_after(math.inf if wait is None else wait):
                sent = await loop.sendfile(
                    transport, region.file, region.offset + region.sent, piece, fallback=False
                )
        except TimeoutError:
            raise httpcore.WriteTimeout("timed out sending the file") from None
        except (asyncio.SendfileNotAvailableError, NotImplementedError) as exc:
            if region.sent == 0:
                return False
            raise httpcore.WriteError(str(exc)) from exc
        except (OSError, RuntimeError) as exc:  # a reset, or a transport closing under us
            raise httpcore.WriteError(str(exc) or type(exc).__name__) from exc
        if sent == 0:
            break  # the file ended early; the body reports it
        region.sent += sent
    return True


def _spare_socket(stream: httpcore.AsyncNetworkStream) -> socket.socket | None:
    """A second descriptor of a plain-TCP connection's socket. asyncio closes its own when a
    write fails, dropping an answer that already arrived; through this one it can still be read
    (one more descriptor per connection, closed with it)."""
    if stream.get_extra_info("ssl_object") is not None:
        return None
    sock = stream.get_extra_info("socket")  # asyncio gives a TransportSocket, not a socket
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


def guard_client(client: Any) -> bool:
    """Wrap the network backend of every connection pool of an httpx client we created;
    whether every one of its transports was wrapped.

    httpx has no public way to hand its pool a backend; the attributes are checked, and a
    layout this does not know is left as it is (the guards are then simply absent).
    """
    transports = [getattr(client, "_transport", None), *getattr(client, "_mounts", {}).values()]
    wrapped = True
    for transport in transports:
        if transport is None:  # a mount that turns a proxy off
            continue
        pool = getattr(transport, "_pool", None)
        backend = getattr(pool, "_network_backend", None)
        if isinstance(backend, httpcore.AsyncNetworkBackend):
            pool._network_backend = _AsyncBackend(backend)  # type: ignore[union-attr]
        elif isinstance(backend, httpcore.NetworkBackend):
            pool._network_backend = _Backend(backend)  # type: ignore[union-attr]
        else:
            wrapped = False
    return wrapped
