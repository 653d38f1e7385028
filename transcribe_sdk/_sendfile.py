"""Sending a file region (see :mod:`transcribe_sdk._regions`) on a connection we wrap.

On plain TCP the kernel sends it, ``os.sendfile`` in a loop; on TLS, or where sendfile cannot
join the file and the socket, the region is read with ``os.pread`` and written through the
stream, :data:`PIECE` at a time. The async side (the event loop's own ``sendfile``, reads in a
worker thread) is in :mod:`transcribe_sdk._net_async`.
"""

from __future__ import annotations

import errno
import os
import selectors
import socket
from collections.abc import Callable

import httpcore

from ._deadline import cap as _cap
from ._regions import Region

__all__ = ["BLOCKED", "PIECE", "UNJOINABLE", "send_region", "sendfile_step"]

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


BLOCKED = -1
"""From :func:`sendfile_step`: the socket takes nothing now; wait for it to take more."""
UNJOINABLE = -2
"""From :func:`sendfile_step`: sendfile cannot join this file and socket (nothing sent yet)."""


def sendfile_step(out: int, region: Region, size: int, check: Callable[[int], None]) -> int:
    """One ``os.sendfile`` call of up to ``size`` more bytes of ``region`` on the socket
    descriptor ``out``, for both clients' loops: the bytes sent (counted in ``region``, and
    told to ``check``), ``0`` when the file ended early (the body reports it), or
    :data:`BLOCKED` or :data:`UNJOINABLE`. A socket error is httpcore's ``WriteError``."""
    try:
        sent = os.sendfile(out, region.file.fileno(), region.offset + region.sent, size)
    except BlockingIOError:
        return BLOCKED
    except OSError as exc:
        if exc.errno in _UNSUPPORTED and region.sent == 0:
            return UNJOINABLE
        raise httpcore.WriteError(str(exc)) from exc
    if sent:
        region.sent += sent
        check(sent)
    return sent


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


def _sendfile(
    sock: socket.socket, region: Region, timeout: float | None, check: Callable[[int], None]
) -> bool:
    """Send ``region`` with ``os.sendfile``, each wait for the socket bounded like a write's.
    ``False`` if sendfile cannot join this file and socket (nothing was sent then)."""
    out = sock.fileno()
    if out < 0:  # closed from another thread between two regions
        raise httpcore.WriteError("the connection was closed during the upload")
    sock.setblocking(False)  # httpcore sets its timeout again before its own next use
    with _Selector() as selector:
        selector.register(out, selectors.EVENT_WRITE)
        while region.sent < region.count:
            out = sock.fileno()  # the client closed in another thread: -1, and stop
            if out < 0:
                raise httpcore.WriteError("the connection was closed during the upload")
            sent = sendfile_step(out, region, region.count - region.sent, check)
            if sent == BLOCKED:
                if not selector.select(_cap(timeout)):
                    raise httpcore.WriteTimeout("timed out sending the file")
            elif sent == UNJOINABLE:
                return False
            elif sent == 0:
                break  # the file ended early; the body reports it
    return True
