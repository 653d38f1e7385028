"""Audio from an http(s) URL, streamed from the download into the upload.

:func:`from_url` starts the download and returns an :class:`~transcribe_sdk.AudioFile` that
either client sends like any other file: bytes flow from the download into the upload as they
arrive, never the whole file in memory. A retry downloads the file again, so retries need no
copy either. ``max_bytes`` bounds each download; a server that sends more is cut off with
:class:`~transcribe_sdk.InvalidFileError`.
"""

from __future__ import annotations

import os
import posixpath
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import Message
from typing import Any

import httpx

from .._http.wire import apart, expired
from ..errors import InvalidFileError, InvalidInputError
from ..files import AudioFile, finish_name

__all__ = ["DEFAULT_URL_MAX_BYTES", "from_url"]

DEFAULT_URL_MAX_BYTES = 1024 * 1024 * 1024
"""The most one download may bring (1 GiB) unless ``max_bytes`` says otherwise."""
DOWNLOAD_TIMEOUT = httpx.Timeout(30.0, read=120.0)
MAX_REDIRECTS = 5
_SNIFF = 64


class _Download:
    """One GET: its response, kept open, read in chunks up to ``limit`` bytes."""

    def __init__(self, settings: dict[str, Any], url: str, limit: int, shown: str) -> None:
        self.shown = shown
        self.limit = limit
        # A client of its own, closed with the download: nothing stays open between retries.
        from .._http.transport import DEFAULT_LIMITS, client_settings

        self._client = httpx.Client(
            **settings, **client_settings(limits=DEFAULT_LIMITS, asynchronous=False)
        )
        try:
            with apart():  # the download's connection is not the upload's
                request = self._client.build_request("GET", url)
                self.response = self._client.send(request, stream=True)
        except httpx.HTTPError as exc:
            self._client.close()
            raise InvalidFileError(f"could not download {shown}: {exc}") from None
        if self.response.status_code >= 400:
            status = self.response.status_code
            self.close()
            raise InvalidFileError(f"could not download {shown}: the server answered {status}")
        self._chunks = self.response.iter_bytes()  # as they arrive: the cap is checked early
        self._buffer = b""
        self.read_so_far = 0

    @property
    def length(self) -> int | None:
        encoded = self.response.headers.get("content-encoding", "identity").lower()
        raw = self.response.headers.get("content-length", "")
        if encoded in ("", "identity") and raw.isdigit():
            return int(raw)
        return None  # compressed on the wire: the decoded length is not known in advance

    def peek(self, size: int) -> bytes:
        while len(self._buffer) < size:
            chunk = self._next()
            if not chunk:
                break
            self._buffer += chunk
        return self._buffer[:size]

    def read(self, size: int = -1, /) -> bytes:
        if not self._buffer:
            self._buffer = self._next()
        if size is None or size < 0:
            size = len(self._buffer)
        out, self._buffer = self._buffer[:size], self._buffer[size:]
        return out

    def _next(self) -> bytes:
        try:
            with apart():  # nor are its bytes the upload's answer
                chunk = next(self._chunks, b"")
        except httpx.HTTPError as exc:
            self.close()
            if isinstance(exc, httpx.TimeoutException) and expired():
                raise  # the call's deadline, not the download, is what ran out
            raise InvalidFileError(f"the download of {self.shown} failed: {exc}") from None
        self.read_so_far += len(chunk)
        if self.read_so_far > self.limit:
            self.close()
            raise InvalidFileError(
                f"the download of {self.shown} is larger than max_bytes={self.limit}; "
                "raise max_bytes to accept it"
            )
        return chunk

    def close(self) -> None:
        self.response.close()
        self._client.close()


def _shown(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", ""))


def _filename(response: httpx.Response) -> str | None:
    disposition = response.headers.get("content-disposition")
    if disposition:
        message = Message()
        message["content-disposition"] = disposition
        name = message.get_filename()
        if name:
            return os.path.basename(name.replace("\\", "/")) or None
    path = urllib.parse.unquote(response.url.path)
    return posixpath.basename(path) or None


def _media_type(response: httpx.Response) -> str | None:
    value = response.headers.get("content-type", "").split(";")[0].strip().lower()
    return value if value.startswith(("audio/", "video/")) else None


def from_url(
    url: str,
    *,
    max_bytes: int = DEFAULT_URL_MAX_BYTES,
    headers: dict[str, str] | None = None,
    timeout: float | httpx.Timeout = DOWNLOAD_TIMEOUT,
) -> AudioFile:
    """Start downloading ``url`` and return it as a file for ``transcribe``.

    Only ``http://`` and ``https://`` URLs are accepted. The filename comes from the answer's
    ``Content-Disposition`` or the URL's last path segment, the type from its ``Content-Type``
    or the file's first bytes; an answer that is not audio (an HTML error page, say) is refused
    here, before anything is uploaded. Redirects are followed (at most 5).

    Example::

        from transcribe_sdk import Client, from_url

        with Client() as client:
            audio = from_url("https://example.com/talk.mp3", max_bytes=200 * 1024 * 1024)
            print(client.transcribe(audio, model="whisper-large-v3").text)

    Raises :class:`~transcribe_sdk.InvalidInputError` for a URL of another scheme or a bad
    ``max_bytes``, and :class:`~transcribe_sdk.InvalidFileError` when the download fails, is
    not audio, or brings more than ``max_bytes``.
    """
    if not isinstance(url, str):
        raise InvalidInputError("url", f"must be a str, not {type(url).__name__}")
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme not in ("http", "https"):
        raise InvalidInputError(
            "url", f"only http:// and https:// URLs can be downloaded, not {scheme or 'no'}: URLs"
        )
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 1:
        raise InvalidInputError("max_bytes", f"must be an int of 1 or more, not {max_bytes!r}")
    shown = _shown(url)
    settings: dict[str, Any] = {
        "timeout": timeout,
        "headers": headers,
        "follow_redirects": True,
        "max_redirects": MAX_REDIRECTS,
    }
    first = _Download(settings, url, max_bytes, shown)
    try:
        length = first.length
        if length is not None and length > max_bytes:
            raise InvalidFileError(
                f"{shown} is {length} bytes, more than max_bytes={max_bytes}; raise max_bytes "
                "to accept it"
            )
        head = first.peek(_SNIFF)
        if not head:
            raise InvalidFileError(f"the download of {shown} is empty")
        name, content_type = finish_name(
            _filename(first.response), _media_type(first.response), head
        )
    except BaseException:
        first.close()
        raise
    pending: list[_Download] = [first]

    @contextmanager
    def opener() -> Iterator[Any]:
        # The first send reads the download already started; a retry starts a new one.
        download = pending.pop() if pending else _Download(settings, url, max_bytes, shown)
        try:
            yield download
        finally:
            download.close()

    return AudioFile(name, content_type, length, True, opener)
