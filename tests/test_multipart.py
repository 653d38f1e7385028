"""transcribe_sdk._inputs.multipart: the body parses back to the fields and file, byte for byte."""

from __future__ import annotations

import email
import email.policy
import io
import os
import re
import tracemalloc
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from internals import GLUE_MAX, MultipartBody, aopen, aprepare_file
from internals import multipart_module as _multipart

from transcribe_sdk.errors import InvalidFileError
from transcribe_sdk.files import CHUNK_SIZE, AudioFile, prepare_file, spool

FIXTURES = Path(__file__).parent / "fixtures"
WAV = (FIXTURES / "hello.wav").read_bytes()
LONG = (FIXTURES / "long_speech.wav").read_bytes()
FIELDS = [
    ("model", "whisper-large-v3"),
    ("language", "en"),
    ("prompt", 'Zürich, "quoted"\r\nand a new line'),
    ("allowed_providers[]", "ovh"),
    ("allowed_providers[]", "scaleway"),
    ("temperature", "0.2"),
]


@dataclass
class Part:
    headers: dict[str, str]
    params: dict[str, str]
    content: bytes


def parse_body(body: bytes, content_type: str) -> list[Part]:
    """A strict multipart/form-data reader: exact delimiters, CRLF everywhere, nothing extra."""
    prefix = "multipart/form-data; boundary="
    assert content_type.startswith(prefix)
    delimiter = b"--" + content_type[len(prefix) :].encode("ascii")
    opening, closing = delimiter + b"\r\n", b"\r\n" + delimiter + b"--\r\n"
    assert body.startswith(opening)
    assert body.endswith(closing)
    parts = []
    for raw in body[len(opening) : -len(closing)].split(b"\r\n" + delimiter + b"\r\n"):
        head, blank, content = raw.partition(b"\r\n\r\n")
        assert blank, raw[:200]
        headers = {}
        for line in head.decode("utf-8").split("\r\n"):
            key, colon, value = line.partition(": ")
            assert colon, line
            headers[key.lower()] = value
        disposition = headers["content-disposition"]
        assert disposition.startswith("form-data; ")
        parts.append(Part(headers, dict(re.findall(r'(\w+)="([^"]*)"', disposition)), content))
    return parts


def browser_escape(value: str) -> str:
    # Every control character, '"' and '\\' percent-encoded; the rest as it is.
    return "".join(f"%{ord(c):02X}" if ord(c) < 0x20 or c in '\x7f"\\' else c for c in value)


def encode(
    fields: list[tuple[str, str]], audio: AudioFile, **kwargs: Any
) -> tuple[MultipartBody, bytes]:
    body = MultipartBody(fields, audio, **kwargs)
    with audio.open() as reader:
        return body, b"".join(body.iter_sync(reader))


class OnlyRead:
    """A one-way stream with nothing but ``read``, giving short reads."""

    def __init__(self, data: bytes, chunk: int = 1000) -> None:
        self._data, self._chunk, self._pos = data, chunk, 0

    def read(self, size: int = -1, /) -> bytes:
        n = self._chunk if size < 0 else min(size, self._chunk)
        out = self._data[self._pos : self._pos + n]
        self._pos += len(out)
        return out


class ShortReads(io.RawIOBase):
    """A seekable file whose reads return at most ``chunk`` bytes, as a raw socket or FUSE may."""

    def __init__(self, data: bytes, chunk: int) -> None:
        self._buffer = io.BytesIO(data)
        self._chunk = chunk

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._buffer.seek(offset, whence)

    def tell(self) -> int:
        return self._buffer.tell()

    def readinto(self, target: Any) -> int:
        data = self._buffer.read(min(len(target), self._chunk))
        target[: len(data)] = data
        return len(data)


# --- structure ----------------------------------------------------------------------------------


def test_body_reads_back_with_the_email_parser() -> None:
    audio = prepare_file(FIXTURES / "hello.wav")
    body, data = encode(FIELDS, audio)
    message = email.message_from_bytes(
        f"Content-Type: {body.content_type}\r\n\r\n".encode() + data, policy=email.policy.HTTP
    )
    assert message.is_multipart()
    parts = list(message.iter_parts())  # type: ignore[attr-defined]
    names = [part.get_param("name", header="content-disposition") for part in parts]
    assert names == [name for name, _ in FIELDS] + ["file"]
    for part, (_, value) in zip(parts[:-1], FIELDS, strict=True):
        assert part.get_payload(decode=True) == value.encode("utf-8")
        assert part.get_filename() is None
    file_part = parts[-1]
    assert file_part.get_filename() == "hello.wav"
    assert file_part.get_content_type() == "audio/wav"
    assert file_part.get_payload(decode=True) == WAV
    assert body.content_length == len(data)


def test_exact_layout() -> None:
    audio = prepare_file(("a.wav", b"RIFF\x00\x00\x00\x00WAVEdata"))
    body, data = encode([("model", "m")], audio, boundary="XyZ")
    assert data == (
        b"--XyZ\r\n"
        b'Content-Disposition: form-data; name="model"\r\n\r\n'
        b"m\r\n"
        b"--XyZ\r\n"
        b'Content-Disposition: form-data; name="file"; filename="a.wav"\r\n'
        b"Content-Type: audio/wav\r\n\r\n"
        b"RIFF\x00\x00\x00\x00WAVEdata"
        b"\r\n--XyZ--\r\n"
    )
    assert body.headers() == {
        "Content-Type": "multipart/form-data; boundary=XyZ",
        "Content-Length": str(len(data)),
    }


def test_default_boundary_is_random_hex() -> None:
    audio = prepare_file(WAV)
    first, second = MultipartBody([], audio), MultipartBody([], audio)
    assert re.fullmatch(r"[0-9a-f]{32}", first.boundary)
    assert first.boundary != second.boundary
    assert first.content_type == f"multipart/form-data; boundary={first.boundary}"


def test_no_fields_and_empty_values() -> None:
    audio = prepare_file(WAV)
    for fields in ([], [("prompt", "")]):
        body, data = encode(fields, audio)
        parts = parse_body(data, body.content_type)
        assert [(p.params["name"], p.content) for p in parts[:-1]] == [
            (n, v.encode()) for n, v in fields
        ]
        assert parts[-1].content == WAV


# --- length: known, or chunked ------------------------------------------------------------------


def _mid_way_file() -> Any:
    buffer = io.BytesIO(b"\x00" * 500 + WAV)
    buffer.name = "late.wav"
    buffer.seek(500)
    return buffer


SIZED_INPUTS: dict[str, Callable[[], Any]] = {
    "path": lambda: FIXTURES / "hello.wav",
    "bytes": lambda: WAV,
    "bytearray": lambda: bytearray(WAV),
    "memoryview": lambda: memoryview(WAV),
    "bytesio": lambda: io.BytesIO(WAV),
    "mid-way": _mid_way_file,
    "short-reads": lambda: ShortReads(WAV, 777),
}


@pytest.mark.parametrize("kind", sorted(SIZED_INPUTS))
def test_content_length_is_the_real_length(kind: str) -> None:
    audio = prepare_file(SIZED_INPUTS[kind]())
    body, data = encode(FIELDS, audio)
    assert audio.size == len(WAV)
    assert body.content_length == len(data)
    assert body.headers()["Content-Length"] == str(len(data))
    assert parse_body(data, body.content_type)[-1].content == WAV


def test_unknown_size_is_sent_chunked() -> None:
    audio = prepare_file(OnlyRead(WAV))
    body, data = encode(FIELDS, audio)
    assert body.content_length is None
    assert body.headers() == {"Content-Type": body.content_type}
    parts = parse_body(data, body.content_type)
    assert parts[-1].params == {"name": "file", "filename": "audio.wav"}
    assert parts[-1].content == WAV


def test_spooled_stream_gets_a_length() -> None:
    copied, handle = spool(prepare_file(OnlyRead(WAV)))
    with handle:
        body, data = encode(FIELDS, copied)
        assert body.content_length == len(data)
        assert parse_body(data, body.content_type)[-1].content == WAV


def test_file_is_read_in_bounded_chunks() -> None:
    audio = prepare_file(FIXTURES / "long_speech.wav")
    body = MultipartBody(FIELDS, audio)
    with audio.open() as reader:
        pieces = list(body.iter_sync(reader))
    # Chunks up to GLUE_MAX carry the form's head (the first) and tail (the last) with them.
    assert CHUNK_SIZE <= GLUE_MAX
    assert pieces[0].startswith(body.head)
    assert pieces[-1].endswith(body.tail)
    assert b"".join(pieces) == body.head + LONG + body.tail
    assert len(pieces) == -(-len(LONG) // CHUNK_SIZE)
    assert all(0 < len(p) <= CHUNK_SIZE + len(body.head) + len(body.tail) for p in pieces)


def test_a_small_file_is_one_piece_with_the_form_around_it() -> None:
    audio = prepare_file(("tiny.wav", WAV))
    body = MultipartBody(FIELDS, audio)
    with audio.open() as reader:
        pieces = list(body.iter_sync(reader))
    assert pieces == [body.head + WAV + body.tail]


def test_a_stream_of_unknown_size_gets_its_tail_at_the_end() -> None:
    audio = prepare_file(OnlyRead(WAV))
    assert audio.size is None
    body = MultipartBody(FIELDS, audio)
    with audio.open() as reader:
        pieces = list(body.iter_sync(reader))
    assert pieces[0].startswith(body.head)
    assert pieces[-1] == body.tail  # its end is known only when a read comes back empty
    assert b"".join(pieces) == body.head + WAV + body.tail


@pytest.mark.anyio
async def test_async_large_chunks_are_sent_as_they_are_not_copied() -> None:
    data = b"RIFF" + bytes(GLUE_MAX * 3)
    audio = await aprepare_file(("big.wav", data))
    body = MultipartBody(FIELDS, audio)
    async with aopen(audio) as reader:
        pieces = [piece async for piece in body.iter_async(reader)]
    assert pieces[0] == body.head
    assert pieces[-1] == body.tail
    assert b"".join(pieces[1:-1]) == data


# --- filenames, names and types that could break the header -------------------------------------


def test_quotes_and_line_breaks_in_the_filename_are_escaped() -> None:
    audio = prepare_file(('evil"name\r\nX-Injected: 1\n.wav', WAV))
    body, data = encode([], audio)
    file_part = parse_body(data, body.content_type)[-1]
    assert file_part.headers == {
        "content-disposition": (
            'form-data; name="file"; filename="evil%22name%0D%0AX-Injected: 1%0A.wav"'
        ),
        "content-type": "audio/wav",
    }
    assert file_part.content == WAV


def test_field_names_are_escaped_and_a_broken_content_type_refused() -> None:
    audio = prepare_file(("a.wav", WAV, "audio/ogg; codecs=opus"))
    body, data = encode([('we"ird\r\nname', 'value with "quotes"\r\n')], audio)
    field, file_part = parse_body(data, body.content_type)
    assert field.headers == {"content-disposition": 'form-data; name="we%22ird%0D%0Aname"'}
    assert field.content == b'value with "quotes"\r\n'  # values are the body: sent verbatim
    assert file_part.headers["content-type"] == "audio/ogg; codecs=opus"
    for bad in ('audio/wav\r\nX-Evil: "1"', "audio/wav\x00", "audio", "audio/wav; x=\x7f"):
        with pytest.raises(InvalidFileError, match="is not a media type"):
            prepare_file(("a.wav", WAV, bad))


def test_non_ascii_filename_is_utf8() -> None:
    audio = prepare_file(("Grüße 会议.wav", WAV))
    body, data = encode([("prompt", "naïve")], audio)
    assert 'filename="Grüße 会议.wav"'.encode() in data
    parts = parse_body(data, body.content_type)
    assert parts[-1].params["filename"] == "Grüße 会议.wav"
    assert parts[0].content == "naïve".encode()


# --- files that change while they are sent ------------------------------------------------------


def test_file_shrinking_mid_upload_raises(tmp_path: Path) -> None:
    path = tmp_path / "long.wav"
    path.write_bytes(LONG)
    audio = prepare_file(path)
    body = MultipartBody(FIELDS, audio)
    with audio.open() as reader:
        chunks = body.iter_sync(reader)
        assert next(chunks) == body.head + LONG[:CHUNK_SIZE]
        with open(path, "r+b") as handle:
            handle.truncate(300_000)
        with pytest.raises(InvalidFileError) as info:
            list(chunks)
    message = str(info.value)
    assert f"'long.wav' ended after 300000 of its {len(LONG)} bytes" in message
    assert "truncated" in message
    assert isinstance(info.value, ValueError)


def test_file_growing_mid_upload_sends_only_the_announced_bytes(tmp_path: Path) -> None:
    path = tmp_path / "growing.wav"
    path.write_bytes(WAV)
    audio = prepare_file(path)
    with open(path, "ab") as handle:
        handle.write(b"appended later")
    body, data = encode([], audio)
    assert len(data) == body.content_length
    assert parse_body(data, body.content_type)[-1].content == WAV


# --- async --------------------------------------------------------------------------------------


async def _encode_async(audio: AudioFile, body: MultipartBody) -> bytes:
    pieces = []
    async with aopen(audio) as reader:
        async for piece in body.iter_async(reader):
            pieces.append(piece)
    return b"".join(pieces)


@pytest.mark.anyio
@pytest.mark.parametrize("kind", ["path", "bytes", "stream"])
async def test_async_body_equals_sync_body(kind: str) -> None:
    make = {
        "path": lambda: FIXTURES / "hello.wav",
        "bytes": lambda: WAV,
        "stream": lambda: OnlyRead(WAV),
    }[kind]
    sync_audio = prepare_file(make())
    async_audio = await aprepare_file(make())
    sync_body, sync_data = encode(FIELDS, sync_audio, boundary="b0undary")
    async_data = await _encode_async(async_audio, MultipartBody(FIELDS, async_audio, "b0undary"))
    assert async_data == sync_data
    assert sync_body.content_length in (None, len(sync_data))


@pytest.mark.anyio
async def test_async_generator_body() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(WAV), 10_000):
            yield WAV[start : start + 10_000]

    audio = await aprepare_file(("speech.wav", chunks()))
    body = MultipartBody(FIELDS, audio)
    data = await _encode_async(audio, body)
    assert body.content_length is None
    parts = parse_body(data, body.content_type)
    assert parts[-1].params == {"name": "file", "filename": "speech.wav"}
    assert parts[-1].content == WAV


@pytest.mark.anyio
async def test_async_file_shrinking_mid_upload_raises(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_multipart, "ASYNC_CHUNK_SIZE", 1024 * 1024)  # the file is 2 MB
    path = tmp_path / "long.wav"
    path.write_bytes(LONG)
    audio = await aprepare_file(path)
    body = MultipartBody([], audio)
    pieces: list[bytes] = []

    async def upload() -> None:
        async with aopen(audio) as reader:
            async for piece in body.iter_async(reader):
                pieces.append(piece)
                if len(pieces) == 2:
                    with open(path, "r+b") as handle:
                        handle.truncate(1024 * 1024 + 300_000)

    cut = 1024 * 1024 + 300_000
    with pytest.raises(InvalidFileError, match=f"ended after {cut} of its"):
        await upload()
    assert b"".join(pieces) == body.head + LONG[:cut]  # and never the closing boundary


# --- property: any fields and any bytes come back out -------------------------------------------

STREAM_KINDS: dict[str, Callable[[bytes], Any]] = {
    "bytes": bytes,
    "bytesio": io.BytesIO,
    "short-reads": lambda data: ShortReads(data, 97),
    "one-shot": lambda data: OnlyRead(data, 61),
}


@settings(max_examples=150, deadline=None)
@given(
    fields=st.lists(st.tuples(st.text(max_size=12), st.text(max_size=40)), max_size=6),
    # Text a filename can hold: lone surrogates are covered by their own test below.
    stem=st.text(st.characters(exclude_characters="/\\", exclude_categories=("Cs",)), max_size=12),
    data=st.binary(min_size=1, max_size=3000),
    chunk=st.integers(min_value=1, max_value=700),
    kind=st.sampled_from(sorted(STREAM_KINDS)),
)
def test_any_fields_and_bytes_round_trip(
    fields: list[tuple[str, str]], stem: str, data: bytes, chunk: int, kind: str
) -> None:
    filename = f"a{stem}.wav"
    audio = prepare_file((filename, STREAM_KINDS[kind](data)))
    body = MultipartBody(fields, audio)
    with mock.patch.object(_multipart, "CHUNK_SIZE", chunk), audio.open() as reader:
        pieces = list(body.iter_sync(reader))
    encoded = b"".join(pieces)

    parts = parse_body(encoded, body.content_type)
    assert len(parts) == len(fields) + 1
    for part, (name, value) in zip(parts[:-1], fields, strict=True):
        assert part.headers == {"content-disposition": f'form-data; name="{browser_escape(name)}"'}
        assert part.content == value.encode("utf-8")
    file_part = parts[-1]
    assert file_part.params == {"name": "file", "filename": browser_escape(filename)}
    assert file_part.headers["content-type"] == "audio/wav"
    assert file_part.content == data
    assert all(len(piece) <= chunk for piece in pieces[1:-1])
    if kind == "one-shot":
        assert body.content_length is None
        assert "Content-Length" not in body.headers()
    else:
        assert body.content_length == len(encoded)
        assert body.headers()["Content-Length"] == str(len(encoded))


# --- constant memory ----------------------------------------------------------------------------

BIG = 64 * 1024 * 1024


@pytest.fixture(scope="module")
def big_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("big") / "big.wav"
    with open(path, "wb") as handle:
        handle.write(WAV[:44])
        handle.truncate(BIG)  # sparse: quick to make, still 64 MB to read
    return path


def test_64_mb_upload_holds_a_couple_of_chunks(big_wav: Path) -> None:
    tracemalloc.start()
    try:
        audio = prepare_file(big_wav)
        body = MultipartBody(FIELDS, audio)
        sent = largest = 0
        with audio.open() as reader:
            for piece in body.iter_sync(reader):
                sent += len(piece)
                largest = max(largest, len(piece))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert audio.size == BIG
    assert sent == body.content_length
    assert largest <= CHUNK_SIZE + len(body.head) + len(body.tail)
    assert peak < 8 * 1024 * 1024, f"peak {peak} bytes"


@pytest.mark.anyio
async def test_64_mb_async_upload_holds_a_couple_of_chunks(big_wav: Path) -> None:
    audio = await aprepare_file(big_wav)
    body = MultipartBody(FIELDS, audio)
    tracemalloc.start()
    try:
        sent = 0
        async with aopen(audio) as reader:
            async for piece in body.iter_async(reader):
                sent += len(piece)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sent == body.content_length
    assert peak < 3 * _multipart.ASYNC_CHUNK_SIZE, f"peak {peak} bytes"


def test_a_filename_with_undecodable_bytes_is_sent_as_those_bytes() -> None:
    # os.fsdecode(b"caf\xe9.wav") on a UTF-8 system gives a lone surrogate for the bad byte.
    audio = prepare_file((os.fsdecode(b"caf\xe9.wav"), b"RIFF\0\0\0\0WAVEfmt "))
    body = MultipartBody([], audio, boundary="b")
    assert b'filename="caf\xe9.wav"' in body.head


def test_a_filename_with_a_lone_surrogate_is_still_sent() -> None:
    audio = prepare_file(("a\ud800.wav", b"RIFF\0\0\0\0WAVEfmt "))
    body = MultipartBody([], audio, boundary="b")
    assert b'filename="a?.wav"' in body.head
