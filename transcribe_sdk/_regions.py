"""Large files on disk sent by the kernel (``sendfile``), not read into Python and written back.

A large upload otherwise costs two copies per byte in this process (the file into a ``bytes``,
that ``bytes`` into the socket) plus the Python work per chunk; ``os.sendfile`` moves the bytes
from the page cache to the socket without either.

httpx, httpcore and h11 move the body as opaque ``bytes``. So for each :data:`REGION_SIZE`
stretch of the file the body yields :func:`placeholder`, one shared ``bytes`` of zeros that is
never touched (its pages are never even mapped), and records what it stands for, a
:class:`Region`, in a context variable of the thread or task sending it. h11 counts its length
against ``Content-Length`` and hands the same object down to the connection's network stream,
which :mod:`transcribe_sdk._net` wraps: there :func:`claim` recognises it by identity and the
region's bytes go out through ``sendfile`` (or, on TLS, read with ``os.pread`` and written).

Used only where all of that is known to hold: an httpx client we created whose connections we
wrap, sending a regular file we opened, of at least one region. Each region is confirmed taken
by a wrapped stream before the body goes on; if one ever were not, the request is abandoned
before its body is complete (a server never sees a whole request with zeros in it) and later
requests read their files as before.
"""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

__all__ = ["REGION_SIZE", "Region", "RegionNotTaken", "claim", "regions_of", "sendable"]

REGION_SIZE = 8 * 1024 * 1024
"""The stretch of a file one placeholder stands for. Files of at least this size are sent by
the kernel, in whole regions; the rest of the file (less than a region) is read as usual."""

AVAILABLE = hasattr(os, "sendfile")
"""Whether this platform has ``os.sendfile`` (Linux, macOS, the BSDs; not Windows)."""


class _Switch:
    on = AVAILABLE
    """Cleared if a placeholder ever reached the socket some other way: later files are read."""


_switch = _Switch()

_current: ContextVar[Region | None] = ContextVar("transcribe_sdk_region", default=None)


class RegionNotTaken(Exception):
    """A placeholder reached the connection other than through a wrapped stream. Raised from
    the body before it is complete, so the server never has a whole request; the shells send
    the attempt again, reading the file."""


_made: dict[int, bytes] = {}
"""The placeholder of each region size (one in use; tests change the size)."""


def placeholder() -> bytes:
    """The one stand-in for every region: :data:`REGION_SIZE` zero bytes, made once.

    ``setdefault`` keeps the first one made when threads make it at once: with a cache that
    lets the last one win, a thread could yield a stand-in no stream would recognise."""
    made = _made.get(REGION_SIZE)
    if made is None:
        # calloc'd: the pages are never touched, so never resident
        made = _made.setdefault(REGION_SIZE, bytes(REGION_SIZE))
    return made


@dataclass(eq=False)
class Region:
    """``count`` bytes of the open file ``file`` from ``offset``, to be sent as they are."""

    file: io.BufferedReader
    offset: int
    count: int
    sent: int = 0
    """How many went out (fewer than ``count`` if the file ended early)."""
    taken: bool = False
    """Whether a wrapped network stream sent it."""


def claim(buffer: Any) -> Region | None:
    """The region ``buffer`` stands for, if it is the placeholder of one now being sent."""
    region = _current.get()
    if region is None or region.taken or buffer is not placeholder():
        return None
    region.taken = True
    return region


def sendable(reader: object, size: int | None) -> io.BufferedReader | None:
    """``reader`` if its bytes can go by ``sendfile``: a regular file opened by us in binary
    mode (an ``io.BufferedReader`` over an ``io.FileIO``, not a wrapper that decodes or
    decompresses), with at least one whole region left from where it stands."""
    if not _switch.on or size is None or size < REGION_SIZE:
        return None
    if type(reader) is not io.BufferedReader or type(reader.raw) is not io.FileIO:
        return None
    try:
        return reader if stat.S_ISREG(os.fstat(reader.fileno()).st_mode) else None
    except (OSError, ValueError):
        return None


def regions_of(file: io.BufferedReader, size: int) -> Iterator[tuple[Region, bytes]]:
    """Each whole region of the ``size`` bytes from ``file``'s position, with its placeholder
    (to yield as the body's next piece); the file is left after the last region's bytes.

    Between one region and the next, it checks the one before went out whole.
    """
    start = file.tell()
    done = 0
    while size - done >= REGION_SIZE:
        region = Region(file, start + done, REGION_SIZE)
        _current.set(region)
        try:
            yield region, placeholder()
        finally:
            # A body abandoned mid-upload may be closed by the garbage collector in any thread
            # or task: clear only our own region, never the one another upload is sending.
            if _current.get() is region:
                _current.set(None)
        if not region.taken:
            _switch.on = False
            raise RegionNotTaken
        done += region.sent
        if region.sent < region.count:
            break  # the file ended early: the body's own check reports it
    file.seek(start + done)
