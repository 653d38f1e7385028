"""Reading a multipart/form-data request body, piece by piece, with python-multipart.

The HTTP server and the in-process transport both feed the body through :class:`FormReader`
as it arrives. Form fields are kept (each bounded); the one file part, ``file``, goes into a
:class:`~tempfile.SpooledTemporaryFile` that stays in memory up to
:data:`SPOOL_MEMORY_BYTES` and moves to disk beyond, so no upload is ever held whole in memory.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from typing import IO, Any

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

SPOOL_MEMORY_BYTES = 1024 * 1024
"""The part of an upload kept in memory; the rest goes to a temporary file on disk."""
MAX_FIELDS = 64
"""Form fields (not counting the file) one request may send."""
MAX_FIELD_BYTES = 64 * 1024
"""The longest value of one form field (``prompt`` is the long one)."""
MAX_PART_HEADER_BYTES = 16 * 1024
"""All header bytes of one part, together."""
FILE_FIELD = "file"


class FormError(ValueError):
    """The body is not a well-formed multipart/form-data body, or breaks one of its bounds."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


@dataclass
class Upload:
    """The uploaded file: its name and type as sent, and its bytes, spooled."""

    filename: str | None
    content_type: str | None
    file: IO[bytes]
    size: int = 0


@dataclass
class Form:
    """The fields in order (repeated names kept) and the uploaded file, if any."""

    fields: list[tuple[str, str]] = field(default_factory=list)
    upload: Upload | None = None

    def get(self, name: str) -> str | None:
        """The last value sent under ``name``, or ``None``."""
        found = [v for k, v in self.fields if k == name]
        return found[-1] if found else None

    def get_list(self, name: str) -> list[str]:
        """All values sent as ``name[]`` or ``name``, in order."""
        return [v for k, v in self.fields if k in (name, name + "[]")]

    def close(self) -> None:
        """Drop the spooled file (and its disk space)."""
        if self.upload is not None:
            self.upload.file.close()


def _disposition(value: bytes) -> dict[str, str]:
    _, params = parse_options_header(value)
    return {k.decode("latin-1").lower(): v.decode("utf-8", "replace") for k, v in params.items()}


class FormReader:
    """Feed the body with :meth:`feed` as it arrives, then take the form with :meth:`finish`.

    On any error (raised as :class:`FormError`), or when the caller gives up, call
    :meth:`close` (``finish`` hands the spooled file over to the :class:`Form`).
    """

    def __init__(self, content_type: str, *, max_field_bytes: int = MAX_FIELD_BYTES) -> None:
        self._max_field = max_field_bytes
        kind, params = parse_options_header(content_type)
        boundary = params.get(b"boundary")
        if kind != b"multipart/form-data" or not boundary:
            raise FormError("the body must be multipart/form-data with a boundary")
        callbacks: Any = {
            "on_part_begin": self._part_begin,
            "on_header_field": self._on_header_field,
            "on_header_value": self._on_header_value,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
            "on_end": self._end,
        }
        try:
            self._parser = MultipartParser(boundary, callbacks)
        except (FormParserError, ValueError) as exc:
            raise FormError(f"the multipart boundary is not usable ({exc})") from None
        self.form: Form = Form()
        """The fields and the upload read so far."""
        self._ended = False
        self._reset_part()

    def _reset_part(self) -> None:
        self._header_name = bytearray()
        self._header_value = bytearray()
        self._headers: dict[str, bytes] = {}
        self._header_bytes = 0
        self._name: str | None = None
        self._value = bytearray()
        self._target: Upload | None = None

    # -- python-multipart's callbacks ---------------------------------------------------------
    def _part_begin(self) -> None:
        self._reset_part()

    def _grow_header(self, buffer: bytearray, data: bytes, start: int, end: int) -> None:
        self._header_bytes += end - start
        if self._header_bytes > MAX_PART_HEADER_BYTES:
            raise FormError(f"a multipart part has more than {MAX_PART_HEADER_BYTES} header bytes")
        buffer += data[start:end]

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._grow_header(self._header_name, data, start, end)

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._grow_header(self._header_value, data, start, end)

    def _header_end(self) -> None:
        self._headers[self._header_name.decode("latin-1").strip().lower()] = bytes(
            self._header_value
        ).strip()
        self._header_name, self._header_value = bytearray(), bytearray()

    def _headers_finished(self) -> None:
        disposition = _disposition(self._headers.get("content-disposition", b""))
        name = disposition.get("name")
        if name is None:
            raise FormError("a multipart part has no name")
        self._name = name
        if "filename" not in disposition:
            if len(self.form.fields) >= MAX_FIELDS:
                raise FormError(f"the form has more than {MAX_FIELDS} fields")
            return
        if name != FILE_FIELD:
            raise FormError(f"only the {FILE_FIELD!r} field may hold a file, not {name!r}", name)
        if self.form.upload is not None:
            raise FormError("send one file per request", FILE_FIELD)
        content_type = self._headers.get("content-type")
        self._target = self.form.upload = Upload(
            disposition["filename"] or None,
            content_type.decode("latin-1") if content_type else None,
            tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY_BYTES),  # noqa: SIM115
        )

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._target is not None:
            self._target.file.write(data[start:end])
            self._target.size += end - start
            return
        if len(self._value) + end - start > self._max_field:
            raise FormError(f"the field {self._name!r} is longer than {self._max_field} bytes")
        self._value += data[start:end]

    def _part_end(self) -> None:
        if self._target is None and self._name is not None:
            self.form.fields.append((self._name, self._value.decode("utf-8", "replace")))
        self._reset_part()

    def _end(self) -> None:
        self._ended = True

    # -- the caller's side ----------------------------------------------------------------------
    def feed(self, chunk: bytes) -> None:
        """Parse the next piece of the body."""
        try:
            self._parser.write(chunk)
        except FormError:
            raise
        except (FormParserError, ValueError) as exc:
            raise FormError(f"the multipart body is malformed ({exc})") from None

    def finish(self) -> Form:
        """The whole form, once the body has ended; a cut-short body is a :class:`FormError`."""
        if not self._ended:
            raise FormError("the multipart body is cut short (no closing boundary)")
        if self.form.upload is not None:
            self.form.upload.file.seek(0)
        return self.form

    def close(self) -> None:
        """Drop whatever was spooled (after an error, or when the request is abandoned)."""
        self.form.close()


def read_form(content_type: str, body: bytes, *, max_field_bytes: int = MAX_FIELD_BYTES) -> Form:
    """A form from a body already in memory (the in-process transport's case, and
    :class:`~transcribe_sdk.testing.FakeServer`'s, which passes the body's length as
    ``max_field_bytes``: a field can grow no larger than the body it already holds)."""
    reader = FormReader(content_type, max_field_bytes=max_field_bytes)
    try:
        reader.feed(body)
        return reader.finish()
    except BaseException:
        reader.close()
        raise
