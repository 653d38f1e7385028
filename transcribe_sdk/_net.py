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
    :class:`Salvage` under that stream keeps the failure of a send from it (a TLSStream whose
    send raised refuses to read) and, once the transport is gone, hands it the rest of the
    bytes from the spare. No peek before writes here: a server's bytes (a session ticket) do
    not mean an answer, and an answer comes with the reset of its close anyway.

  Whatever a transport loses, the retry layer never sends again an upload the server cut off
  with an answer (``_attempt.answered_mid_upload``);
- send a large file's regions by the kernel (:mod:`transcribe_sdk._regions`,
  :mod:`transcribe_sdk._sendfile`): a write of a region's placeholder sends the region.

The deadline is in :mod:`transcribe_sdk._deadline`, the spare descriptor and the TLS salvage in
:mod:`transcribe_sdk._spare`.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable
from typing import Any

import httpcore

from ._deadline import cap as _cap
from ._deadline import deadline
from ._regions import claim
from ._sendfile import send_region

__all__ = ["deadline", "guard_client"]

CHECK_EVERY = 256 * 1024
"""Bytes written between two looks for an early answer: small requests (one or two writes)
pay for none, a large upload stops within this much of the server's answer."""


def _plain_socket(stream: Any) -> socket.socket | None:
    if stream.get_extra_info("ssl_object") is not None:
        return None
    sock = stream.get_extra_info("socket")
    return sock if isinstance(sock, socket.socket) else None


_DONTWAIT = int(getattr(socket, "MSG_DONTWAIT", 0))
"""Look without waiting in one call, where the platform has the flag (not Windows). Only for a
socket without a timeout: Python waits for data first on one with a timeout, whatever flags."""
_PEEK_NOW = int(socket.MSG_PEEK) | _DONTWAIT  # plain ints: or-ing the enum costs more than recv


def _answered(sock: socket.socket | None) -> bool:
    """Whether the server has sent something (or closed) on this plain-TCP connection."""
    if sock is None or sock.fileno() < 0:
        return False
    previous = sock.gettimeout()
    if _DONTWAIT and not previous:  # non-blocking (our async spare) or blocking: one call
        try:
            sock.recv(1, _PEEK_NOW)
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


class AnswerWatch:
    """What both clients' streams share: they count the bytes written, and every
    :data:`CHECK_EVERY` look at :meth:`_watched` for an early answer (and stop uploading)."""

    _unchecked = 0

    def _watched(self) -> socket.socket | None:
        """The plain socket to peek at (``None``: none can be, e.g. on TLS)."""
        raise NotImplementedError

    def _stop_if_answered(self, size: int) -> None:
        self._unchecked += size
        if self._unchecked >= CHECK_EVERY:
            self._unchecked = 0
            if _answered(self._watched()):
                raise _early()


class _Stream(AnswerWatch, httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _cap(timeout))

    def _watched(self) -> socket.socket | None:
        return _plain_socket(self._inner)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        self._stop_if_answered(len(buffer))
        region = claim(buffer)
        if region is not None:
            send_region(self, _plain_socket(self._inner), region, timeout, self._stop_if_answered)
            return
        # httpcore sends what the socket takes and slices off the rest, a copy of the rest each
        # time: through a memoryview the slices are free.
        self._inner.write(memoryview(buffer), _cap(timeout))  # type: ignore[arg-type]

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        return _Stream(self._inner.start_tls(ssl_context, server_hostname, _cap(timeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


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
            from ._net_async import AsyncBackend

            pool._network_backend = AsyncBackend(backend)  # type: ignore[union-attr]
        elif isinstance(backend, httpcore.NetworkBackend):
            pool._network_backend = _Backend(backend)  # type: ignore[union-attr]
        else:
            wrapped = False
    return wrapped
