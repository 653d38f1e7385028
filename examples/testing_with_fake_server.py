"""Test your own code that calls transcribe-sdk, with no network, no key and no model.

    python examples/testing_with_fake_server.py     # runs the tests below
    pytest examples/testing_with_fake_server.py     # the same tests, under pytest

transcribe_sdk.testing.FakeServer is an httpx transport that answers like a transcription
server: you script its answers (results, errors, raw responses) in order, and it records every
request with its form fields and file. Clients made by server.client() go through the SDK's
real request building, retries, parsing and error mapping.
"""

from __future__ import annotations

import asyncio
import io
import wave

from transcribe_sdk import BadRequestError, Client, FileInput, InternalServerError
from transcribe_sdk.testing import FakeServer

MODEL = "whisper-large-v3"
# Pin the URL so a TRANSCRIBE_BASE_URL in the environment cannot change what the test does.
FAKE_URL = "https://fake.invalid/v1"


# -- the code under test: your application's -------------------------------------------------
def transcript_or_none(client: Client, audio: FileInput) -> str | None:
    """The transcript, or None when the service rejects the file."""
    try:
        result = client.transcribe(audio, model=MODEL, language="en", eu_native=True)
    except BadRequestError:
        return None
    return result.text


# -- the tests ----------------------------------------------------------------------------
def tiny_wav() -> bytes:
    """A tenth of a second of silence: the fake server never decodes it."""
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(16_000)
        writer.writeframes(b"\x00\x00" * 1600)
    return out.getvalue()


def test_sends_the_fields_and_returns_the_text() -> None:
    server = FakeServer()
    server.add_result("hello there", provider="ovh")
    with server.client(base_url=FAKE_URL) as client:
        assert transcript_or_none(client, ("call.wav", tiny_wav())) == "hello there"
    [request] = server.requests
    assert request.url == f"{FAKE_URL}/audio/transcriptions"
    assert request.field("model") == MODEL
    assert request.field("language") == "en"
    assert request.field("eu_native") == "true"
    assert request.file is not None
    assert request.file.filename == "call.wav"
    assert request.file.content_type == "audio/wav"


def test_a_rate_limit_is_retried() -> None:
    server = FakeServer()
    server.add_error(429, "slow down", retry_after=0)  # retried at once
    server.add_result("second time lucky")
    with server.client(base_url=FAKE_URL) as client:
        assert transcript_or_none(client, tiny_wav()) == "second time lucky"
    assert len(server.requests) == 2


def test_a_rejected_file_gives_none() -> None:
    server = FakeServer()
    server.add_error(400, "Invalid file format.", param="file")
    with server.client(base_url=FAKE_URL) as client:
        assert transcript_or_none(client, tiny_wav()) is None
    assert len(server.requests) == 1  # a 400 is never retried


def test_a_server_error_reaches_the_caller() -> None:
    server = FakeServer()
    server.add_error(503, "provider unavailable")
    with server.client(base_url=FAKE_URL, max_retries=0) as client:
        try:
            transcript_or_none(client, tiny_wav())
        except InternalServerError as exc:
            error = exc
        else:
            raise AssertionError("expected InternalServerError")
    assert error.status_code == 503
    assert error.request_id == "fake-req-503"
    assert "provider unavailable" in str(error)


def test_the_async_client_too() -> None:
    async def run() -> str:
        server = FakeServer()
        server.add_result("from an async test")
        async with server.async_client(base_url=FAKE_URL) as client:
            result = await client.transcribe(tiny_wav(), model=MODEL)
        assert server.requests[0].file is not None
        assert server.requests[0].file.filename == "audio.wav"  # named from its bytes
        return result.text

    assert asyncio.run(run()) == "from an async test"


def main() -> int:
    tests = [value for name, value in globals().items() if name.startswith("test_")]
    for test in tests:
        test()
        print(f"ok  {test.__name__}")
    print(f"all {len(tests)} tests passed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
