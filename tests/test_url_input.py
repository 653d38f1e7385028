"""``from_url``: an http(s) download streamed into the upload, with a size cap; served for real
by a small HTTP server on 127.0.0.1."""

from __future__ import annotations

import contextlib
import ssl
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import anyio
import pytest
from socket_server import Answer, ScriptedServer

from transcribe_sdk import InvalidFileError, InvalidInputError, from_url
from transcribe_sdk.testing import FakeServer

pytestmark = pytest.mark.network

HELLO = (Path(__file__).parent / "fixtures" / "hello.wav").read_bytes()


class Handler(BaseHTTPRequestHandler):
    gets: ClassVar[list[str]] = []

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        Handler.gets.append(self.path)
        routes = {
            "/audio/hello.wav": (200, {"Content-Type": "audio/wav"}, HELLO),
            "/download?id=7": (
                200,
                {
                    "Content-Type": "application/octet-stream",
                    "Content-Disposition": 'attachment; filename="meeting notes.wav"',
                },
                HELLO,
            ),
            "/page": (200, {"Content-Type": "text/html"}, b"<!doctype html><p>sign in</p>" * 10),
            "/empty.wav": (200, {"Content-Type": "audio/wav"}, b""),
            "/old": (302, {"Location": "/audio/hello.wav"}, b""),
        }
        if self.path == "/endless.wav":
            self.send_response(200)
            self.send_header("Content-Type", "audio/wav")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            chunk = HELLO[:4096]
            try:
                for _ in range(64):  # 256 KiB, far past the test's cap; bounded
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.write(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client stopped at its cap and hung up: what the test wants
            return
        status, headers, body = routes.get(self.path, (404, {}, b"no"))
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def test_the_download_is_uploaded_whole(base: str) -> None:
    fake = FakeServer()
    with fake.client() as client:
        result = client.transcribe(from_url(f"{base}/audio/hello.wav"), model="m")
    assert result.text
    sent = fake.requests[0].file
    assert (sent.filename, sent.content_type, sent.data) == ("hello.wav", "audio/wav", HELLO)


def test_async_client_sends_it_too(base: str) -> None:
    fake = FakeServer()

    async def main() -> None:
        async with fake.async_client() as client:
            await client.transcribe(from_url(f"{base}/audio/hello.wav"), model="m")

    anyio.run(main)
    assert fake.requests[0].file.data == HELLO


def test_name_from_content_disposition_and_type_from_the_bytes(base: str) -> None:
    audio = from_url(f"{base}/download?id=7")
    assert audio.filename == "meeting notes.wav"
    assert audio.content_type == "audio/wav"
    assert audio.size == len(HELLO)
    with audio.open() as reader:  # release the pending download
        assert reader.read(4) == b"RIFF"


def test_a_retry_downloads_again(base: str) -> None:
    fake = FakeServer()
    fake.add_error(503, "busy", retry_after=0)
    fake.add_result("ok")
    Handler.gets.clear()
    with fake.client(max_retries=1) as client:
        assert client.transcribe(from_url(f"{base}/audio/hello.wav"), model="m").text == "ok"
    assert Handler.gets == ["/audio/hello.wav", "/audio/hello.wav"]
    assert [r.file.data for r in fake.requests] == [HELLO, HELLO]


def test_redirects_are_followed(base: str) -> None:
    assert from_url(f"{base}/old").filename == "hello.wav"


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/missing.wav", "the server answered 404"),
        ("/page", "cannot tell the audio format"),
        ("/empty.wav", "is empty"),
    ],
)
def test_bad_downloads_fail_before_any_upload(base: str, path: str, message: str) -> None:
    with pytest.raises(InvalidFileError, match=message):
        from_url(base + path)


def test_a_stated_size_over_the_cap_is_refused_up_front(base: str) -> None:
    with pytest.raises(InvalidFileError, match=f"{len(HELLO)} bytes, more than max_bytes=1000"):
        from_url(f"{base}/audio/hello.wav", max_bytes=1000)


def test_a_stream_past_the_cap_is_cut_off(base: str) -> None:
    fake = FakeServer()
    audio = from_url(f"{base}/endless.wav", max_bytes=100_000)
    assert audio.size is None  # chunked: unknown until read
    with (
        fake.client(max_retries=0) as client,
        pytest.raises(InvalidFileError, match="max_bytes=100000"),
    ):
        client.transcribe(audio, model="m")
    assert fake.requests == []  # the upload never completed


@pytest.mark.parametrize(
    "url",
    ["file:///etc/passwd", "ftp://127.0.0.1/a.wav", "data:audio/wav;base64,AA==", "hello.wav"],
)
def test_other_schemes_are_refused(url: str) -> None:
    with pytest.raises(InvalidInputError, match="only http:// and https://"):
        from_url(url)


def test_a_bare_url_string_points_to_the_helper() -> None:
    fake = FakeServer()
    with fake.client() as client, pytest.raises(InvalidFileError, match="from_url"):
        client.transcribe("https://example.invalid/talk.mp3", model="m")


# -- redirects: the caller's headers stay on their origin (issue 23) ------------------------------
class Recorder(BaseHTTPRequestHandler):
    """Answers ``/go?to=URL`` with a 302 to URL, anything else with the audio; records every
    GET's path and headers on its server (``server.seen``)."""

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.server.seen.append((self.path, {k.lower(): v for k, v in self.headers.items()}))  # type: ignore[attr-defined]
        if self.path.startswith("/go?to="):
            self.send_response(302)
            self.send_header("Location", self.path[len("/go?to=") :])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "audio/wav")
        self.send_header("Content-Length", str(len(HELLO)))
        self.end_headers()
        self.wfile.write(HELLO)


@contextlib.contextmanager
def recorder(host: str = "127.0.0.1", context: ssl.SSLContext | None = None) -> Iterator[Any]:
    server = ThreadingHTTPServer((host, 0), Recorder)
    server.daemon_threads = True
    server.seen = []  # type: ignore[attr-defined]
    if context is not None:
        server.socket = context.wrap_socket(server.socket, server_side=True)
    scheme = "https" if context is not None else "http"
    server.url = f"{scheme}://{host}:{server.server_address[1]}"  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


SECRET = {"X-Api-Key": "bucket-secret", "Authorization": "Bearer sk-secret"}


def _download(url: str, **kwargs: Any) -> None:
    audio = from_url(url, headers=SECRET, **kwargs)
    with audio.open() as reader:  # the pending download is read, then released
        assert reader.read(4) == b"RIFF"


def test_headers_follow_a_redirect_on_the_same_origin() -> None:
    with recorder() as home:
        _download(f"{home.url}/go?to=/audio.wav")
    assert [path for path, _ in home.seen] == ["/go?to=/audio.wav", "/audio.wav"]
    assert all(h.get("x-api-key") == "bucket-secret" for _, h in home.seen)
    assert all(h.get("authorization") == "Bearer sk-secret" for _, h in home.seen)


@pytest.mark.parametrize("forward", [False, True])
def test_headers_do_not_follow_a_redirect_to_another_host(forward: bool) -> None:
    with recorder("127.0.0.1") as home, recorder("127.0.0.2") as other:
        _download(f"{home.url}/go?to={other.url}/audio.wav", forward_headers_on_redirect=forward)
    assert home.seen[0][1]["x-api-key"] == "bucket-secret"
    ((path, headers),) = other.seen
    assert path == "/audio.wav"
    assert "authorization" not in headers  # the key never leaves its host, opted in or not
    assert headers.get("x-api-key") == ("bucket-secret" if forward else None)


def test_headers_do_not_follow_a_redirect_from_https_to_http(
    certificate: tuple[ssl.SSLContext, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    context, ca = certificate
    monkeypatch.setenv("SSL_CERT_FILE", str(ca))
    with recorder(context=context) as secure, recorder() as plain:
        _download(f"{secure.url}/go?to={plain.url}/audio.wav")
    assert secure.seen[0][1]["x-api-key"] == "bucket-secret"
    ((_, headers),) = plain.seen
    assert "x-api-key" not in headers
    assert "authorization" not in headers


def test_redirects_are_bounded() -> None:
    with recorder() as home:
        chain = "/audio.wav"
        for _ in range(6):  # six redirects, one more than followed
            chain = "/go?to=" + chain
        with pytest.raises(InvalidFileError, match="more than 5 redirects"):
            from_url(home.url + chain)
        assert len(home.seen) == 6  # the sixth redirect is never followed
        five = chain[len("/go?to=") :]
        _download(home.url + five)


def test_a_redirect_to_another_scheme_is_refused() -> None:
    with recorder() as home, pytest.raises(InvalidFileError, match="file: URL"):
        from_url(f"{home.url}/go?to=file:///etc/passwd")


@pytest.mark.parametrize(
    "headers",
    [{"X-Api-Key": "a\r\nX-Injected: 1"}, {"X-Api-Key": "a\x00b"}, {"Bad Name": "v"}, {"K": 1}],
)
def test_bad_header_values_are_refused_before_any_request(headers: Any) -> None:
    with recorder() as home:
        with pytest.raises(InvalidInputError, match="headers"):
            from_url(f"{home.url}/audio.wav", headers=headers)
        assert home.seen == []


def test_a_huge_content_disposition_costs_no_time() -> None:
    # 100 kB of ';' in a quoted filename: the standard library's parameter parser is quadratic
    # on it (22 s here). Past its bound the header is ignored and the URL names the file. The
    # time bound is wide on purpose.
    wav = (Path(__file__).parent / "fixtures" / "hello.wav").read_bytes()
    disposition = 'attachment; filename="' + ";" * 100_000 + '.wav"'
    headers = (("Content-Type", "audio/wav"), ("Content-Disposition", disposition))
    with ScriptedServer([Answer(200, headers, wav)]) as server:
        started = time.monotonic()
        audio = from_url(f"{server.base_url}/talk.wav")
        assert time.monotonic() - started < 8
    with audio.open():  # the download started by from_url is closed
        pass
    assert audio.filename == "talk.wav"
