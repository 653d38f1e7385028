"""Catch the errors a transcription can raise, from the most specific to the most general.

    python examples/handling_errors.py

Shows three things: a bad argument raising InvalidInputError before anything is sent; a
server rejecting the upload (here the local engine answers 400 to bytes that are not audio);
and a client set up with its own retry and timeout policy. With TRANSCRIBE_API_KEY set it talks
to the router instead of the local engine.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import httpx

from transcribe_sdk import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    Client,
    FileInput,
    FileTooLargeError,
    InvalidInputError,
    RateLimitError,
    TranscribeError,
)

SAMPLE = Path(__file__).parent / "audio" / "hello.wav"


def transcribe(client: Client, file: FileInput, language: str | None = None) -> str | None:
    """Transcribe ``file``; on failure, say what went wrong and what to do, return None."""
    try:
        result = client.transcribe(file, model="whisper-large-v3", language=language)
    except InvalidInputError as exc:  # also a ValueError; nothing was sent
        print(f"  not sent, argument {exc.param!r} is wrong: {exc}")
    except AuthenticationError as exc:
        print(f"  check TRANSCRIBE_API_KEY: {exc}")
    except RateLimitError as exc:
        print(f"  rate limited; the server asks to wait {exc.retry_after} s")
    except FileTooLargeError as exc:
        print(f"  too large, split it with client.transcribe_long(): {exc}")
    except BadRequestError as exc:
        # Every error built from a response carries the status, the request id (quote it to
        # support), the parsed body, and OpenAI's param, type and code when the server sent
        # them.
        print(f"  rejected: {exc.status_code}, param={exc.error_param!r}")
        print(f"  request id: {exc.request_id}, attempts: {exc.attempts}")
        print(f"  message: {exc}")
    except APIStatusError as exc:  # any other 4xx or 5xx, after the retries were used up
        print(f"  server error {exc.status_code} (request id {exc.request_id}): {exc}")
    except APITimeoutError as exc:  # a subclass of APIConnectionError: catch it first
        print(f"  timed out: {exc}")
    except APIConnectionError as exc:
        print(f"  no answer from the server: {exc}")
    except TranscribeError as exc:  # the base class of everything the SDK raises
        print(f"  failed: {exc}")
    else:
        return result.text
    return None


def main() -> int:
    # Log each retry (INFO) on the "transcribe_sdk" logger; the key is never logged.
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    logging.getLogger("transcribe_sdk").setLevel(logging.INFO)

    base_url = None if os.environ.get("TRANSCRIBE_API_KEY") else "local"
    client = Client(
        base_url=base_url,
        max_retries=4,  # 429, 408, 409, 5xx and connection failures; 400s are never retried
        timeout=httpx.Timeout(60.0, connect=5.0, write=300.0, read=300.0),
    )
    with client:
        print("1. A language name instead of an ISO-639-1 code:")
        transcribe(client, SAMPLE, language="english")

        print("2. Bytes that claim to be a WAV file but are not audio:")
        transcribe(client, ("broken.wav", b"this is not audio at all"))

        print("3. A good file, with retries and an overall deadline for this call only:")
        try:
            result = client.transcribe(
                SAMPLE, model="whisper-large-v3", max_retries=2, deadline=120.0
            )
        except TranscribeError as exc:
            print(f"  failed: {exc}", file=sys.stderr)
            return 1
        print(f"  {result.text}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
