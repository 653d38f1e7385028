"""A spare descriptor of an async connection's socket, to read an answer asyncio dropped.

asyncio's transport closes its socket when a write fails, and an answer the server had already
sent (an early ``413``) goes with it. A ``dup()`` of the descriptor, taken when the connection
opens, keeps the socket's received bytes readable: directly on plain TCP (:func:`read_spare`),
and under anyio's TLS layer through :class:`Salvage` (:func:`keep_tls_answers`).
"""

from __future__ import annotations

import math
import socket
from typing import Any

import anyio
import anyio.abc
import httpcore
from anyio.streams.tls import TLSStream

__all__ = ["Salvage", "keep_tls_answers", "read_spare", "spare_socket"]


def spare_socket(stream: httpcore.AsyncNetworkStream) -> socket.socket | None:
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


async def read_spare(spare: socket.socket, max_bytes: int, timeout: float | None) -> bytes:
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


class Salvage(anyio.abc.ByteStream):
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
            data = await read_spare(self._spare, max_bytes, None)  # httpcore times the read
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


def keep_tls_answers(stream: httpcore.AsyncNetworkStream) -> Salvage | None:
    """Put a :class:`Salvage` under the TLS layer of a connection httpcore just secured.

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
    salvage = Salvage(tcp, spare)
    tls.transport_stream = salvage
    return salvage
