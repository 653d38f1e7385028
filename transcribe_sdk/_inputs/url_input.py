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
import re
import urllib.parse
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from email.message import Message
from typing import Any

import httpx

from .._http.decoded import iter_decoded
from .._http.wire import apart, expired
from ..errors import InvalidFileError, InvalidInputError
from ..files import AudioFile, check_content_type, finish_name

__all__ = ["DEFAULT_URL_MAX_BYTES", "from_url"]

DEFAULT_URL_MAX_BYTES = 1024 * 1024 * 1024
"""The most one download may bring (1 GiB) unless ``max_bytes`` says otherwise."""
DOWNLOAD_TIMEOUT = httpx.Timeout(30.0, read=120.0)
MAX_REDIRECTS = 5
"""The most redirects one download follows; one more is an :class:`InvalidFileError`."""
_SNIFF = 64
# Credentials never leave the origin they were given for, whatever the caller opts into.
_CREDENTIALS = frozenset({"authorization", "proxy-authorization", "cookie"})
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_HEADER_VALUE = re.compile(r"[\t\x20-\x7e\x80-\xff]*")


def _check_headers(headers: object) -> dict[str, str]:
    if headers is None:
        return {}
    if not isinstance(headers, Mapping):
        raise InvalidInputError(
            "headers", f"must be a mapping of str to str, not {type(headers).__name__}"
        )
    checked: dict[str, str] = {}
    for name, value in headers.items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise InvalidInputError("headers", f"must map str to str; got {name!r}: {value!r}")
        if not _HEADER_NAME.fullmatch(name):
            raise InvalidInputError("headers", f"{name!r} is not a valid header name")
        if not _HEADER_VALUE.fullmatch(value):
            raise InvalidInputError(
                "headers",
                f"the value of {name!r} must be one line without control characters",
            )
        checked[name] = value
    return checked


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    default = {"http": 80, "https": 443}.get(url.scheme)
    return url.scheme, url.host.lower(), url.port or default


def _headers_for(
    target: httpx.URL, first: httpx.URL, headers: dict[str, str], forward: bool
) -> dict[str, str]:
    """The caller's headers that may go to ``target``, a redirect from ``first``: all of them
    on the same origin (or the same host moved from http to https); elsewhere (another host or
    port, or https to http) none unless ``forward``, and never the credentials."""
    scheme, host, port = _origin(target)
    was_scheme, was_host, was_port = _origin(first)
    if host == was_host and (
        (scheme, port) == (was_scheme, was_port)
        or (was_scheme, was_port, scheme, port) == ("http", 80, "https", 443)
    ):
        return headers
    if not forward:
        return {}
    return {k: v for k, v in headers.items() if k.lower() not in _CREDENTIALS}


class _Download:
    """One GET: its response, kept open, read in chunks up to ``limit`` bytes."""

    def __init__(self, settings: dict[str, Any], url: str, limit: int, shown: str) -> None:
        self.shown = shown
        self.limit = limit
        # A client of its own, closed with the download: nothing stays open between retries.
        from .._http.transport import DEFAULT_LIMITS, client_settings

        self._client = httpx.Client(
            timeout=settings["timeout"],
            follow_redirects=False,  # followed here, so the caller's headers stay at home
            **client_settings(limits=DEFAULT_LIMITS, asynchronous=False),
        )
        try:
            with apart():  # the download's connection is not the upload's
                self.response = self._get(url, settings["headers"], settings["forward"])
        except httpx.HTTPError as exc:
            self._client.close()
            raise InvalidFileError(f"could not download {shown}: {exc}") from None
        except BaseException:
            self._client.close()
            raise
        if self.response.status_code >= 400:
            status = self.response.status_code
            self.close()
            raise InvalidFileError(f"could not download {shown}: the server answered {status}")
        # As they arrive, decoded a bounded piece at a time: the cap is checked early.
        self._chunks = iter_decoded(self.response)
        self._buffer = b""
        self.read_so_far = 0

    def _get(self, url: str, headers: dict[str, str], forward: bool) -> httpx.Response:
        """GET ``url``, following at most :data:`MAX_REDIRECTS` redirects."""
        first = target = httpx.URL(url)
        for _ in range(MAX_REDIRECTS + 1):
            request = self._client.build_request(
                "GET", target, headers=_headers_for(target, first, headers, forward)
            )
            response = self._client.send(request, stream=True)
            following = response.next_request  # set by httpx for a redirect it did not follow
            if following is None:
                return response
            response.close()
            target = following.url
            if target.scheme not in ("http", "https"):
                raise InvalidFileError(
                    f"could not download {self.shown}: it redirects to a {target.scheme}: URL; "
                    "only http:// and https:// are followed"
                )
        raise InvalidFileError(
            f"could not download {self.shown}: more than {MAX_REDIRECTS} redirects"
        )

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


MAX_DISPOSITION_CHARS = 2048
"""The longest ``Content-Disposition`` read for a filename; a longer one is ignored (the URL
names the file). The standard library's parameter parser is quadratic in some headers: 100 kB
of ``;`` in a quoted filename took 22 s."""


def _filename(response: httpx.Response) -> str | None:
    disposition = response.headers.get("content-disposition")
    if disposition and len(disposition) <= MAX_DISPOSITION_CHARS:
        message = Message()
        message["content-disposition"] = disposition
        name = message.get_filename()
        if name:
            return os.path.basename(name.replace("\\", "/")) or None
    path = urllib.parse.unquote(response.url.path)
    return posixpath.basename(path) or None


def _media_type(response: httpx.Response) -> str | None:
    value = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if not value.startswith(("audio/", "video/")):
        return None
    try:
        return check_content_type(value)
    except InvalidFileError:
        return None  # a type no header line could carry: the first bytes decide


def from_url(
    url: str,
    *,
    max_bytes: int = DEFAULT_URL_MAX_BYTES,
    headers: Mapping[str, str] | None = None,
    timeout: float | httpx.Timeout = DOWNLOAD_TIMEOUT,
    forward_headers_on_redirect: bool = False,
) -> AudioFile:
    """Start downloading ``url`` and return it as a file for ``transcribe``.

    Only ``http://`` and ``https://`` URLs are accepted. The filename comes from the answer's
    ``Content-Disposition`` or the URL's last path segment, the type from its ``Content-Type``
    or the file's first bytes; an answer that is not audio (an HTML error page, say) is refused
    here, before anything is uploaded. Redirects are followed (at most :data:`MAX_REDIRECTS`,
    5).

    ``headers`` (a private bucket's ``X-Api-Key``, say) are sent to ``url``'s origin only: a
    redirect to another host or port, or from https to http, gets none of them, unless
    ``forward_headers_on_redirect=True``; even then ``Authorization``, ``Proxy-Authorization``
    and ``Cookie`` never leave the origin. A header value with a line break or another control
    character is refused with :class:`~transcribe_sdk.InvalidInputError`.

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
    if not isinstance(forward_headers_on_redirect, bool):
        raise InvalidInputError(
            "forward_headers_on_redirect",
            f"must be True or False, not {forward_headers_on_redirect!r}",
        )
    settings: dict[str, Any] = {
        "timeout": timeout,
        "headers": _check_headers(headers),
        "forward": forward_headers_on_redirect,
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
