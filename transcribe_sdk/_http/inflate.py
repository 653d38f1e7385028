"""Compressed bodies decoded a bounded piece at a time (pure code: bytes in, bytes out).

httpx decodes each chunk read from the socket in one go, and deflate's ratio is about 1000 to
1: 64 KiB read can become 64 MiB in memory at once, and a body compressed twice
(``Content-Encoding: gzip, gzip``) turns 2 KB into a gigabyte in a single step. An answer
(a stream, a result, a download) is read raw through :class:`Decoder` instead, which never gives
more than :data:`PIECE` bytes at a time at any of its layers, so a small body built to inflate
to millions of lines costs a bounded amount of memory whatever its size. Codings other than
gzip and deflate (``br``, ``zstd``) are left to httpx, which offers them only when their
library is installed.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator

PIECE = 64 * 1024
"""The most bytes one step of decoding gives, at every layer."""
MAX_LAYERS = 4
"""The most codings one body may stack (``gzip, gzip`` is two): each holds a window of its own."""

_GZIP = 16 + zlib.MAX_WBITS
_GZIP_MAGIC = b"\x1f\x8b"
_KNOWN = {"gzip": _GZIP, "x-gzip": _GZIP, "deflate": zlib.MAX_WBITS}


class BodyDecodeError(ValueError):
    """The body is not what its ``Content-Encoding`` says, or stacks too many codings."""


class _Layer:
    """One coding undone: gzip (members in a row) or deflate (zlib-wrapped, or raw as some
    servers send it, as httpx accepts)."""

    def __init__(self, wbits: int) -> None:
        self._wbits = wbits
        self._inflate = zlib.decompressobj(wbits)
        self._raw_tried = wbits != zlib.MAX_WBITS  # only deflate falls back to raw deflate
        # The bytes fed before zlib's 2-byte header was judged (it may come in two chunks):
        # fed again to raw deflate if the header is not zlib's.
        self._head = b""
        self._done = False

    def feed(self, data: bytes) -> Iterator[bytes]:
        pending = data
        while pending and not self._done:
            try:
                out = self._inflate.decompress(pending, PIECE)
            except zlib.error:
                if self._raw_tried:
                    raise
                self._raw_tried = True  # not zlib-wrapped: read it as raw deflate
                self._inflate = zlib.decompressobj(-zlib.MAX_WBITS)
                pending, self._head = self._head + pending, b""
                continue
            if not self._raw_tried:
                self._head += pending[: len(pending) - len(self._inflate.unconsumed_tail)]
                if len(self._head) >= 2:
                    self._raw_tried, self._head = True, b""
            if out:
                yield out
            if self._inflate.eof:  # a member ended: what follows is the next one (gzip)
                pending = self._inflate.unused_data
                if self._wbits != _GZIP or not _GZIP_MAGIC.startswith(pending[:2]):
                    # Deflate has one stream, and what follows a gzip member that is not
                    # another (zero padding, say) is ignored, as httpx and gzip readers do.
                    self._done = True
                elif pending:
                    self._inflate = zlib.decompressobj(_GZIP)
            else:
                pending = self._inflate.unconsumed_tail


class Decoder:
    """Decodes a body fed in raw chunks, undoing each of its codings in turn."""

    def __init__(self, codings: list[str]) -> None:
        if len(codings) > MAX_LAYERS:
            raise BodyDecodeError(
                f"the body stacks {len(codings)} content codings; at most {MAX_LAYERS} are read"
            )
        # The last coding applied is the first undone.
        self._layers = [_Layer(_KNOWN[name]) for name in reversed(codings)]
        self._label = ", ".join("gzip" if name == "x-gzip" else name for name in codings)

    @classmethod
    def for_encoding(cls, content_encoding: str) -> Decoder | None:
        """A decoder for a body with this ``Content-Encoding``, or ``None`` when there is
        nothing to undo or a coding is not gzip or deflate (httpx's own decoding then)."""
        names = [name.strip().lower() for name in content_encoding.split(",")]
        codings = [name for name in names if name and name != "identity"]
        if not codings or any(name not in _KNOWN for name in codings):
            return None
        return cls(codings)

    def feed(self, data: bytes) -> Iterator[bytes]:
        """The decoded bytes of ``data``, the body's next raw chunk, :data:`PIECE` at most at
        a time; raises :class:`BodyDecodeError` for a body that is not what it says."""
        try:
            yield from self._through(0, data)
        except zlib.error as exc:
            raise BodyDecodeError(f"the body is not valid {self._label} ({exc})") from None

    def _through(self, index: int, data: bytes) -> Iterator[bytes]:
        if index == len(self._layers):
            yield data
            return
        for piece in self._layers[index].feed(data):
            yield from self._through(index + 1, piece)
