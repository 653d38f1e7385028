"""FakeServer's multipart/form-data decoder (``transcribe_sdk._inputs.form_decode.parse_form``).

What our client encodes (:class:`~transcribe_sdk._inputs.multipart.MultipartBody`) must come back
field for field and byte for byte; hand-written bodies cover what other clients send (unquoted
and escaped parameters, preambles, odd casing); and every malformed or cut-short body must be a
:class:`FormError`, which FakeServer records as a request without fields. (The server's
streaming reader is tested in test_local_forms.py.)
"""

from __future__ import annotations

import os

import pytest

from transcribe_sdk._client.params import build_params
from transcribe_sdk._inputs.form_decode import FormError, UploadedFile, header_params, parse_form
from transcribe_sdk._inputs.multipart import MultipartBody
from transcribe_sdk.files import prepare_file

B = "b0undary"
CONTENT_TYPE = f"multipart/form-data; boundary={B}"


def encode(
    fields: list[tuple[str, str]], filename: str, data: bytes, boundary: str | None = None
) -> tuple[str, bytes]:
    """The content type and body our client sends for these fields and file."""
    audio = prepare_file((filename, data))
    body = MultipartBody(fields, audio, boundary)
    with audio.open() as reader:
        return body.content_type, b"".join(body.iter_sync(reader))


def part(headers: str, data: bytes | str) -> bytes:
    raw = data.encode() if isinstance(data, str) else data
    return f"--{B}\r\n{headers}\r\n\r\n".encode() + raw + b"\r\n"


def body_of(*parts: bytes, close: bytes = f"--{B}--\r\n".encode()) -> bytes:
    return b"".join(parts) + close


# -- round trip with our encoder -----------------------------------------------------------------
def test_what_our_client_sends_comes_back_whole() -> None:
    params = build_params(
        model="whisper-large-v3",
        language="en",
        prompt="Names: Zoë, O'Brien, “quoted”.\r\nSecond line.",
        response_format="verbose_json",
        temperature=0.2,
        timestamp_granularities=["word", "segment"],
        allowed_providers=["groq", "openai"],
        extra_body={"diarize": True},
    )
    # The file holds everything but the boundary itself: a near miss, dashes, line breaks.
    data = os.urandom(5000) + f"\r\n--{B}"[:-1].encode() + b"\r\n--\r\n" + os.urandom(100)
    content_type, body = encode(params.fields, "take.wav", data, boundary=B)
    form = parse_form(content_type, body)
    assert form.fields == params.fields
    assert form.files == {"file": UploadedFile("take.wav", "audio/wav", data)}
    assert form.get("model") == "whisper-large-v3"
    assert form.get("prompt") == "Names: Zoë, O'Brien, “quoted”.\r\nSecond line."
    assert form.get_list("timestamp_granularities") == ["word", "segment"]
    assert form.get_list("allowed_providers") == ["groq", "openai"]
    assert form.get("missing") is None
    assert form.get_list("missing") == []


@pytest.mark.parametrize(
    "filename", ['my "best" take.wav', "café; name=evil.wav", "a\\b.wav", "line\nbreak.wav"]
)
def test_awkward_filenames_survive(filename: str) -> None:
    content_type, body = encode([("model", "m")], filename, b"RIFF" + bytes(100))
    upload = parse_form(content_type, body).files["file"]
    # A line break cannot go in a header: the encoder percent-encodes it, as browsers do.
    assert upload.filename == filename.replace("\n", "%0A")
    assert upload.data == b"RIFF" + bytes(100)
    assert parse_form(content_type, body).get("model") == "m"


def test_empty_fields_and_a_large_file() -> None:
    data = os.urandom(3 * 1024 * 1024)
    content_type, body = encode([("prompt", ""), ("language", "en")], "big.wav", data)
    form = parse_form(content_type, body)
    assert form.fields == [("prompt", ""), ("language", "en")]
    assert form.files["file"].data == data


# -- what other clients send ---------------------------------------------------------------------
def test_repeated_fields_keep_their_order() -> None:
    form = parse_form(
        CONTENT_TYPE,
        body_of(
            part('Content-Disposition: form-data; name="timestamp_granularities"', "segment"),
            part('Content-Disposition: form-data; name="timestamp_granularities[]"', "word"),
            part('Content-Disposition: form-data; name="model"', "first"),
            part('Content-Disposition: form-data; name="model"', "second"),
        ),
    )
    assert form.get_list("timestamp_granularities") == ["segment", "word"]
    assert form.get("model") == "second"  # the last one wins, as in most servers
    assert form.get_list("model") == ["first", "second"]


def test_quoted_unquoted_and_escaped_parameters() -> None:
    form = parse_form(
        'Multipart/Form-Data; charset=utf-8; Boundary="b0undary"',
        body_of(
            part("content-disposition: FORM-DATA; NAME=model", "tiny.en"),
            part('Content-Disposition: form-data; name="say \\"hi\\""', "x"),
            part('Content-Disposition: form-data; name="a;b"', "y"),
            part(
                'Content-Disposition: form-data; name="file"; filename="x; name=evil.wav"\r\n'
                "Content-Type: audio/wav",
                b"RIFF",
            ),
        ),
    )
    assert form.fields == [("model", "tiny.en"), ('say "hi"', "x"), ("a;b", "y")]
    assert form.files["file"] == UploadedFile("x; name=evil.wav", "audio/wav", b"RIFF")


def test_header_params() -> None:
    assert header_params('form-data; name="file"; filename="a.wav"') == (
        "form-data",
        {"name": "file", "filename": "a.wav"},
    )
    assert header_params("multipart/form-data;boundary=xyz") == (
        "multipart/form-data",
        {"boundary": "xyz"},
    )
    assert header_params("text/plain") == ("text/plain", {})


def test_preamble_and_epilogue_are_ignored() -> None:
    body = b"a preamble nobody reads\r\n" + body_of(
        part('Content-Disposition: form-data; name="model"', "m"),
        close=f"--{B}--\r\nan epilogue\r\n".encode(),
    )
    assert parse_form(CONTENT_TYPE, body).fields == [("model", "m")]


def test_file_parts_without_a_filename_or_type() -> None:
    form = parse_form(
        CONTENT_TYPE,
        body_of(part('Content-Disposition: form-data; name="file"; filename=""', b"\x00\x01")),
    )
    assert form.files["file"] == UploadedFile(None, None, b"\x00\x01")
    assert form.fields == []


def test_undecodable_text_is_replaced_not_fatal() -> None:
    form = parse_form(
        CONTENT_TYPE, body_of(part('Content-Disposition: form-data; name="prompt"', b"ab\xffc"))
    )
    assert form.get("prompt") == "ab\ufffdc"


# -- malformed bodies ----------------------------------------------------------------------------
def test_every_truncation_is_a_form_error() -> None:
    content_type, body = encode([("model", "m"), ("language", "en")], "t.wav", b"RIFF" + bytes(64))
    whole = parse_form(content_type, body)
    for cut in range(len(body) - 2):
        with pytest.raises(FormError):
            parse_form(content_type, body[:cut])
    # Only the final line break may be missing.
    assert parse_form(content_type, body[:-2]) == whole


@pytest.mark.parametrize(
    ("content_type", "body", "complaint"),
    [
        ("application/json", b"{}", "multipart/form-data"),
        ("multipart/form-data", body_of(), "boundary"),
        ('multipart/form-data; boundary=""', body_of(), "boundary"),
        (CONTENT_TYPE, b"", "cut short"),
        (CONTENT_TYPE, f"--{B}\r\nno end".encode(), "cut short"),
        (CONTENT_TYPE, body_of(f"--{B}XX\r\n".encode()), "line break"),
        (CONTENT_TYPE, body_of(f"--{B}\r\nContent-Disposition: form-data\r\n".encode()), "blank"),
        (CONTENT_TYPE, body_of(part("Content-Disposition: form-data", "x")), "no name"),
        (CONTENT_TYPE, body_of(part("Content-Type: text/plain", "x")), "no name"),
    ],
)
def test_malformed_bodies(content_type: str, body: bytes, complaint: str) -> None:
    with pytest.raises(FormError, match=complaint):
        parse_form(content_type, body)
