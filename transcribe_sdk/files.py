"""Every file input a user has, turned into one :class:`AudioFile`.

Accepted inputs (:data:`FileInput`): a path (``str`` or ``os.PathLike``), ``bytes``/``bytearray``/
``memoryview``, a binary file object (seekable or not, named or not), and the tuples
``(filename, content)`` and ``(filename, content, content_type)``. The async client also takes
async byte iterators and objects with an ``async def read`` (aiofiles, anyio), see
:mod:`transcribe_sdk._inputs.async_files`.

Everything wrong with an input is found here, before a request exists: a missing path, a
directory, an empty file, a text-mode handle, a closed one, or data whose format cannot be told.

A path is streamed: each attempt opens it, reads it in chunks and closes it; except that a
client call reads a path of at most :data:`WHOLE_READ_LIMIT` whole while checking it
(:func:`prepare_to_send`), which costs less than opening it twice.
"""

from __future__ import annotations

import inspect
import io
import os
import re
import stat
import tempfile
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, Any, Protocol, TypeAlias, Union

from ._formats import CONTENT_TYPES, SNIFF_BYTES, content_type_for, sniff_extension
from ._readers import (
    _MemoryReader,
    _PrefixedReader,
    _seekable,
    _SizelessReader,
    checked_chunk,
    read_takes_size,
)
from .errors import InvalidFileError, SpoolLimitError
from .errors import type_name as _type_name

__all__ = ["AudioFile", "FileContent", "FileInput", "prepare_file"]


class Reader(Protocol):
    """Anything with ``read(size) -> bytes``: a binary file, a pipe, a socket file, ..."""

    def read(self, size: int = -1, /) -> bytes:
        """Up to ``size`` bytes (all that is left when ``size`` is -1); ``b""`` at the end."""
        ...


FileContent: TypeAlias = str | os.PathLike[str] | bytes | bytearray | memoryview | Reader
"""A path, raw bytes, or a binary file object (anything with ``read(size) -> bytes``)."""

# typing.Union, not "|": a forward reference ("AudioFile") needs it at run time.
FileInput: TypeAlias = Union[
    FileContent,
    tuple[str | None, FileContent],
    tuple[str | None, FileContent, str | None],
    "AudioFile",
]
"""What ``transcribe`` accepts as ``file``: content or ``(filename, content[, content_type])``."""

CHUNK_SIZE = 256 * 1024
ASYNC_CHUNK_SIZE = 4 * 1024 * 1024
"""A larger file is read this much per worker-thread hop: an upload holds one such chunk, and
asyncio's transport up to one more while the socket drains. Measured on a 256 MiB upload,
4 MiB cost a third less CPU per byte than 1 MiB (fewer hops, fewer send-and-wait rounds on
the loop) and sent faster; the sync client reads 256 KiB at a time."""
SPOOL_MEMORY_LIMIT = 4 * 1024 * 1024
"""A one-shot stream is copied to memory up to this size, then to an unlinked temporary file."""
_DEFAULT_STEM = "audio"


@dataclass
class AudioFile:
    """One upload: its filename, content type, size (``None`` when unknown) and a way to read it.

    ``replayable`` says whether :meth:`open` can be called again for a retry: paths, bytes and
    seekable file objects can; a pipe or a socket can be read once only.
    """

    filename: str
    content_type: str
    size: int | None
    replayable: bool
    _opener: Any = field(repr=False)
    _aopener: Any = field(default=None, repr=False)
    _opened: int = field(default=0, repr=False)
    in_memory: bool = field(default=False, repr=False)
    """Whether reading it touches no disk (bytes), so async code may read it on the loop."""

    def mark_opened(self) -> None:
        """Count an attempt; refuse a second one on a stream that cannot be rewound."""
        if self._opened and not self.replayable:
            raise InvalidFileError(
                "this stream was already sent once and cannot be rewound; pass a path, bytes or a "
                "seekable file to allow retries"
            )
        self._opened += 1

    @contextmanager
    def open(self) -> Iterator[Reader]:
        """Give a reader positioned at the first byte; close what was opened on exit."""
        if self._opener is None:
            raise InvalidFileError("an async source can only be sent with AsyncClient")
        self.mark_opened()
        with self._opener() as reader:
            yield reader


def _name_of(obj: object) -> str | None:
    name = getattr(obj, "name", None)
    if isinstance(name, bytes):
        name = os.fsdecode(name)
    if isinstance(name, str) and name and not (name.startswith("<") and name.endswith(">")):
        return os.path.basename(name)
    return None


_TOKEN = r"[A-Za-z0-9!#$%&'*+.^_`|~-]+"
_MEDIA_TYPE = re.compile(
    r"[A-Za-z0-9!#$&^_.+-]+/[A-Za-z0-9!#$&^_.+-]+"  # type/subtype, RFC 6838 names
    rf"(?:[ \t]*;[ \t]*{_TOKEN}=(?:{_TOKEN}|\"[^\"\\\x00-\x1f\x7f]*\"))*"  # ;name=value
)


def check_content_type(value: str) -> str:
    """``value`` if it is a media type fit for a header line (``audio/mpeg``, ``audio/ogg;
    codecs=opus``), else an :class:`InvalidFileError`: a line break or a control character in
    it would split the part's headers, and escaping would send a type no server knows."""
    if not _MEDIA_TYPE.fullmatch(value):
        raise InvalidFileError(
            f"the content type {value[:80]!r} is not a media type such as 'audio/mpeg' (one "
            "line of ASCII: type/subtype, then optional ;name=value parameters)"
        )
    return value


def finish_name(filename: str | None, content_type: str | None, head: bytes) -> tuple[str, str]:
    """Pick the filename and content type to send, from what was given and the first bytes."""
    given_type = check_content_type(content_type.strip()) if content_type else None
    if filename and content_type_for(filename):
        return filename, given_type or content_type_for(filename) or "application/octet-stream"
    sniffed = sniff_extension(head)
    if sniffed is None:
        if filename and given_type:
            return filename, given_type
        shown = f"{filename!r}" if filename else "the data"
        raise InvalidFileError(
            f"cannot tell the audio format of {shown}: it has no known extension and its first "
            "bytes are not WAV, MP3, FLAC, OGG, MP4/M4A or WebM. Pass a (filename, content, "
            "content_type) tuple such as ('talk.mp3', data, 'audio/mpeg')."
        )
    # An unknown extension is kept and the real one appended: "take.v2" becomes "take.v2.wav".
    return f"{filename or _DEFAULT_STEM}.{sniffed}", given_type or CONTENT_TYPES[sniffed]


def _path_file(
    path: str, filename: str | None, content_type: str | None, whole_up_to: int = 0
) -> AudioFile:
    if path.startswith(("http://", "https://")):
        raise InvalidFileError(
            f"{path!r} is a URL; pass transcribe_sdk.from_url(url) to stream it from there"
        )
    if "\0" in path:
        raise InvalidFileError(f"{path!r} is not a path: it contains a NUL character")
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise InvalidFileError(f"no such file: {path!r}") from None
    except OSError as exc:
        raise InvalidFileError(f"cannot read {path!r}: {exc.strerror or exc}") from None
    if stat.S_ISDIR(info.st_mode):
        raise InvalidFileError(f"{path!r} is a directory, not an audio file")
    if not stat.S_ISREG(info.st_mode):
        return _stream_path_file(path, filename, content_type)
    if info.st_size == 0:
        raise InvalidFileError(f"{path!r} is empty (0 bytes)")
    # A small file is read whole in the same open that identifies it (one open, one read, one
    # worker-thread hop for AsyncClient); one byte more than its size tells a file that grew.
    want = info.st_size + 1 if 0 < info.st_size <= whole_up_to else SNIFF_BYTES
    size = info.st_size
    try:
        with open(path, "rb") as handle:
            head = handle.read(want)
            if want > SNIFF_BYTES and len(head) == want:  # it grew: streamed, at today's size
                size = os.fstat(handle.fileno()).st_size
    except OSError as exc:
        raise InvalidFileError(f"cannot read {path!r}: {exc.strerror or exc}") from None
    if not head:
        raise InvalidFileError(f"{path!r} is empty (0 bytes)")
    if want > SNIFF_BYTES and len(head) < want:
        return _bytes_file(head, filename or os.path.basename(path), content_type)
    name, ctype = finish_name(filename or os.path.basename(path), content_type, head)

    @contextmanager
    def opener() -> Iterator[Reader]:
        try:
            handle = open(path, "rb")  # noqa: SIM115
        except OSError as exc:  # removed or locked since it was checked, e.g. between retries
            raise InvalidFileError(
                f"cannot open {path!r} to send it: {exc.strerror or exc}; was it moved or "
                "deleted during the upload?"
            ) from None
        with handle:
            yield handle

    # A regular file is reopened for each attempt.
    return AudioFile(name, ctype, size, True, opener)


def _stream_path_file(path: str, filename: str | None, content_type: str | None) -> AudioFile:
    # A FIFO or a device (/dev/stdin) reads once: the bytes read here to identify it are the
    # first bytes sent, so it is opened once and kept open until its one upload ends.
    try:
        handle = open(path, "rb")  # noqa: SIM115
    except OSError as exc:
        raise InvalidFileError(f"cannot read {path!r}: {exc.strerror or exc}") from None
    try:
        head = _read_head(handle)
        if not head:
            raise InvalidFileError(f"{path!r} is empty (0 bytes)")
        name, ctype = finish_name(filename or os.path.basename(path), content_type, head)
    except BaseException:
        handle.close()
        raise

    @contextmanager
    def one_shot() -> Iterator[Reader]:
        with handle:
            yield _PrefixedReader(head, handle)

    audio = AudioFile(name, ctype, None, False, one_shot)
    weakref.finalize(audio, handle.close)  # closed even if it is never sent
    return audio


def _bytes_file(
    data: bytes | bytearray | memoryview, filename: str | None, content_type: str | None
) -> AudioFile:
    view = memoryview(data)
    if not view.c_contiguous:  # a strided slice cannot be cast to bytes in place
        view = memoryview(view.tobytes())
    view = view.cast("B")
    if len(view) == 0:
        raise InvalidFileError("the audio bytes are empty")
    name, ctype = finish_name(filename, content_type, bytes(view[:SNIFF_BYTES]))

    @contextmanager
    def opener() -> Iterator[Reader]:
        yield _MemoryReader(view)

    return AudioFile(name, ctype, len(view), True, opener, in_memory=True)


def check_binary_handle(obj: Any) -> None:
    """Refuse closed and text-mode file objects with a message that says how to fix it."""
    if getattr(obj, "closed", False):
        raise InvalidFileError("the file object is closed")
    mode = getattr(obj, "mode", None)
    if isinstance(obj, io.TextIOBase) or (
        isinstance(mode, str)
        and "b" not in mode
        and not isinstance(obj, (io.RawIOBase, io.BufferedIOBase))
    ):
        raise InvalidFileError("the file is open in text mode; open it with open(path, 'rb')")


def _read_head(obj: IO[bytes]) -> bytes:
    head = b""
    for _ in range(SNIFF_BYTES):  # short reads happen on pipes; stop at EOF
        chunk = obj.read(SNIFF_BYTES - len(head))
        if isinstance(chunk, str):
            raise InvalidFileError("the file is open in text mode; open it with open(path, 'rb')")
        chunk = checked_chunk(chunk)
        if not chunk:
            break
        head += chunk
        if len(head) >= SNIFF_BYTES:
            break
    return head


def _fileobj_file(obj: IO[bytes], filename: str | None, content_type: str | None) -> AudioFile:
    check_binary_handle(obj)
    filename = filename or _name_of(obj)
    # io's own files take a size; asking inspect about a builtin costs ~150 µs.
    if not isinstance(obj, io.IOBase) and not read_takes_size(obj.read):
        obj = _SizelessReader(obj)  # type: ignore[assignment]
    if _seekable(obj):
        # tell(), not seek()'s answer: some files (paramiko's) return None from seek().
        start = obj.tell()
        obj.seek(0, os.SEEK_END)
        end = obj.tell()
        obj.seek(start)
        if end - start <= 0:
            raise InvalidFileError(
                "the file object has no bytes left to read (empty, or already read to its end; "
                "call .seek(0) first)"
            )
        head = _read_head(obj)
        obj.seek(start)
        name, ctype = finish_name(filename, content_type, head)

        @contextmanager
        def opener() -> Iterator[Reader]:
            obj.seek(start)
            yield obj  # the caller's handle: rewound, never closed by us

        return AudioFile(name, ctype, end - start, True, opener)

    head = _read_head(obj)
    if not head:
        raise InvalidFileError("the stream is empty")
    name, ctype = finish_name(filename, content_type, head)

    @contextmanager
    def one_shot() -> Iterator[Reader]:
        yield _PrefixedReader(head, obj)

    return AudioFile(name, ctype, None, False, one_shot)


_ACCEPTED = (
    "a path (str or os.PathLike), bytes, a binary file object, or a (filename, content"
    "[, content_type]) tuple"
)


def is_async_source(obj: object) -> bool:
    """True for async byte iterators and objects whose ``read`` is a coroutine function."""
    if hasattr(obj, "__aiter__"):
        return True
    read = getattr(obj, "read", None)
    return read is not None and inspect.iscoroutinefunction(read)


def split_tuple(file: tuple[Any, ...]) -> tuple[Any, str | None, str | None]:
    """Unpack ``(filename, content[, content_type])`` with checks on each part."""
    if len(file) not in (2, 3):
        raise InvalidFileError(
            f"a file tuple has 2 or 3 items (filename, content[, content_type]), not {len(file)}"
        )
    filename, content = file[0], file[1]
    content_type = file[2] if len(file) == 3 else None
    if filename is not None and not isinstance(filename, str):
        raise InvalidFileError(
            f"the filename in a file tuple must be a str, not {_type_name(filename)}"
        )
    if content_type is not None and not isinstance(content_type, str):
        raise InvalidFileError(
            f"the content type in a file tuple must be a str, not {_type_name(content_type)}"
        )
    if isinstance(content, tuple):
        raise InvalidFileError("a file tuple cannot contain another tuple")
    return content, filename or None, content_type or None


def prepare_file(file: FileInput) -> AudioFile:
    """Check a file input and describe it as an :class:`AudioFile`; nothing is sent yet.

    Raises :class:`~transcribe_sdk.InvalidFileError` for anything that cannot be uploaded.
    """
    return prepare(file)


WHOLE_READ_LIMIT = 1024 * 1024
"""A call reads a path of at most this many bytes whole while checking it, and sends it from
memory: one open and one read instead of two opens and a read per attempt (for AsyncClient,
one worker-thread hop instead of three). A call holds at most this much for its duration;
larger files are streamed."""


def prepare_to_send(file: FileInput) -> AudioFile:
    """:func:`prepare_file` as the clients call it: a path up to :data:`WHOLE_READ_LIMIT` is
    read whole."""
    return prepare(file, WHOLE_READ_LIMIT)


def prepare(file: FileInput, whole_up_to: int = 0) -> AudioFile:
    """:func:`prepare_file`; a regular file of at most ``whole_up_to`` bytes is read whole."""
    if isinstance(file, AudioFile):
        return file
    filename: str | None = None
    content_type: str | None = None
    content: Any = file
    if isinstance(file, tuple):
        content, filename, content_type = split_tuple(file)
    if isinstance(content, (bytes, bytearray, memoryview)):
        return _bytes_file(content, filename, content_type)
    if isinstance(content, (str, os.PathLike)):
        path = os.fspath(content)
        if not isinstance(path, str):
            path = os.fsdecode(path)
        return _path_file(path, filename, content_type, whole_up_to)
    if is_async_source(content):
        raise InvalidFileError(
            f"{_type_name(content)} is an async source; use AsyncClient, or pass a path or bytes"
        )
    if callable(getattr(content, "read", None)):
        try:
            return _fileobj_file(content, filename, content_type)
        except OSError as exc:
            raise InvalidFileError(f"reading the file object failed: {exc}") from exc
    raise InvalidFileError(f"expected {_ACCEPTED}; got {_type_name(content)}")


def spool_limit_error(limit: int) -> SpoolLimitError:
    """The error for a one-shot stream longer than ``limit`` (``max_spool_bytes``)."""
    return SpoolLimitError(
        f"the stream is longer than max_spool_bytes={limit:,} bytes ({limit / 2**20:.0f} MiB). "
        "A one-shot stream (a pipe, a socket, a generator) is copied as it is sent so that a "
        "retry can send it again; pass max_retries=0 to stream it with no copy, pass a path "
        "instead, or raise max_spool_bytes on the client. (transcribe_long always copies a "
        "stream, to find where to split it: give it a path.)",
        limit=limit,
    )


def spool(audio: AudioFile, limit: int | None = None) -> tuple[AudioFile, IO[bytes]]:
    """Copy a one-shot stream so every retry can send it again, byte for byte.

    Up to :data:`SPOOL_MEMORY_LIMIT` stays in memory; past that it moves to a temporary file
    that is already unlinked, so nothing is left on disk. More than ``limit`` bytes raise
    :class:`SpoolLimitError` (and nothing is kept). The caller closes the returned handle.
    """
    copy: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY_LIMIT)  # noqa: SIM115
    try:
        with audio.open() as reader:
            while chunk := reader.read(CHUNK_SIZE):
                copy.write(chunk)
                if limit is not None and copy.tell() > limit:
                    raise spool_limit_error(limit)
    except OSError as exc:
        copy.close()
        raise InvalidFileError(f"reading the stream failed: {exc}") from exc
    except BaseException:
        copy.close()
        raise
    return spooled_file(audio, copy), copy


def spooled_file(audio: AudioFile, copy: IO[bytes]) -> AudioFile:
    """An :class:`AudioFile` that replays ``copy`` (written to its end) from its first byte."""
    size = copy.tell()
    if size == 0:
        raise InvalidFileError("the stream is empty")

    @contextmanager
    def opener() -> Iterator[Reader]:
        copy.seek(0)
        yield copy

    return AudioFile(audio.filename, audio.content_type, size, True, opener)
