"""The sync network backend of our connection pools, and the streams it opens.

httpcore documents ``ConnectionPool(network_backend=...)`` and the stream interface (``read``,
``write``, ``close``, ``start_tls``, ``get_extra_info``); :class:`Backend` wraps httpcore's own
sync backend through exactly that. Its streams:

- **keep a server's early answer.** httpcore, when a body write fails, reads the answer
  (servers answer ``413`` mid-upload and close), and a blocking socket keeps what arrived.
  Before each piece of a write the stream waits until the socket takes more *or* the server
  speaks (``poll`` on the socket ``get_extra_info("socket")`` documents; it reads nothing).
  What the server sent is read through the stream: a final answer or a hang-up stops the
  upload, an interim ``1xx`` does not (:class:`~.early.EarlyAnswer`), so a server that answers
  and then stops reading is heard at once, not after the write timeout;
- **never wait past the call's deadline** (:func:`~.wire.cap` on every timeout);
- **record** the bytes of an answer and each new connection into the attempt's
  :class:`~.wire.Wire`.

The async backend is :mod:`.async_streams`.
"""

from __future__ import annotations

import select
import socket
import ssl
import time
from collections.abc import Iterable
from typing import Any

import httpcore

from .early import EarlyAnswer
from .wire import cap, expired, saw_answer_bytes, saw_connect

__all__ = ["READ_SIZE", "Backend", "peer_spoke", "stopped"]

READ_SIZE = 64 * 1024
LOOK_TIMEOUT = 0.002
"""How long a sync look at what the server sent may wait for the rest of a TLS record. On plain
TCP the bytes are there (the socket said so); on TLS they may be a session ticket, no answer."""
POLL_SLICE = 0.25
"""The longest one wait for the socket lasts before it is checked again: a socket closed by
another thread (``client.close()``) does not wake a ``poll`` already waiting on it."""
PIECE_MAX = 256 * 1024
PIECE_MIN = 16 * 1024


def _socket_of(stream: httpcore.NetworkStream | httpcore.AsyncNetworkStream) -> Any:
    sock = stream.get_extra_info("socket")
    return sock if callable(getattr(sock, "fileno", None)) else None


_POLL = hasattr(select, "poll")  # not on Windows: select() there
_IN = (select.POLLIN | select.POLLPRI | select.POLLERR | select.POLLHUP) if _POLL else 0
_OUT = select.POLLOUT if _POLL else 0


def peer_spoke(sock: Any) -> bool:
    """Whether the server has sent something, or hung up, on this connection (no waiting)."""
    return _wait(sock, False, 0)[0]


def _wait(sock: Any, writable: bool, timeout: float | None) -> tuple[bool, bool]:
    """Wait up to ``timeout`` (``None``: for ever) until the server has sent something (or hung
    up), or, with ``writable``, until the socket takes more: ``(readable, writable)``."""
    fd = sock.fileno()
    if fd < 0:
        return True, False  # closed under us: the read says how
    if _POLL:
        poller = select.poll()
        poller.register(fd, _IN | (_OUT if writable else 0))
        events = poller.poll(-1 if timeout is None else max(0, int(timeout * 1000 + 0.999)))
        mask = events[0][1] if events else 0
        return bool(mask & _IN), bool(mask & _OUT)
    readers, writers, _ = select.select([fd], [fd] if writable else [], [], timeout)
    return bool(readers), bool(writers)


def _slice(end: float | None) -> float:
    """The next wait: at most :data:`POLL_SLICE`, and not past ``end``."""
    return POLL_SLICE if end is None else min(POLL_SLICE, max(0.001, end - time.monotonic()))


def _piece(sock: Any) -> int:
    """Bytes written at once when the socket takes more: a fraction of its send buffer, so a
    write after ``POLLOUT`` does not block (Linux reports it once a third is free)."""
    try:
        size = int(sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)) // 8
    except (OSError, AttributeError):
        return PIECE_MIN
    return max(PIECE_MIN, min(PIECE_MAX, size))


def stopped() -> httpcore.WriteError:
    # httpcore then reads the answer: what EarlyAnswer holds comes first.
    return httpcore.WriteError("the server answered before the upload was complete")


class _Stream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner
        self._sock = _socket_of(inner)
        self._early = EarlyAnswer()

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        held = self._early.take(max_bytes)
        if held is not None:
            return held
        if expired():  # a server that never stops sending (1xx after 1xx) meets it here
            raise httpcore.ReadTimeout("the call's deadline passed while the answer came")
        if self._sock is None:
            data = self._inner.read(max_bytes, cap(timeout))
        else:
            data = self._read_in_slices(self._sock, max_bytes, timeout)
        saw_answer_bytes(len(data))
        return data

    def _read_in_slices(self, sock: Any, max_bytes: int, timeout: float | None) -> bytes:
        """Read with the socket's timeout cut in slices, so that a client closed by another
        thread (which does not wake a blocked ``recv``) ends the wait. A read that times out
        takes nothing, on TLS too: the next slice goes on where it stopped."""
        limit = cap(timeout)
        end = None if limit is None else time.monotonic() + limit
        while True:
            if sock.fileno() < 0:
                raise httpcore.ReadError("the connection was closed while waiting for the answer")
            try:
                return self._inner.read(max_bytes, _slice(end))
            except httpcore.ReadTimeout:
                if end is not None and time.monotonic() >= end:
                    raise

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        self._early.before_write()
        if self._early.stop:
            raise stopped()
        sock = self._sock
        if sock is None:
            self._inner.write(buffer, cap(timeout))
            return
        piece = _piece(sock)
        for start in range(0, len(buffer), piece):
            part = buffer if len(buffer) <= piece else buffer[start : start + piece]
            self._until_writable(sock, timeout)
            try:
                self._inner.write(part, cap(timeout))
            except httpcore.WriteTimeout:
                # The server may have answered and stopped reading: then that is the answer.
                if peer_spoke(sock):
                    self._look()
                if self._early.final:
                    raise stopped() from None
                raise

    def _until_writable(self, sock: Any, timeout: float | None) -> None:
        limit = cap(timeout)
        end = None if limit is None else time.monotonic() + limit
        while True:
            if sock.fileno() < 0:  # closed by another thread (client.close()) while we waited
                raise httpcore.WriteError("the connection was closed during the upload")
            readable, writable = _wait(sock, True, _slice(end))
            if readable:
                self._look()
                if self._early.stop:
                    raise stopped()
            if writable:
                return
            if end is not None and time.monotonic() >= end:
                raise httpcore.WriteTimeout("timed out waiting to send more of the upload")

    def _look(self) -> None:
        """Read what the server sent (the socket said something is there)."""
        try:
            data = self._inner.read(READ_SIZE, LOOK_TIMEOUT)
        except httpcore.ReadTimeout:
            return  # TLS bytes that were no answer (a session ticket), or half a record
        except httpcore.ReadError as exc:
            self._early.fail(exc)
            return
        self._early.add(data)

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        return _Stream(self._inner.start_tls(ssl_context, server_hostname, cap(timeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class Backend(httpcore.NetworkBackend):
    """httpcore's sync backend, its connections guarded (see the module's notes)."""

    def __init__(self, inner: httpcore.NetworkBackend | None = None) -> None:
        self._inner = inner or httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        saw_connect()
        return _Stream(
            self._inner.connect_tcp(host, port, cap(timeout), local_address, socket_options)
        )

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        saw_connect()
        return _Stream(self._inner.connect_unix_socket(path, cap(timeout), socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)
