"""Decoding a recorded multipart/form-data body for :class:`~transcribe_sdk.testing.FakeServer`.

A small, strict parser with no dependency beyond the standard library, so the test helpers
work on a plain install: form fields in order (repeated names kept), and file parts with their
filename and content type, from a body already in memory (a test's own small request). The
local engine and its server read bodies with python-multipart instead
(:mod:`transcribe_sdk.local._forms`), streaming uploads to disk.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_PARAM = re.compile(r';\s*([A-Za-z0-9_*-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s]*))')


class FormError(ValueError):
    """The body is not a well-formed multipart/form-data body."""


@dataclass
class UploadedFile:
    filename: str | None
    content_type: str | None
    data: bytes


@dataclass
class Form:
    fields: list[tuple[str, str]] = field(default_factory=list)
    files: dict[str, UploadedFile] = field(default_factory=dict)

    def get(self, name: str) -> str | None:
        """The last value sent under ``name``, or ``None``."""
        found = [v for k, v in self.fields if k == name]
        return found[-1] if found else None

    def get_list(self, name: str) -> list[str]:
        """All values sent as ``name[]`` or ``name``, in order."""
        return [v for k, v in self.fields if k in (name, name + "[]")]


def header_params(value: str) -> tuple[str, dict[str, str]]:
    """Split ``form-data; name="x"; filename="y"`` into its main value and parameters."""
    main, _, rest = value.partition(";")
    params = {}
    for match in _PARAM.finditer(";" + rest):
        raw = match.group(2) if match.group(2) is not None else match.group(3)
        params[match.group(1).lower()] = raw.replace('\\"', '"').replace("%22", '"')
    return main.strip().lower(), params


def parse_form(content_type: str, body: bytes) -> Form:
    """Parse ``body`` sent with header ``Content-Type: content_type``."""
    kind, params = header_params(content_type)
    if kind != "multipart/form-data" or not params.get("boundary"):
        raise FormError("the body must be multipart/form-data with a boundary")
    delimiter = b"\r\n--" + params["boundary"].encode("latin-1")
    chunks = (b"\r\n" + body).split(delimiter)
    if len(chunks) < 2 or not chunks[-1].startswith(b"--"):
        raise FormError("the multipart body is cut short (no closing boundary)")
    form = Form()
    for chunk in chunks[1:-1]:
        if not chunk.startswith(b"\r\n"):
            raise FormError("a multipart boundary is not followed by a line break")
        head, sep, data = chunk[2:].partition(b"\r\n\r\n")
        if not sep:
            raise FormError("a multipart part has no blank line after its headers")
        headers = {}
        for line in head.decode("utf-8", errors="replace").split("\r\n"):
            key, colon, value = line.partition(":")
            if colon:
                headers[key.strip().lower()] = value.strip()
        _, disposition = header_params(headers.get("content-disposition", ""))
        name = disposition.get("name")
        if name is None:
            raise FormError("a multipart part has no name")
        if "filename" in disposition:
            form.files[name] = UploadedFile(
                disposition["filename"] or None, headers.get("content-type"), data
            )
        else:
            form.fields.append((name, data.decode("utf-8", errors="replace")))
    return form
