"""The readers an upload reads from, and the check on what a ``read()`` returns.

:mod:`transcribe_sdk.files` hands one of these (or the caller's own file object) to the
multipart encoder: slices of bytes in memory, a one-shot stream whose first bytes were read to
identify it, or a file object whose ``read()`` takes no size. :func:`checked_chunk` turns what
any ``read()`` returned into bytes, or into an :class:`InvalidFileError` that says what it was.
"""

from __future__ import annotations

import inspect
import os
from typing import IO, Any

from .errors import InvalidFileError
from .errors import type_name as _type_name

__all__ = ["checked_chunk", "read_takes_size"]


class _MemoryReader:
    """Reads a memoryview in slices without copying the whole buffer."""

    def __init__(self, data: memoryview) -> None:
        self._data = data
        self._pos = 0

    def read(self, size: int = -1, /) -> bytes:
        end = len(self._data) if size < 0 else min(len(self._data), self._pos + size)
        chunk = bytes(self._data[self._pos : end])
        self._pos = end
        return chunk

    # Seeking lets a decoder (the splitter's PyAV) read in-memory audio like a file.
    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = os.SEEK_SET, /) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._pos, os.SEEK_END: len(self._data)}[whence]
        self._pos = max(0, min(len(self._data), base + offset))
        return self._pos

    def tell(self) -> int:
        return self._pos


class _PrefixedReader:
    """A one-shot stream whose first bytes were already read to identify it."""

    def __init__(self, prefix: bytes, stream: IO[bytes]) -> None:
        self._prefix = prefix
        self._source = stream

    def read(self, size: int = -1, /) -> bytes:
        if self._prefix:
            if size < 0 or size >= len(self._prefix):
                chunk, self._prefix = self._prefix, b""
                return chunk
            chunk, self._prefix = self._prefix[:size], self._prefix[size:]
            return chunk
        return checked_chunk(self._source.read(size))


def _seekable(obj: Any) -> bool:
    try:
        return bool(obj.seekable())
    except (AttributeError, OSError, ValueError):
        return False


def read_takes_size(read: Any) -> bool:
    """Whether ``read`` can be called with a size; builtins whose signature is hidden can."""
    try:
        parameters = inspect.signature(read).parameters.values()
    except (TypeError, ValueError):
        return True
    positional = (
        inspect.Parameter.POSITIONAL_ONLY,
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
        inspect.Parameter.VAR_POSITIONAL,
    )
    return any(p.kind in positional for p in parameters)


class _SizelessReader:
    """A file object whose ``read()`` takes no size: each read from a position returns all of
    the rest, which is kept and handed out in slices (the object holds it all anyway)."""

    def __init__(self, obj: Any) -> None:
        self._obj = obj
        self._rest: memoryview | None = None
        self._pos = 0

    def read(self, size: int = -1, /) -> bytes:
        if self._rest is None:
            self._rest = memoryview(checked_chunk(self._obj.read()))
            self._pos = 0
        end = len(self._rest) if size < 0 else min(len(self._rest), self._pos + size)
        chunk = bytes(self._rest[self._pos : end])
        self._pos = end
        return chunk

    def seekable(self) -> bool:
        return _seekable(self._obj)

    def seek(self, offset: int, whence: int = os.SEEK_SET, /) -> int:
        self._rest = None
        self._obj.seek(offset, whence)
        return int(self._obj.tell())

    def tell(self) -> int:
        unread = 0 if self._rest is None else len(self._rest) - self._pos
        return int(self._obj.tell()) - unread


def checked_chunk(chunk: object) -> bytes:
    """What a file object's ``read`` returned, as bytes; anything else is an InvalidFileError."""
    if isinstance(chunk, bytes):
        return chunk
    if isinstance(chunk, (bytearray, memoryview)):
        return bytes(chunk)
    if chunk is None:  # a non-blocking stream with nothing ready; the size check catches it
        return b""
    if isinstance(chunk, str):
        raise InvalidFileError(
            "the file object's read() returned str, not bytes; open it with open(path, 'rb')"
        )
    raise InvalidFileError(f"the file object's read() returned {_type_name(chunk)}, not bytes")
