"""Large files sent by the kernel (``transcribe_sdk._regions``) and requests sent straight to the
transport (``transcribe_sdk._send``): the bytes that arrive, the fallbacks, the bounds.

Real sockets on 127.0.0.1 (``tests/loopback.py``) and real files on disk, sync and async.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpcore
import httpx
import pytest
from faults import FaultServer, Stall
from loopback import LoopbackServer, json_reply

from transcribe_sdk import (
    APITimeoutError,
    AsyncClient,
    Client,
    InvalidFileError,
    _net,
    _net_async,
    _regions,
    _sendfile,
)
from transcribe_sdk._multipart import MultipartBody
from transcribe_sdk.files import WHOLE_READ_LIMIT, prepare_file

pytestmark = pytest.mark.network

MODEL = "whisper-large-v3"
KEY = "sk-sendfile-test-key-000000"
REGION = WHOLE_READ_LIMIT + 4096
"""The region size in these tests (8 MiB in use). A path up to ``WHOLE_READ_LIMIT`` is read
whole when it is identified, so the smallest region a path can have is just over that."""
WAIT = 30.0


@pytest.fixture(autouse=True)
def small_regions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_regions, "REGION_SIZE", REGION)
    monkeypatch.setattr(_regions._switch, "on", _regions.AVAILABLE)


@pytest.fixture
def sendfile_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The byte counts asked of ``os.sendfile`` (by us, sync, or by asyncio's loop)."""
    calls: list[int] = []
    real = os.sendfile

    def counting(out_fd: int, in_fd: int, offset: int | None, count: int) -> int:
        calls.append(count)
        return real(out_fd, in_fd, offset, count)

    monkeypatch.setattr(os, "sendfile", counting)
    return calls


def _wav(path: Path, size: int) -> Path:
    body = hashlib.sha256(path.name.encode()).digest() * (size // 32 + 1)
    path.write_bytes(b"RIFF" + body[: size - 4])
    return path


def _uploaded(server: LoopbackServer) -> bytes:
    return server.requests[-1].form().file().data


def _transcribe_sync(url: str, path: Path, **options: Any) -> str:
    with Client(api_key=KEY, base_url=url, max_retries=0) as client:
        return client.transcribe(path, model=MODEL, **options).text


async def _transcribe_async(url: str, path: Path, **options: Any) -> str:
    async with AsyncClient(api_key=KEY, base_url=url, max_retries=0) as client:
        with anyio.fail_after(WAIT):
            result = await client.transcribe(path, model=MODEL, **options)
    return result.text


def _run(kind: str, url: str, path: Path, **options: Any) -> str:
    if kind == "sync":
        return _transcribe_sync(url, path, **options)
    return anyio.run(lambda: _transcribe_async(url, path, **options))


needs_sendfile = pytest.mark.skipif(not _regions.AVAILABLE, reason="no os.sendfile here")


# -- the bytes that arrive ------------------------------------------------------------------------
@needs_sendfile
@pytest.mark.parametrize("kind", ["sync", "async"])
@pytest.mark.parametrize(
    "size",
    [REGION, REGION * 3, REGION * 5 + 12_345],
    ids=["one region", "three regions", "regions and a rest"],
)
def test_a_large_file_arrives_whole_and_goes_by_sendfile(
    kind: str, size: int, tmp_path: Path, sendfile_calls: list[int]
) -> None:
    path = _wav(tmp_path / "big.wav", size)
    with LoopbackServer() as server:
        assert _run(kind, server.base_url, path) == "big.wav"
        assert _uploaded(server) == path.read_bytes()
        assert len(server.requests) == 1
    assert sum(sendfile_calls) >= size // REGION * REGION - REGION  # asked in pieces
    assert sendfile_calls


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_file_under_one_region_is_read(
    kind: str, tmp_path: Path, sendfile_calls: list[int]
) -> None:
    path = _wav(tmp_path / "small.wav", REGION - 1)
    with LoopbackServer() as server:
        _run(kind, server.base_url, path)
        assert _uploaded(server) == path.read_bytes()
    assert sendfile_calls == []


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_bytes_and_file_objects_are_read_not_sendfiled(
    kind: str, tmp_path: Path, sendfile_calls: list[int]
) -> None:
    path = _wav(tmp_path / "big.wav", REGION * 3)
    data = path.read_bytes()
    with LoopbackServer() as server:
        for source in (("big.wav", data), ("big.wav", io.BytesIO(data))):
            if kind == "sync":
                with Client(api_key=KEY, base_url=server.base_url) as client:
                    client.transcribe(source, model=MODEL)
            else:

                async def send(source: Any = source) -> None:
                    async with AsyncClient(api_key=KEY, base_url=server.base_url) as client:
                        await client.transcribe(source, model=MODEL)

                anyio.run(send)
            assert _uploaded(server) == data
    assert sendfile_calls == []


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_users_http_client_gets_the_file_read_through_its_send(
    kind: str, tmp_path: Path, sendfile_calls: list[int]
) -> None:
    path = _wav(tmp_path / "big.wav", REGION * 3)
    seen: list[str] = []
    with LoopbackServer() as server:
        if kind == "sync":
            hooks = {"request": [lambda request: seen.append(request.url.path)]}
            with (
                httpx.Client(event_hooks=hooks) as http,
                Client(api_key=KEY, base_url=server.base_url, http_client=http) as client,
            ):
                client.transcribe(path, model=MODEL)
        else:

            async def hook(request: httpx.Request) -> None:
                seen.append(request.url.path)

            async def send() -> None:
                async with (
                    httpx.AsyncClient(event_hooks={"request": [hook]}) as http,
                    AsyncClient(api_key=KEY, base_url=server.base_url, http_client=http) as c,
                ):
                    await c.transcribe(path, model=MODEL)

            anyio.run(send)
        assert _uploaded(server) == path.read_bytes()
        assert server.requests[-1].header("authorization") == f"Bearer {KEY}"
    assert seen == ["/v1/audio/transcriptions"]
    assert sendfile_calls == []


# -- what can go wrong ---------------------------------------------------------------------------
@needs_sendfile
@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_file_cut_short_while_sent_is_an_error_and_never_a_whole_request(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _wav(tmp_path / "shrinks.wav", REGION * 4)
    real = os.sendfile

    def cutting(out_fd: int, in_fd: int, offset: int | None, count: int) -> int:
        os.truncate(path, REGION + 100)  # the file shrinks once the upload is under way
        return real(out_fd, in_fd, offset, count)

    monkeypatch.setattr(os, "sendfile", cutting)
    with LoopbackServer() as server:
        with pytest.raises(InvalidFileError, match="ended after"):
            _run(kind, server.base_url, path)
        assert server.requests == []


@needs_sendfile
@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_server_that_stops_reading_is_a_write_timeout(kind: str, tmp_path: Path) -> None:
    path = _wav(tmp_path / "big.wav", 48 * 1024 * 1024)  # more than the socket buffers hold
    with FaultServer([Stall(2, read_body=False)]) as server:
        with pytest.raises(APITimeoutError, match=r"write timeout is 0\.3 s"):
            _run(kind, server.base_url, path, timeout=httpx.Timeout(10, write=0.3))
        assert server.wait_until_idle()


@needs_sendfile
@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_placeholder_that_skips_the_wrapped_stream_is_never_sent_whole(
    kind: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # As if some layer copied the placeholder: its zeros go out, the body stops before it is
    # complete, and the attempt is sent again reading the file (and so is every later one).
    monkeypatch.setattr(_net if kind == "sync" else _net_async, "claim", lambda buffer: None)
    path = _wav(tmp_path / "big.wav", REGION * 3)
    with LoopbackServer() as server:
        _run(kind, server.base_url, path)
        assert [r.form().file().data for r in server.requests] == [path.read_bytes()]
    assert _regions._switch.on is False
    assert "sendfile failed" in caplog.text


@needs_sendfile
def test_the_body_stops_at_a_region_nobody_took(monkeypatch: pytest.MonkeyPatch) -> None:
    path = Path(__file__).parent / "fixtures" / "long_speech.wav"
    audio = prepare_file(path)
    body = MultipartBody([("model", MODEL)], audio)
    with audio.open() as reader:
        pieces = body.iter_sync(reader, direct=True)
        assert next(pieces) == body.head
        assert next(pieces) is _regions.placeholder()
        with pytest.raises(_regions.RegionNotTaken):
            next(pieces)
    assert _regions._switch.on is False


def test_only_our_own_open_regular_files_qualify(tmp_path: Path) -> None:
    path = _wav(tmp_path / "big.wav", REGION * 2)
    with open(path, "rb") as handle:
        assert _regions.sendable(handle, REGION * 2) is (handle if _regions.AVAILABLE else None)
        assert _regions.sendable(handle, REGION - 1) is None  # under one region
        assert _regions.sendable(handle, None) is None  # size unknown
        in_memory = io.BufferedReader(io.BytesIO(b"x" * REGION))  # type: ignore[arg-type]
        assert _regions.sendable(in_memory, REGION) is None
        assert _regions.sendable(io.BytesIO(b"x"), REGION) is None
    assert _regions.sendable(handle, REGION * 2) is None  # closed


# -- TLS and other streams: the region is read and written -----------------------------------------
class _TLSLike(httpcore.NetworkStream):
    def __init__(self) -> None:
        self.written: list[bytes] = []

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self.written.append(bytes(buffer))

    def get_extra_info(self, info: str) -> Any:
        return object() if info == "ssl_object" else None


class _AsyncTLSLike(httpcore.AsyncNetworkStream):
    def __init__(self) -> None:
        self.written: list[bytes] = []

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self.written.append(bytes(buffer))

    def get_extra_info(self, info: str) -> Any:
        return object() if info == "ssl_object" else None


@pytest.fixture
def big_open(tmp_path: Path) -> Iterator[tuple[io.BufferedReader, bytes]]:
    path = _wav(tmp_path / "big.wav", 5 * 1024 * 1024)
    with open(path, "rb") as handle:  # 2.5 pieces
        yield handle, path.read_bytes()


def test_over_tls_a_region_is_read_and_written(big_open: tuple[io.BufferedReader, bytes]) -> None:
    handle, data = big_open
    inner = _TLSLike()
    region = _regions.Region(handle, 1000, 4 * 1024 * 1024)
    _sendfile.send_region(inner, None, region, timeout=5, check=len)
    assert region.sent == region.count
    assert b"".join(inner.written) == data[1000 : 1000 + region.count]
    assert max(len(w) for w in inner.written) <= _sendfile.PIECE


@pytest.mark.anyio
async def test_async_over_tls_a_region_is_read_off_the_loop_and_written(
    big_open: tuple[io.BufferedReader, bytes],
) -> None:
    handle, data = big_open
    inner = _AsyncTLSLike()
    region = _regions.Region(handle, 0, len(data))
    await _net_async.send_region_async(inner, inner, region, timeout=5, check=len)
    assert region.sent == len(data)
    assert b"".join(inner.written) == data


# -- requests sent straight to the transport -------------------------------------------------------
@pytest.mark.parametrize("kind", ["sync", "async"])
def test_our_own_client_sends_its_default_headers_and_the_key(kind: str, tmp_path: Path) -> None:
    path = _wav(tmp_path / "small.wav", 4000)
    with LoopbackServer() as server:
        _run(kind, server.base_url, path)
        request = server.requests[-1]
        port = server.port
    assert request.header("authorization") == f"Bearer {KEY}"
    assert "gzip" in (request.header("accept-encoding") or "")
    assert (request.header("user-agent") or "").startswith("transcribe-sdk/")
    assert request.header("host") == f"127.0.0.1:{port}"
    assert request.header("idempotency-key")
    names = [name.lower() for name, _ in request.headers]
    assert len(names) == len(set(names)), names  # each header once


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_our_own_client_goes_through_the_proxy_of_the_environment(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _wav(tmp_path / "small.wav", 4000)
    with LoopbackServer(lambda r: json_reply({"text": "via proxy"})) as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        text = _run(kind, "http://transcribe.invalid/v1", path)
        assert proxy.requests[-1].path == "http://transcribe.invalid/v1/audio/transcriptions"
    assert text == "via proxy"


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_each_request_is_logged_at_debug_with_its_status(
    kind: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="transcribe_sdk")
    path = _wav(tmp_path / "small.wav", 4000)
    with LoopbackServer() as server:
        _run(kind, server.base_url, path)
        url = f"{server.base_url}/audio/transcriptions"
    assert f'HTTP Request: POST {url} "HTTP/1.1 200 OK"' in caplog.text
    assert KEY not in caplog.text


@needs_sendfile
def test_async_with_bytes_still_buffered_the_event_loops_sendfile_sends_the_region(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sendfile_calls: list[int]
) -> None:
    # Our own descriptor is used only when asyncio's transport holds nothing: here it always
    # "holds" something, so each region goes by loop.sendfile, which lets the buffer drain.
    monkeypatch.setattr(_net_async, "_drained", lambda transport: False)
    used: list[int] = []
    real = _net_async._asendfile

    async def counting(*args: Any) -> bool:
        used.append(1)
        return await real(*args)

    monkeypatch.setattr(_net_async, "_asendfile", counting)
    path = _wav(tmp_path / "big.wav", REGION * 3 + 5)
    with LoopbackServer() as server:
        _run("async", server.base_url, path)
        assert _uploaded(server) == path.read_bytes()
    assert len(used) == 3
    assert sendfile_calls
