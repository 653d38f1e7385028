"""What the client put on the wire: a strict reader of the multipart body of a captured request.

Shared by ``test_client.py`` and ``test_async_client.py``. The reader is deliberately strict
(exact delimiters, exact part headers) so that a malformed body fails here rather than being
read leniently; ``test_client.py`` also checks one body with the standard library's MIME parser.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import httpx

from transcribe_sdk import __version__

_DISPOSITION = re.compile(r'form-data; name="([^"]*)"(?:; filename="([^"]*)")?')


@dataclass(frozen=True)
class Part:
    """One part of a multipart/form-data body."""

    name: str
    data: bytes
    filename: str | None
    content_type: str | None

    @property
    def text(self) -> str:
        return self.data.decode("utf-8")


def boundary_of(request: httpx.Request) -> str:
    """The boundary from ``Content-Type: multipart/form-data; boundary=...``."""
    kind, _, params = request.headers["content-type"].partition(";")
    assert kind == "multipart/form-data", request.headers["content-type"]
    key, _, value = params.strip().partition("=")
    assert key == "boundary", request.headers["content-type"]
    assert re.fullmatch(r"[0-9A-Za-z'()+_,\-./:=?]{1,70}", value), value
    return value


def parse_multipart(request: httpx.Request) -> list[Part]:
    """Every part of the request's body, in order."""
    delimiter = b"--" + boundary_of(request).encode("ascii")
    body = request.content
    opening = delimiter + b"\r\n"
    closing = b"\r\n" + delimiter + b"--\r\n"
    assert body.startswith(opening), body[:80]
    assert body.endswith(closing), body[-80:]
    inner = body[len(opening) : len(body) - len(closing)]
    parts = []
    for chunk in inner.split(b"\r\n" + delimiter + b"\r\n"):
        head, separator, data = chunk.partition(b"\r\n\r\n")
        assert separator, chunk[:200]
        headers: dict[str, str] = {}
        for line in head.decode("utf-8").split("\r\n"):
            name, colon, value = line.partition(": ")
            assert colon, line
            assert name.lower() not in headers, line
            headers[name.lower()] = value
        match = _DISPOSITION.fullmatch(headers.pop("content-disposition"))
        assert match, head
        content_type = headers.pop("content-type", None)
        assert not headers, headers
        parts.append(Part(match[1], data, match[2], content_type))
    return parts


def form_fields(request: httpx.Request) -> list[tuple[str, str]]:
    """The text fields, in order, and a check that exactly one file part comes last."""
    parts = parse_multipart(request)
    assert [p.name for p in parts].count("file") == 1
    assert parts[-1].name == "file"
    assert all(p.filename is None and p.content_type is None for p in parts[:-1])
    return [(p.name, p.text) for p in parts[:-1]]


def file_part(request: httpx.Request) -> Part:
    """The part named ``file`` (the last one)."""
    part = parse_multipart(request)[-1]
    assert part.name == "file"
    return part


def assert_transcription_request(
    request: httpx.Request,
    *,
    url: str,
    api_key: str,
    fields: list[tuple[str, str]],
    filename: str,
    content_type: str,
    data: bytes,
    chunked: bool = False,
) -> None:
    """Assert everything about one ``POST /audio/transcriptions``: the line, headers and body."""
    assert request.method == "POST"
    assert str(request.url) == url
    assert request.headers["authorization"] == f"Bearer {api_key}"
    assert request.headers["user-agent"].startswith(f"transcribe-sdk/{__version__} python/")
    assert f" httpx/{httpx.__version__}" in request.headers["user-agent"]
    boundary_of(request)
    if chunked:
        assert request.headers["transfer-encoding"] == "chunked"
        assert "content-length" not in request.headers
    else:
        assert "transfer-encoding" not in request.headers
        assert int(request.headers["content-length"]) == len(request.content)
    assert form_fields(request) == fields
    part = file_part(request)
    assert part.filename == filename
    assert part.content_type == content_type
    assert part.data == data
