"""The local engine's form reader (python-multipart, spooled) and the 400s the app makes of it.

The server and the in-process transport feed bodies through
:class:`transcribe_sdk.local._forms.FormReader` piece by piece: what our client encodes must come
back whole however the body is cut into pieces, a large upload must leave memory, every bound
must hold, and a bad form must be a 400 naming the field.
"""

from __future__ import annotations

import json
import os

import pytest

pytest.importorskip("python_multipart")

from internals import (
    MAX_FIELD_BYTES,
    MAX_FIELDS,
    SPOOL_MEMORY_BYTES,
    Form,
    FormError,
    FormReader,
    MultipartBody,
    build_params,
    read_form,
)

from transcribe_sdk.files import prepare_file

B = "b0undary"
CONTENT_TYPE = f"multipart/form-data; boundary={B}"
PATH = "/v1/audio/transcriptions"


def encode(
    fields: list[tuple[str, str]], filename: str, data: bytes, boundary: str | None = None
) -> tuple[str, bytes]:
    audio = prepare_file((filename, data))
    body = MultipartBody(fields, audio, boundary)
    with audio.open() as reader:
        return body.content_type, b"".join(body.iter_sync(reader))


def part(headers: str, data: bytes | str) -> bytes:
    raw = data.encode() if isinstance(data, str) else data
    return f"--{B}\r\n{headers}\r\n\r\n".encode() + raw + b"\r\n"


def body_of(*parts: bytes) -> bytes:
    return b"".join(parts) + f"--{B}--\r\n".encode()


def fed(content_type: str, body: bytes, piece: int) -> Form:
    reader = FormReader(content_type)
    for start in range(0, len(body), piece):
        reader.feed(body[start : start + piece])
    return reader.finish()


@pytest.mark.parametrize("piece", [1, 7, 4096, 10**9])
def test_what_our_client_sends_comes_back_whole_in_any_pieces(piece: int) -> None:
    params = build_params(
        model="whisper-large-v3",
        language="en",
        prompt="Names: Zoë, O'Brien.\r\nSecond line.",
        response_format="verbose_json",
        timestamp_granularities=["word", "segment"],
        extra_body={"vad_parameters": {"threshold": 0.4}},
    )
    data = os.urandom(3000) + f"\r\n--{B}"[:-1].encode() + b"\r\n--\r\n" + os.urandom(100)
    content_type, body = encode(params.fields, "take.wav", data, boundary=B)
    form = fed(content_type, body, piece)
    assert form.fields == params.fields
    assert form.upload is not None
    assert (form.upload.filename, form.upload.content_type) == ("take.wav", "audio/wav")
    assert form.upload.size == len(data)
    assert form.upload.file.read() == data
    assert form.get_list("timestamp_granularities") == ["word", "segment"]
    form.close()


def test_a_large_upload_is_spooled_to_disk() -> None:
    data = os.urandom(SPOOL_MEMORY_BYTES + 4096)
    content_type, body = encode([("model", "m")], "big.wav", data)
    form = read_form(content_type, body)
    assert form.upload is not None
    assert form.upload.file._rolled  # type: ignore[attr-defined]
    assert form.upload.file.read() == data
    form.close()


def test_a_cut_short_body_is_a_form_error() -> None:
    content_type, body = encode([("model", "m")], "t.wav", b"RIFF" + bytes(64))
    for cut in (0, 10, len(body) // 2, len(body) - 10):
        with pytest.raises(FormError, match="cut short"):
            read_form(content_type, body[:cut])


@pytest.mark.parametrize(
    ("content_type", "body", "complaint"),
    [
        ("application/json", b"{}", "multipart/form-data"),
        ("multipart/form-data", body_of(), "boundary"),
        (
            CONTENT_TYPE,
            body_of(
                *[part(f'Content-Disposition: form-data; name="f{i}"', "x") for i in range(99)]
            ),
            f"more than {MAX_FIELDS} fields",
        ),
        (
            CONTENT_TYPE,
            body_of(part('Content-Disposition: form-data; name="prompt"', "x" * 70_000)),
            f"longer than {MAX_FIELD_BYTES}",
        ),
        (
            CONTENT_TYPE,
            body_of(
                part('Content-Disposition: form-data; name="x"\r\nX-Pad: ' + "p" * 20_000, "x")
            ),
            "[Hh]eader",  # python-multipart's own bound on one header line may come first
        ),
        (
            CONTENT_TYPE,
            body_of(part('Content-Disposition: form-data; name="other"; filename="a"', "x")),
            "only the 'file' field",
        ),
        (
            CONTENT_TYPE,
            body_of(
                part('Content-Disposition: form-data; name="file"; filename="a"', "x"),
                part('Content-Disposition: form-data; name="file"; filename="b"', "y"),
            ),
            "one file",
        ),
        (CONTENT_TYPE, body_of(part("Content-Type: text/plain", "x")), "no name"),
    ],
)
def test_malformed_and_oversized_forms(content_type: str, body: bytes, complaint: str) -> None:
    with pytest.raises(FormError, match=complaint):
        read_form(content_type, body)


# -- what the local app answers ------------------------------------------------------------------
@pytest.fixture(scope="module")
def app() -> object:
    pytest.importorskip("faster_whisper")
    from transcribe_sdk.local import LocalApp

    return LocalApp()  # nothing below reaches the model, so nothing is loaded


def answer(app: object, content_type: str, body: bytes) -> tuple[int, dict[str, str]]:
    reply = app.handle("POST", PATH, {"Content-Type": content_type}, body)  # type: ignore[attr-defined]
    assert reply.content_type == "application/json"
    error: dict[str, str] = json.loads(reply.body)["error"]
    return reply.status, error


def test_a_cut_body_is_a_400(app: object) -> None:
    content_type, body = encode([("model", "m")], "t.wav", b"RIFF" + bytes(64))
    status, error = answer(app, content_type, body[: len(body) // 2])
    assert status == 400
    assert error["type"] == "invalid_request_error"
    assert error["code"] != "400"
    assert "cut short" in error["message"]


@pytest.mark.parametrize(
    ("fields", "data", "param"),
    [
        ([("model", "tiny.en")], None, "file"),
        ([("model", "tiny.en")], b"", "file"),
        ([], b"RIFF", "model"),
        ([("model", "tiny.en"), ("response_format", "xml")], b"RIFF", "response_format"),
        ([("model", "tiny.en"), ("language", "english")], b"RIFF", "language"),
        ([("model", "tiny.en"), ("temperature", "hot")], b"RIFF", "temperature"),
        ([("model", "tiny.en"), ("temperature", "1.5")], b"RIFF", "temperature"),
        ([("model", "tiny.en"), ("temperature", "nan")], b"RIFF", "temperature"),
        ([("model", "tiny.en"), ("stream", "maybe")], b"RIFF", "stream"),
        ([("model", "tiny.en"), ("vad_filter", "maybe")], b"RIFF", "vad_filter"),
        ([("model", "tiny.en"), ("vad_parameters[bogus]", "1")], b"RIFF", "vad_parameters"),
        (
            [("model", "tiny.en"), ("timestamp_granularities[]", "char")],
            b"RIFF",
            "timestamp_granularities",
        ),
        (
            [("model", "tiny.en"), ("timestamp_granularities[]", "word")],
            b"RIFF",
            "timestamp_granularities",
        ),
    ],
)
def test_bad_forms_are_400s_naming_the_field(
    app: object, fields: list[tuple[str, str]], data: bytes | None, param: str
) -> None:
    parts = [part(f'Content-Disposition: form-data; name="{k}"', v) for k, v in fields]
    if data is not None:
        parts.append(part('Content-Disposition: form-data; name="file"; filename="a.wav"', data))
    status, error = answer(app, CONTENT_TYPE, body_of(*parts))
    assert status == 400
    assert error["param"] == param


def test_unknown_routes_name_the_path(app: object) -> None:
    reply = app.handle("GET", "/", {}, b"")  # type: ignore[attr-defined]
    assert reply.status == 404
    error = json.loads(reply.body)["error"]
    assert error["message"] == "no route for GET /"
    assert error["code"] == "not_found"
