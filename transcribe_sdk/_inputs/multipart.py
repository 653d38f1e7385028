"""The multipart/form-data body: form fields, then the file streamed in chunks.

The body is described once (:class:`MultipartBody`: the bytes before the file, the bytes after it,
and the length when the file's size is known); the sync and async clients differ only in how they
read the file's chunks between the two.
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncGenerator, Iterator
from typing import TYPE_CHECKING

import httpx

from .._readers import checked_chunk
from ..errors import InvalidFileError
from ..files import ASYNC_CHUNK_SIZE, CHUNK_SIZE, AudioFile, Reader, check_content_type

if TYPE_CHECKING:
    from .async_files import AsyncReader

GLUE_MAX = 256 * 1024
"""Chunks up to this size are sent in one piece with the form around them (see :class:`_Frame`)."""


# What a quoted parameter of a part's header may not hold raw: every control character (NUL,
# CR and LF would end or split the header line), '"' (it would end the value) and '\\' (an
# escape in a quoted string, and python-multipart and Werkzeug keep only the end of a filename
# that looks like a Windows path).
# Each is percent-encoded, as browsers do for '"', CR and LF and httpx for the controls.
_ESCAPES = {code: f"%{code:02X}" for code in (*range(0x20), 0x7F, ord('"'), ord("\\"))}


def _quote(value: str) -> str:
    """``value`` fit for a quoted header parameter (a field name, a filename)."""
    return value.translate(_ESCAPES)


def _utf8(text: str) -> bytes:
    # A name the OS decoded from undecodable bytes (surrogateescape) goes back to those bytes;
    # any other lone surrogate becomes "?". Field values were checked before (see _params).
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace")


class MultipartBody:
    """A multipart body of text fields and one file part named ``file``."""

    def __init__(
        self, fields: list[tuple[str, str]], audio: AudioFile, boundary: str | None = None
    ) -> None:
        self.boundary = boundary or os.urandom(16).hex()
        self.audio = audio
        dash = f"--{self.boundary}\r\n".encode("ascii")
        parts = []
        for name, value in fields:
            parts.append(dash)
            parts.append(_utf8(f'Content-Disposition: form-data; name="{_quote(name)}"\r\n\r\n'))
            parts.append(_utf8(value))
            parts.append(b"\r\n")
        parts.append(dash)
        parts.append(
            _utf8(
                f'Content-Disposition: form-data; name="file"; filename="{_quote(audio.filename)}"'
                f"\r\nContent-Type: {check_content_type(audio.content_type)}\r\n\r\n"
            )
        )
        self.head = b"".join(parts)
        self.tail = f"\r\n--{self.boundary}--\r\n".encode("ascii")

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    @property
    def content_length(self) -> int | None:
        """The body's length, or ``None`` (chunked transfer) when the file's size is unknown."""
        if self.audio.size is None:
            return None
        return len(self.head) + self.audio.size + len(self.tail)

    def headers(self) -> dict[str, str]:
        headers = {"Content-Type": self.content_type}
        length = self.content_length
        if length is not None:
            headers["Content-Length"] = str(length)
        return headers

    def _next_size(self, sent: int, chunk_size: int) -> int:
        size = self.audio.size
        return chunk_size if size is None else min(chunk_size, size - sent)

    def _take(self, chunk: object, sent: int) -> bytes:
        data = checked_chunk(chunk)
        size = self.audio.size
        if size is not None and sent + len(data) > size:
            # Past the Content-Length already sent, the server would read the extra bytes as
            # the next request.
            raise InvalidFileError(
                f"{self.audio.filename!r} gave more than its {size} bytes: its read() returned "
                "more than it was asked for, or it grew while being uploaded"
            )
        return data

    def _check_end(self, sent: int) -> None:
        if self.audio.size is not None and sent < self.audio.size:
            raise InvalidFileError(
                f"{self.audio.filename!r} ended after {sent} of its {self.audio.size} bytes; "
                "was it truncated while being uploaded?"
            )

    def iter_sync(self, reader: Reader, *, deadline: float | None = None) -> Iterator[bytes]:
        """The body's bytes, reading the file from ``reader`` one chunk at a time.

        ``deadline`` (``time.monotonic()``): no read of the file starts after it. A slow source
        (a download, a pipe) is read by blocking calls no socket timeout covers; the async
        client bounds them by cancelling, the sync one by not reading on.
        """
        frame = _Frame(self)
        sent = 0
        while (want := self._next_size(sent, CHUNK_SIZE)) > 0:
            if deadline is not None and time.monotonic() >= deadline:
                raise httpx.WriteTimeout("the call's deadline passed while reading the file")
            chunk = self._take(reader.read(want), sent)
            if not chunk:
                break
            sent += len(chunk)
            yield from frame.around(chunk, sent)
        self._check_end(sent)
        yield from frame.rest()

    async def iter_async(self, reader: AsyncReader) -> AsyncGenerator[bytes, None]:
        """Like :meth:`iter_sync`, awaiting each read so the event loop keeps running."""
        frame = _Frame(self)
        sent = 0
        while (want := self._next_size(sent, ASYNC_CHUNK_SIZE)) > 0:
            chunk = self._take(await reader.read(want), sent)
            if not chunk:
                break
            sent += len(chunk)
            for piece in frame.around(chunk, sent):
                yield piece
        self._check_end(sent)
        for piece in frame.rest():
            yield piece


class _Frame:
    """Puts the form's head before the file's bytes and its tail after them.

    A small chunk goes out in one piece with them (the head before the first chunk, the tail
    after the last): one socket write instead of three, and copying up to :data:`GLUE_MAX`
    bytes costs less than the two sends it saves. A large chunk goes out as it is.
    """

    __slots__ = ("_head", "_size", "_tail")

    def __init__(self, body: MultipartBody) -> None:
        self._head: bytes | None = body.head
        self._tail: bytes | None = body.tail
        self._size = body.audio.size

    def around(self, chunk: bytes, sent: int) -> tuple[bytes, ...]:
        """What to send for ``chunk``, the file's bytes up to ``sent``."""
        head, self._head = self._head, None
        if len(chunk) > GLUE_MAX:
            return (chunk,) if head is None else (head, chunk)
        tail = None
        if sent == self._size:
            tail, self._tail = self._tail, None
        if head is None and tail is None:
            return (chunk,)
        return (b"".join(p for p in (head, chunk, tail) if p is not None),)

    def rest(self) -> tuple[bytes, ...]:
        """What is still to send once the file's bytes are all out."""
        return tuple(p for p in (self._head, self._tail) if p is not None)
