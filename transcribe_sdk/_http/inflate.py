"""Gzip bodies inflated a bounded piece at a time (pure code: bytes in, bytes out).

httpx inflates each chunk read from the socket in one go, and deflate's ratio is about 1000 to
1: 64 KiB read can become 64 MiB in memory at once. A streamed answer is read through
:class:`Inflater` instead, which never gives more than :data:`PIECE` bytes at a time, so a small
body built to inflate to millions of lines costs a bounded amount of memory whatever its size.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator

PIECE = 64 * 1024
"""The most bytes one step of inflating gives."""

_GZIP = 16 + zlib.MAX_WBITS


def is_gzip(content_encoding: str) -> bool:
    """Whether a body with this ``Content-Encoding`` is one gzip layer (the common case)."""
    return content_encoding.strip().lower() in ("gzip", "x-gzip")


class Inflater:
    """Inflates a gzip body fed in chunks; several gzip members follow each other."""

    def __init__(self) -> None:
        self._inflate = zlib.decompressobj(_GZIP)

    def feed(self, data: bytes) -> Iterator[bytes]:
        """The inflated bytes of ``data``, the body's next chunk, :data:`PIECE` at most at a
        time; raises ``zlib.error`` for a body that is not gzip."""
        pending = data
        while pending:
            out = self._inflate.decompress(pending, PIECE)
            if out:
                yield out
            if self._inflate.eof:  # a member ended: what follows is the next one
                pending = self._inflate.unused_data
                if pending:
                    self._inflate = zlib.decompressobj(_GZIP)
            else:
                pending = self._inflate.unconsumed_tail
