"""Checks before and after sending, and what transcripts cost.

    python examples/limits_and_usage.py

Runs offline on the local engine (no key needed), except the last part, which scripts a router's
answer with the FakeServer so the provider check can be shown without one.

- ``max_upload_bytes`` / ``max_audio_seconds`` refuse a file before anything is sent;
- ``silence_filter`` drops text a model made up over silence;
- ``total_usage`` adds up what a batch cost;
- ``from_url`` streams audio from a web server into the upload (served here from this folder
  on 127.0.0.1);
- ``enforce_allowed_providers`` fails a call served by a provider you did not allow.
"""

from __future__ import annotations

import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from transcribe_sdk import (
    AudioTooLongError,
    Client,
    ProviderNotAllowedError,
    UploadTooLargeError,
    from_url,
    total_usage,
)
from transcribe_sdk.testing import FakeServer

AUDIO = Path(__file__).parent / "audio"
HELLO = AUDIO / "hello.wav"
MODEL = "whisper-large-v3"


def limits(client: Client) -> None:
    try:
        client.transcribe(HELLO, model=MODEL, max_audio_seconds=2)
    except AudioTooLongError as exc:
        print(f"refused before sending: {exc.seconds:.1f} s of audio, the limit is {exc.limit} s")
    try:
        client.transcribe(HELLO, model=MODEL, max_upload_bytes=10_000)
    except UploadTooLargeError as exc:
        print(f"refused before sending: {exc.size:,} bytes, the limit is {exc.limit:,}")


def usage(client: Client) -> None:
    results = client.transcribe_many(
        [HELLO, HELLO], model=MODEL, response_format="verbose_json", silence_filter=True
    )
    for item in results:
        result = item.unwrap()
        print(f"{result.text}  (segments dropped as silence: {result.dropped_segments})")
    print("the batch cost:", total_usage(results))


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def download(client: Client) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(AUDIO)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/hello.wav"
        audio = from_url(url, max_bytes=50 * 2**20)
        print(f"from {url}: {client.transcribe(audio, model=MODEL).text}")
    finally:
        server.shutdown()
        server.server_close()


def provider_check() -> None:
    fake = FakeServer()
    fake.add_result("Bonjour.", provider="elsewhere")
    with fake.client() as client:
        try:
            client.transcribe(
                HELLO,
                model=MODEL,
                allowed_providers=["ovh", "scaleway"],
                enforce_allowed_providers=True,
            )
        except ProviderNotAllowedError as exc:
            print(f"served by {exc.provider!r}, not in {list(exc.allowed)}: {exc.result.text!r}")


def main() -> int:
    with Client(base_url="local") as client:
        limits(client)
        usage(client)
        download(client)
    provider_check()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
