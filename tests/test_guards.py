"""Limits checked before anything is sent (``max_upload_bytes``, ``max_audio_seconds``) and
the provider check (``enforce_allowed_providers``), sync and async."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import anyio
import pytest

from transcribe_sdk import (
    APIStatusError,
    AudioTooLongError,
    InvalidFileError,
    InvalidInputError,
    ProviderNotAllowedError,
    UploadTooLargeError,
)
from transcribe_sdk.testing import FakeServer

FIXTURES = Path(__file__).parent / "fixtures"
HELLO = FIXTURES / "hello.wav"  # 4.24 s
SIZE = HELLO.stat().st_size


class OneShot(io.RawIOBase):
    """A pipe-like stream: readable once, not seekable."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        chunk = self._data.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)


def call(kind: str, fake: FakeServer, file: Any, **kwargs: Any) -> Any:
    kwargs.setdefault("model", "m")
    if kind == "sync":
        with fake.client() as client:
            return client.transcribe(file, **kwargs)

    async def main() -> Any:
        async with fake.async_client() as client:
            return await client.transcribe(file, **kwargs)

    return anyio.run(main)


KINDS = ["sync", "async"]


@pytest.mark.parametrize("kind", KINDS)
def test_a_file_over_max_upload_bytes_is_refused_before_sending(kind: str) -> None:
    fake = FakeServer()
    with pytest.raises(UploadTooLargeError) as caught:
        call(kind, fake, HELLO, max_upload_bytes=SIZE - 1)
    # the client's refusal, not a server's answer: never an APIStatusError (FileTooLargeError)
    assert isinstance(caught.value, InvalidFileError)
    assert not isinstance(caught.value, APIStatusError)
    assert (caught.value.size, caught.value.limit) == (SIZE, SIZE - 1)
    assert f"{SIZE:,} bytes" in str(caught.value)
    assert fake.requests == []
    assert call(kind, fake, HELLO, max_upload_bytes=SIZE).text  # at the limit: sent


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("retries", [0, 2])
def test_a_stream_is_cut_off_at_max_upload_bytes(kind: str, retries: int) -> None:
    fake = FakeServer()
    with pytest.raises(UploadTooLargeError):
        call(kind, fake, OneShot(HELLO.read_bytes()), max_upload_bytes=10_000, max_retries=retries)
    assert all(r.file is None or len(r.file.data) <= 10_000 for r in fake.requests)


@pytest.mark.parametrize("kind", KINDS)
def test_audio_over_max_audio_seconds_is_refused_before_sending(kind: str) -> None:
    fake = FakeServer()
    with pytest.raises(AudioTooLongError) as caught:
        call(kind, fake, HELLO, max_audio_seconds=3)
    assert caught.value.limit == 3
    assert 4.2 < (caught.value.seconds or 0) < 4.3
    assert fake.requests == []
    assert call(kind, fake, HELLO, max_audio_seconds=5).text


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", ["hello.mp3", "hello.ogg", "hello.m4a"])
def test_compressed_audio_is_measured_with_pyav(kind: str, name: str) -> None:
    pytest.importorskip("av")
    fake = FakeServer()
    with pytest.raises(AudioTooLongError):
        call(kind, fake, FIXTURES / name, max_audio_seconds=2)
    assert call(kind, fake, FIXTURES / name, max_audio_seconds=6).text


@pytest.mark.parametrize("kind", KINDS)
def test_a_stream_is_measured_from_a_copy(kind: str) -> None:
    fake = FakeServer()
    with pytest.raises(AudioTooLongError):
        call(kind, fake, ("a.wav", OneShot(HELLO.read_bytes())), max_audio_seconds=1, max_retries=0)
    result = call(
        kind, fake, ("a.wav", OneShot(HELLO.read_bytes())), max_audio_seconds=9, max_retries=0
    )
    assert result.text
    assert fake.requests[-1].file.data == HELLO.read_bytes()


def test_a_length_that_cannot_be_read_is_an_error_when_a_limit_is_asked() -> None:
    fake = FakeServer()
    with pytest.raises(AudioTooLongError, match="could not be read") as caught:
        call("sync", fake, ("a.mp3", os.urandom(4000), "audio/mpeg"), max_audio_seconds=60)
    assert caught.value.seconds is None
    assert fake.requests == []


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"max_upload_bytes": 0}, "max_upload_bytes"),
        ({"max_upload_bytes": 1.5}, "max_upload_bytes"),
        ({"max_audio_seconds": -1}, "max_audio_seconds"),
        ({"max_audio_seconds": float("nan")}, "max_audio_seconds"),
        ({"enforce_allowed_providers": True}, "enforce_allowed_providers"),
        (
            {"enforce_allowed_providers": "yes", "allowed_providers": ["ovh"]},
            "enforce_allowed_providers",
        ),
    ],
)
def test_bad_limits_are_refused(kwargs: dict[str, Any], param: str) -> None:
    fake = FakeServer()
    with pytest.raises(InvalidInputError) as caught:
        call("sync", fake, HELLO, **kwargs)
    assert caught.value.param == param
    assert fake.requests == []


@pytest.mark.parametrize("kind", KINDS)
def test_a_provider_outside_allowed_providers_is_an_error_with_the_result(kind: str) -> None:
    fake = FakeServer()
    fake.add_result("hi", provider="elsewhere")
    with pytest.raises(ProviderNotAllowedError) as caught:
        call(
            kind, fake, HELLO, allowed_providers=["ovh", "scaleway"], enforce_allowed_providers=True
        )
    error = caught.value
    assert error.provider == "elsewhere"
    assert error.allowed == ("ovh", "scaleway")
    assert error.result.text == "hi"
    assert "elsewhere" in str(error)
    assert len(fake.requests) == 1  # not retried: another try would not change who served it


@pytest.mark.parametrize("kind", KINDS)
def test_an_allowed_provider_passes(kind: str) -> None:
    fake = FakeServer()
    fake.add_result("hi", provider="ovh")
    fake.add_result("hi")  # FakeServer's own provider name, "fake": not checked without the flag
    assert (
        call(kind, fake, HELLO, allowed_providers=["ovh"], enforce_allowed_providers=True).text
        == "hi"
    )
    assert call(kind, fake, HELLO, allowed_providers=["ovh"]).text == "hi"


def test_an_answer_that_names_no_provider_fails_the_check() -> None:
    fake = FakeServer()
    fake.add_response(json_body={"text": "hi"})
    with pytest.raises(ProviderNotAllowedError, match="does not say which provider"):
        call("sync", fake, HELLO, allowed_providers=["ovh"], enforce_allowed_providers=True)


def test_the_check_cannot_apply_to_a_stream() -> None:
    fake = FakeServer()
    with pytest.raises(InvalidInputError, match="cannot check a stream"):
        call(
            "sync",
            fake,
            HELLO,
            stream=True,
            allowed_providers=["ovh"],
            enforce_allowed_providers=True,
        )
