"""The async half of :mod:`transcribe_sdk._net`: the guarded stream and backend of an
``httpx.AsyncClient`` we created (imported when one is, so ``import transcribe_sdk`` does not
load asyncio), and the event loop's ``sendfile`` for a file region.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import socket
from collections.abc import Callable, Iterable
from typing import Any

import anyio
import anyio.lowlevel
import httpcore

from ._async_files import run_in_thread
from ._deadline import cap as _cap
from ._net import AnswerWatch, _answered
from ._regions import Region, claim
from ._sendfile import BLOCKED, PIECE, UNJOINABLE, sendfile_step
from ._spare import Salvage, keep_tls_answers, read_spare, spare_socket

__all__ = ["AsyncBackend", "AsyncStream"]


class AsyncStream(AnswerWatch, httpcore.AsyncNetworkStream):
    def __init__(self, inner: httpcore.AsyncNetworkStream, salvage: Salvage | None = None) -> None:
        self._inner = inner
        self._spare = spare_socket(inner)
        self._salvage = salvage
        self._broken = False
        self._sending: anyio.CancelScope | None = None

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        if self._spare is None or not self._broken:
            # Without a spare (TLS: see Salvage; a Unix socket) the stream reads on its own.
            try:
                return await self._inner.read(max_bytes, _cap(timeout))
            except httpcore.ReadError:
                if self._spare is None:
                    raise
                self._broken = True  # what the kernel still holds may be the answer
        return await read_spare(self._spare, max_bytes, _cap(timeout))

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        try:
            self._stop_if_answered(len(buffer))
            region = claim(buffer)
            if region is not None:
                await self._send_region(region, timeout)
            else:
                await self._inner.write(buffer, _cap(timeout))
            if self._salvage is not None and self._salvage.failed is not None:
                raise httpcore.WriteError(str(self._salvage.failed.__cause__ or "")) from (
                    self._salvage.failed
                )
        except httpcore.WriteError:
            # httpcore now reads the answer; asyncio may have closed its socket already.
            self._broken = True
            raise

    def _watched(self) -> socket.socket | None:
        return self._spare

    async def _send_region(self, region: Region, timeout: float | None) -> None:
        # The client closed (another task) under asyncio's sendfile: the loop forgets the
        # sendfile's wait as the transport goes, which would then last the write timeout.
        with anyio.CancelScope() as scope:
            self._sending = scope
            try:
                await send_region_async(
                    self, self._inner, region, timeout, self._stop_if_answered, spare=self._spare
                )
            finally:
                self._sending = None
        if scope.cancelled_caught:
            raise httpcore.WriteError("the connection was closed during the upload")

    async def aclose(self) -> None:
        if self._sending is not None:
            self._sending.cancel()  # before the transport goes (see _send_region)
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
        return AsyncStream(inner, keep_tls_answers(inner))

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable" and self._spare is not None and not self._broken:
            # httpcore asks this of every idle connection each time it hands one out; anyio
            # answers by rebuilding its attribute table (a getpeername call) and polling. One
            # look at our own descriptor answers the same: has the server sent or hung up?
            return _answered(self._spare)
        return self._inner.get_extra_info(info)


class AsyncBackend(httpcore.AsyncNetworkBackend):
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
        return AsyncStream(stream)

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        stream = await self._inner.connect_unix_socket(path, _cap(timeout), socket_options)
        return AsyncStream(stream)

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


async def send_region_async(
    stream: httpcore.AsyncNetworkStream,
    inner: httpcore.AsyncNetworkStream,
    region: Region,
    timeout: float | None,
    check: Callable[[int], None],
    *,
    spare: socket.socket | None = None,
) -> None:
    """Send ``region``: by the kernel on plain TCP under asyncio (``inner`` is httpcore's
    stream, ``spare`` our descriptor of its socket), else read and written through ``stream``
    (ours, which checks each write)."""
    transport = _asyncio_transport(inner)
    if transport is not None:
        if spare is not None and _drained(transport):
            if await _spare_sendfile(spare, transport, region, timeout, check):
                return
        elif await _asendfile(transport, region, timeout, check):
            return
    fd = region.file.fileno()
    while region.sent < region.count:
        size = min(PIECE, region.count - region.sent)
        data = await run_in_thread(os.pread, fd, size, region.offset + region.sent)
        if not data:
            return  # the file ended early; the body reports it
        await stream.write(data, _cap(timeout))
        region.sent += len(data)


def _asyncio_transport(stream: httpcore.AsyncNetworkStream) -> asyncio.Transport | None:
    """The asyncio transport under httpcore's anyio stream on plain TCP (``None`` otherwise:
    TLS, trio, a layout this does not know)."""
    if stream.get_extra_info("ssl_object") is not None:
        return None
    transport = getattr(getattr(stream, "_stream", None), "_transport", None)
    return transport if isinstance(transport, asyncio.Transport) else None


def _drained(transport: asyncio.Transport) -> bool:
    """Whether asyncio's transport holds no bytes still to send (ours may then go first)."""
    return transport.get_write_buffer_size() == 0


async def _spare_sendfile(
    spare: socket.socket,
    transport: asyncio.Transport,
    region: Region,
    timeout: float | None,
    check: Callable[[int], None],
) -> bool:
    """Send ``region`` with ``os.sendfile`` on our own descriptor of the socket, as the sync
    client does: asyncio's transport has nothing buffered (the bytes before stay in order) and
    goes on reading; each wait for the socket to take more is bounded like a write's. One call
    sends at most :data:`SEND_AT_ONCE`, and the loop gets its turn after each. ``False`` if
    sendfile cannot join this file and socket (nothing was sent then). The file's position is
    not touched."""
    out = spare.fileno()
    while region.sent < region.count:
        if transport.is_closing() or spare.fileno() < 0:
            raise httpcore.WriteError("the connection was closed during the upload")
        size = min(SEND_AT_ONCE, region.count - region.sent)
        sent = sendfile_step(out, region, size, check)
        if sent == BLOCKED:
            wait = _cap(timeout)
            try:
                with anyio.fail_after(math.inf if wait is None else wait):
                    await _wait_writable(spare)
            except TimeoutError:
                raise httpcore.WriteTimeout("timed out sending the file") from None
        elif sent == UNJOINABLE:
            return False
        elif sent == 0:
            break  # the file ended early; the body reports it
        else:
            await anyio.lowlevel.checkpoint()
    return True


SEND_AT_ONCE = 2 * 1024 * 1024
"""The most one ``sendfile`` call of an async upload sends before the loop gets its turn: the
kernel copies it in a fraction of a millisecond, so eight large uploads at once hold the loop
for a few milliseconds at most (measured with 25 MiB files, 8 in flight: 5 ms, against 7 ms
with no cap; a single upload runs at about 0.95x the sync client's speed)."""

_wait_writable = getattr(anyio, "wait_writable", None) or anyio.wait_socket_writable


async def _asendfile(
    transport: asyncio.Transport,
    region: Region,
    timeout: float | None,
    check: Callable[[int], None],
) -> bool:
    """Send ``region`` with the event loop's ``sendfile`` (which first lets the transport's
    buffer drain), :data:`PIECE` at a time so each piece has a write's timeout. ``False`` if
    the loop cannot (nothing was sent then)."""
    loop = asyncio.get_running_loop()
    # asyncio leaves the descriptor's position after what it sent (a success or a failure); the
    # buffered file over it still believes its own, and a user's file, sent again after a
    # failure, was then read from the wrong place. It gets back the position it had.
    fd = region.file.fileno()
    kept = os.lseek(fd, 0, os.SEEK_CUR)
    try:
        return await _apieces(loop, transport, region, timeout, check)
    finally:
        with contextlib.suppress(OSError):  # a file closed under us: its error comes next
            os.lseek(fd, kept, os.SEEK_SET)


async def _apieces(
    loop: asyncio.AbstractEventLoop,
    transport: asyncio.Transport,
    region: Region,
    timeout: float | None,
    check: Callable[[int], None],
) -> bool:
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
        check(sent)
    return True
