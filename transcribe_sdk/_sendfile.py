"""Sending a file region (see :mod:`transcribe_sdk._regions`) on a connection we wrap.

On plain TCP the kernel sends it: ``os.sendfile`` in a loop (sync), or the event loop's own
``sendfile``, which lets the transport's buffer drain first (asyncio). On TLS, or where
sendfile cannot join the file and the socket, the region is read with ``os.pread`` (in a worker
thread for async) and written through the stream, :data:`PIECE` at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import math
import os
import selectors
import socket
from collections.abc import Callable

import anyio
import httpcore

from ._async_files import run_in_thread
from ._deadline import cap as _cap
from ._regions import Region

__all__ = ["PIECE", "send_region", "send_region_async"]

PIECE = 2 * 1024 * 1024
"""A file region is sent this much per ``sendfile`` wait (async) or pread-and-write (TLS): a
write timeout means no progress for that long, as for any other write."""

_Selector = getattr(selectors, "PollSelector", selectors.DefaultSelector)
"""The wait for a socket to take more. ``poll`` looks the descriptor up on each wait, as a
blocking ``sendall`` does: a socket closed from another thread (the client closed mid-upload)
ends the upload at the next wait. ``epoll`` forgets a closed descriptor without a word, and the
wait would last the whole write timeout."""

_UNSUPPORTED = (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSOCK)
"""What ``sendfile`` says when it cannot join this file and this socket (then it is read)."""


def send_region(
    stream: httpcore.NetworkStream,
    sock: socket.socket | None,
    region: Region,
    timeout: float | None,
    check: Callable[[int], None],
) -> None:
    """Send ``region`` on ``stream`` (whose plain socket is ``sock``, ``None`` on TLS).
    ``check(sent)`` is told of each stretch the kernel sent, to stop at an early answer (the
    stream's own writes check on their own)."""
    if sock is not None and _sendfile(sock, region, timeout, check):
        return
    fd = region.file.fileno()
    while region.sent < region.count:
        data = os.pread(fd, min(PIECE, region.count - region.sent), region.offset + region.sent)
        if not data:
            return  # the file ended early; the body reports it
        stream.write(memoryview(data), _cap(timeout))  # type: ignore[arg-type]
        region.sent += len(data)


async def send_region_async(
    stream: httpcore.AsyncNetworkStream,
    inner: httpcore.AsyncNetworkStream,
    region: Region,
    timeout: float | None,
    check: Callable[[int], None],
) -> None:
    """Send ``region``: by the event loop on plain TCP under asyncio (``inner`` is httpcore's
    stream), else read and written through ``stream`` (ours, which checks each write)."""
    transport = _asyncio_transport(inner)
    if transport is not None and await _asendfile(transport, region, timeout, check):
        return
    fd = region.file.fileno()
    while region.sent < region.count:
        size = min(PIECE, region.count - region.sent)
        data = await run_in_thread(os.pread, fd, size, region.offset + region.sent)
        if not data:
            return  # the file ended early; the body reports it
        await stream.write(data, _cap(timeout))
        region.sent += len(data)


def _sendfile(
    sock: socket.socket, region: Region, timeout: float | None, check: Callable[[int], None]
) -> bool:
    """Send ``region`` with ``os.sendfile``, each wait for the socket bounded like a write's.
    ``False`` if sendfile cannot join this file and socket (nothing was sent then)."""
    fd, out = region.file.fileno(), sock.fileno()
    if out < 0:  # closed from another thread between two regions
        raise httpcore.WriteError("the connection was closed during the upload")
    sock.setblocking(False)  # httpcore sets its timeout again before its own next use
    with _Selector() as selector:
        selector.register(out, selectors.EVENT_WRITE)
        while region.sent < region.count:
            out = sock.fileno()  # the client closed in another thread: -1, and stop
            if out < 0:
                raise httpcore.WriteError("the connection was closed during the upload")
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
            check(sent)
    return True


def _asyncio_transport(stream: httpcore.AsyncNetworkStream) -> asyncio.Transport | None:
    """The asyncio transport under httpcore's anyio stream on plain TCP (``None`` otherwise:
    TLS, trio, a layout this does not know)."""
    if stream.get_extra_info("ssl_object") is not None:
        return None
    transport = getattr(getattr(stream, "_stream", None), "_transport", None)
    return transport if isinstance(transport, asyncio.Transport) else None


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
