"""What FakeServer decodes from a request (python-multipart, through the public surface).

What our client sends must come back field for field and byte for byte; a body another client
writes by hand (unquoted parameters, a preamble) is read too; a body that is not well-formed
multipart is recorded without fields and answered with a 400 that the client raises as a typed
error. (The reader itself, with its bounds, is tested in test_local_forms.py.)
"""

from __future__ import annotations

import json
import os

import httpx
import pytest
from internals import error_from_response

from transcribe_sdk import BadRequestError
from transcribe_sdk.testing import FakeServer

B = "b0undary"
URL = "http://fake-server.invalid/v1/audio/transcriptions"


def post(fake: FakeServer, body: bytes, content_type: str = "") -> httpx.Response:
    headers = {"content-type": content_type or f"multipart/form-data; boundary={B}"}
    return fake.handle_request(httpx.Request("POST", URL, headers=headers, content=body))


def part(headers: str, data: bytes | str) -> bytes:
    raw = data.encode() if isinstance(data, str) else data
    return f"--{B}\r\n{headers}\r\n\r\n".encode() + raw + b"\r\n"


def test_what_our_client_sends_comes_back_whole() -> None:
    fake = FakeServer()
    prompt = "Names: Zoë, O'Brien, “quoted”.\r\nSecond line."
    # The file holds everything but a boundary: dashes, line breaks, random bytes.
    data = os.urandom(5000) + b"\r\n--\r\n--b0undar" + os.urandom(100)
    with fake.client() as client:
        client.transcribe(
            ("take.wav", data),
            model="whisper-large-v3",
            language="en",
            prompt=prompt,
            response_format="verbose_json",
            temperature=0.2,
            timestamp_granularities=["word", "segment"],
            allowed_providers=["groq", "openai"],
            extra_body={"diarize": True},
        )
    (sent,) = fake.requests
    assert sent.file is not None
    assert (sent.file.filename, sent.file.content_type, sent.file.data) == (
        "take.wav",
        "audio/wav",
        data,
    )
    assert sent.field("model") == "whisper-large-v3"
    assert sent.field("prompt") == prompt
    assert sent.field("temperature") == "0.2"
    assert sent.field_list("timestamp_granularities") == ["word", "segment"]
    assert sent.field_list("allowed_providers") == ["groq", "openai"]
    assert sent.field("diarize") == "true"
    assert sent.field("missing") is None
    names = [name for name, _ in sent.fields]
    assert names.index("model") < names.index("language") < names.index("prompt")


@pytest.mark.parametrize(
    "filename",
    [
        'my "best" take.wav',
        "café; name=evil.wav",
        "a\\b.wav",
        "C:\\x\\y.wav",
        "line\nbreak.wav",
        "nul\x00and\x1b\x7f.wav",
    ],
)
def test_awkward_filenames_survive(filename: str) -> None:
    fake = FakeServer()
    with fake.client() as client:
        client.transcribe((filename, b"RIFF" + bytes(100), "audio/wav"), model="m")
    (sent,) = fake.requests
    assert sent.file is not None
    # A quote, a backslash or a control character cannot go in the header: the encoder
    # percent-encodes them, as browsers and httpx do, and a server (python-multipart, as here)
    # receives them so; nothing else changes.
    escaped = "".join(f"%{ord(c):02X}" if ord(c) < 0x20 or c in '\x7f"\\' else c for c in filename)
    assert sent.file.filename == escaped
    assert sent.file.data == b"RIFF" + bytes(100)
    assert sent.field("model") == "m"


def test_a_hand_written_body_with_several_fields() -> None:
    fake = FakeServer()
    body = (
        part("Content-Disposition: form-data; name=model", "m1")
        + part('content-disposition: form-data; name="tag[]"', "a")
        + part('Content-Disposition: form-data; name="tag[]"', "b")
        + part('Content-Disposition: form-data; name="empty"', "")
        + part('Content-Disposition: form-data; name="file"; filename="x.ogg"', b"OggS")
        + part('Content-Disposition: form-data; name="model"', "m2")
        + f"--{B}--\r\nan epilogue, ignored".encode()
    )
    assert post(fake, body).status_code == 200
    (sent,) = fake.requests
    assert sent.fields == [
        ("model", "m1"),
        ("tag[]", "a"),
        ("tag[]", "b"),
        ("empty", ""),
        ("model", "m2"),
    ]
    assert sent.field("model") == "m2"
    assert sent.field_list("tag") == ["a", "b"]
    assert sent.file is not None
    assert (sent.file.filename, sent.file.content_type, sent.file.data) == ("x.ogg", None, b"OggS")


@pytest.mark.parametrize(
    ("body", "complaint"),
    [
        (part('Content-Disposition: form-data; name="model"', "m"), "cut short"),
        (part('Content-Disposition: form-data; name="model"', "m")[:-20], "cut short"),
        (part("Content-Disposition: form-data", "m") + f"--{B}--\r\n".encode(), "no name"),
    ],
)
def test_a_malformed_body_is_answered_400(body: bytes, complaint: str) -> None:
    fake = FakeServer()
    fake.add_result("kept for the next request")
    answer = post(fake, body)
    assert answer.status_code == 400
    assert complaint in json.loads(answer.content)["error"]["message"]
    assert (fake.requests[0].fields, fake.requests[0].file) == ([], None)
    whole = part('Content-Disposition: form-data; name="model"', "m") + f"--{B}--\r\n".encode()
    assert json.loads(post(fake, whole).content)["text"] == "kept for the next request"


def test_the_400_reads_as_a_typed_error() -> None:
    fake = FakeServer()
    answer = post(fake, part('Content-Disposition: form-data; name="model"', "m"))
    error = error_from_response(
        status_code=answer.status_code,
        headers=answer.headers,
        content=answer.content,
        method="POST",
        url=URL,
    )
    assert isinstance(error, BadRequestError)
    assert error.request_id == "fake-req-400"
    assert "cut short" in str(error)


def test_a_body_of_another_type_is_recorded_without_fields() -> None:
    fake = FakeServer()
    answer = post(fake, b'{"model": "m"}', content_type="application/json")
    assert answer.status_code == 200
    assert (fake.requests[0].fields, fake.requests[0].file) == ([], None)


def test_a_field_longer_than_the_servers_bound_is_still_recorded() -> None:
    # A router takes data-URL speaker samples of hundreds of KB: the fake must record them
    # (the bound of `serve`, 64 KiB a field, is not the router's).
    fake = FakeServer()
    long_value = "data:audio/wav;base64," + "A" * 300_000
    body = (
        part('Content-Disposition: form-data; name="model"', "m")
        + part('Content-Disposition: form-data; name="known_speaker_references[]"', long_value)
        + part('Content-Disposition: form-data; name="file"; filename="a.wav"', b"RIFF")
        + f"--{B}--\r\n".encode()
    )
    assert post(fake, body).status_code == 200
    assert fake.requests[0].field_list("known_speaker_references[]") == [long_value]
