"""Hostile cases for the issue 13 fast paths (``_send``, ``_regions``, ``_sendfile``, ``_net``):
a client closed mid-sendfile, an abandoned body finalised in another context, what a response
carries and which headers go out. Real sockets on 127.0.0.1, real files, sync and async.
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import logging
import os
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

import anyio
import httpcore
import httpx
import pytest
from faults import FaultServer, Reset, json_answer
from loopback import LoopbackServer

from transcribe_sdk import (
    APITimeoutError,
    AsyncClient,
    Client,
    ClientClosedError,
    RetryPolicy,
    _net_async,
    _regions,
    _sendfile,
)

pytestmark = pytest.mark.network

MODEL = "whisper-large-v3"
KEY = "sk-sendfile-hostile-key-0000"
REGION = 1024 * 1024 + 4096
"""The region size in these tests (just over ``WHOLE_READ_LIMIT``, as in test_sendfile.py)."""
WAIT = 30.0
"""A bound no passing test comes near; the bugs these tests pin down waited out a 60 s timeout."""

QUICK_RETRY: dict[str, Any] = {
    "max_retries": 1,
    "retry_policy": RetryPolicy(initial_delay=0.01, max_delay=0.01),
}

needs_sendfile = pytest.mark.skipif(not _regions.AVAILABLE, reason="no os.sendfile here")


@pytest.fixture(autouse=True)
def small_regions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_regions, "REGION_SIZE", REGION)
    monkeypatch.setattr(_regions._switch, "on", _regions.AVAILABLE)


def _wav(path: Path, size: int) -> Path:
    body = hashlib.sha256(path.name.encode()).digest() * (size // 32 + 1)
    path.write_bytes(b"RIFF" + body[: size - 4])
    return path


# -- a client closed while the kernel sends a file ------------------------------------------------
@pytest.fixture
def sendfile_waiting(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """Set once ``os.sendfile`` (ours, or asyncio's) found the socket full: a region is in
    flight and its sender waits for the server to read."""
    waiting = threading.Event()
    real = os.sendfile

    def watched(out_fd: int, in_fd: int, offset: int | None, count: int) -> int:
        try:
            return real(out_fd, in_fd, offset, count)
        except BlockingIOError:
            waiting.set()
            raise

    monkeypatch.setattr(os, "sendfile", watched)
    return waiting


@needs_sendfile
def test_closing_a_sync_client_mid_sendfile_ends_the_upload(
    tmp_path: Path, sendfile_waiting: threading.Event
) -> None:
    path = _wav(tmp_path / "big.wav", REGION * 20)
    with LoopbackServer(read_pause=0.002) as server:
        client = Client(api_key=KEY, base_url=server.base_url, max_retries=0, timeout=60)

        def close_when_waiting() -> None:
            sendfile_waiting.wait(WAIT)
            client.close()

        closer = threading.Thread(target=close_when_waiting)
        closer.start()
        started = time.monotonic()
        try:
            with pytest.raises(ClientClosedError):
                client.transcribe(path, model=MODEL)
        finally:
            sendfile_waiting.set()
            closer.join(WAIT)
        # Before: the wait for the socket forgot the closed descriptor and lasted the timeout.
        assert time.monotonic() - started < WAIT
        assert server.requests == []


@needs_sendfile
def test_closing_an_async_client_mid_sendfile_ends_the_upload(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="asyncio")
    path = _wav(tmp_path / "big.wav", REGION * 20)
    real = os.sendfile
    calls: list[int] = []

    async def main(url: str) -> None:
        client = AsyncClient(api_key=KEY, base_url=url, max_retries=0, timeout=60)
        loop = asyncio.get_running_loop()

        def closing_on_the_third(out_fd: int, in_fd: int, offset: int | None, count: int) -> int:
            # Called by asyncio's sendfile in the loop; it then waits for the socket to drain,
            # and the close runs in that wait.
            calls.append(count)
            if len(calls) == 3:
                tasks.append(loop.create_task(client.close()))
            return real(out_fd, in_fd, offset, count)

        tasks: list[asyncio.Task[None]] = []
        monkeypatch.setattr(os, "sendfile", closing_on_the_third)
        with anyio.fail_after(WAIT):  # before: asyncio's sendfile waited out the timeout
            with pytest.raises(ClientClosedError):
                await client.transcribe(path, model=MODEL)
            await asyncio.gather(*tasks)

    with LoopbackServer(read_pause=0.002) as server:
        asyncio.run(main(server.base_url))
        assert server.requests == []
    assert len(calls) >= 3
    # Before: asyncio also logged "Exception in callback ... InvalidStateError" on the close.
    assert not [r for r in caplog.records if r.name == "asyncio"], caplog.text


@needs_sendfile
def test_a_region_for_a_socket_closed_meanwhile_is_a_write_error(tmp_path: Path) -> None:
    path = _wav(tmp_path / "big.wav", REGION)
    ours, theirs = socket.socketpair()
    ours.close()  # the client closed in another thread between two regions
    with theirs, open(path, "rb") as file, pytest.raises(httpcore.WriteError):  # before: OSError
        _sendfile.send_region(None, ours, _regions.Region(file, 0, REGION), 5.0, len)  # type: ignore[arg-type]


# -- the first large uploads of a process, in threads at once ------------------------------------
def test_threads_making_the_placeholder_at_once_all_get_the_one_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Before, a cache where the last one made won: a thread could yield a stand-in that no
    # stream recognised (8 MiB of zeros written, then the upload sent again and sendfile off).
    monkeypatch.setattr(_regions, "_made", {})  # made afresh, and dropped after
    switching = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads take turns as often as they can
    try:
        for trial in range(300):
            monkeypatch.setattr(_regions, "REGION_SIZE", REGION + trial)
            start = threading.Barrier(8)
            got: list[bytes] = []

            def make(start: threading.Barrier = start, got: list[bytes] = got) -> None:
                start.wait(WAIT)
                got.append(_regions.placeholder())

            threads = [threading.Thread(target=make) for _ in range(8)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(WAIT)
            kept = _regions.placeholder()
            assert len(got) == 8
            assert all(made is kept for made in got), trial
    finally:
        sys.setswitchinterval(switching)


# -- a server that answers early and goes on reading ---------------------------------------------
def _send_one_region(kind: str, address: Any, region: _regions.Region, check: Any) -> None:
    if kind == "sync":
        with socket.create_connection(address) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)  # one send < region
            _sendfile.send_region(None, sock, region, WAIT, check)  # type: ignore[arg-type]
        return

    async def main() -> None:
        stream = await httpcore.AnyIOBackend().connect_tcp(address[0], address[1])
        try:
            await _net_async.send_region_async(stream, stream, region, WAIT, check)
        finally:
            await stream.aclose()

    asyncio.run(main())


@needs_sendfile
@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_region_looks_for_an_answer_between_the_kernels_sends(kind: str, tmp_path: Path) -> None:
    # Before, a region was sent whole (8 MiB in use) to a server that had answered 413 and
    # kept reading (nginx's lingering close): now it stops after the send that passed the look.
    path = _wav(tmp_path / "big.wav", REGION * 8)
    looks: list[int] = []

    def answered(sent: int) -> None:
        looks.append(sent)
        raise httpcore.WriteError("the server answered before the upload was complete")

    with socket.create_server(("127.0.0.1", 0)) as listener, open(path, "rb") as file:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        region = _regions.Region(file, 0, REGION * 8)
        drained: list[int] = []

        def drain() -> None:
            peer, _ = listener.accept()
            with peer:
                peer.settimeout(WAIT)
                while data := peer.recv(1 << 16):
                    drained.append(len(data))

        reader = threading.Thread(target=drain)
        reader.start()
        try:
            with pytest.raises(httpcore.WriteError):
                _send_one_region(kind, listener.getsockname(), region, answered)
        finally:
            reader.join(WAIT)
    assert looks == [region.sent]  # one look, after the first send, which stopped the region
    assert 0 < region.sent < region.count
    assert sum(drained) == region.sent


# -- a user's file sent again after a reset mid-sendfile -------------------------------------------
@needs_sendfile
@pytest.mark.parametrize("kind", ["sync", "async"])
@pytest.mark.parametrize("position", [0, 12_345])
def test_a_users_file_reset_mid_sendfile_is_sent_again_whole(
    kind: str, position: int, tmp_path: Path
) -> None:
    path = _wav(tmp_path / "big.wav", REGION * 4 + 99)
    data = path.read_bytes()
    script = [Reset(after_bytes=REGION + REGION // 2), json_answer({"text": "ok"})]
    with FaultServer(script) as server, open(path, "rb") as handle:
        handle.seek(position)  # sent from where it stands, on every attempt
        source = ("big.wav", handle)
        if kind == "sync":
            with Client(api_key=KEY, base_url=server.base_url, **QUICK_RETRY) as client:
                client.transcribe(source, model=MODEL)
        else:

            async def main() -> None:
                async with AsyncClient(api_key=KEY, base_url=server.base_url, **QUICK_RETRY) as c:
                    with anyio.fail_after(WAIT):
                        await c.transcribe(source, model=MODEL)

            anyio.run(main)
        # Before (async): asyncio's sendfile moved the descriptor's position under the user's
        # buffered file, and the second attempt stopped short ("ended after ... bytes").
        assert len(server.attempts) == 2
        assert server.attempts[-1].file_bytes() == data[position:]


# -- a body abandoned mid-upload, finalised elsewhere ---------------------------------------------
def test_an_abandoned_body_leaves_another_uploads_region_alone(tmp_path: Path) -> None:
    path = _wav(tmp_path / "big.wav", REGION * 2)
    with open(path, "rb") as first, open(path, "rb") as second:
        abandoned = _regions.regions_of(first, REGION * 2)  # type: ignore[arg-type]
        contextvars.copy_context().run(next, abandoned)  # suspended mid-region, elsewhere

        def sending() -> bool:
            live = _regions.regions_of(second, REGION * 2)  # type: ignore[arg-type]
            region, stand_in = next(live)
            abandoned.close()  # the garbage collector finalising it here, in this thread
            taken = _regions.claim(stand_in) is region
            live.close()
            return taken

        assert contextvars.copy_context().run(sending)


# -- what a response carries and what goes out ----------------------------------------------------
@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_raw_response_has_its_elapsed_time(kind: str) -> None:
    audio = ("a.wav", b"RIFF" + bytes(4000))
    with LoopbackServer() as server:
        url = f"{server.base_url}/audio/transcriptions"
        if kind == "sync":
            with Client(api_key=KEY, base_url=server.base_url) as client:
                raw = client.with_raw_response.transcribe(audio, model=MODEL)
        else:

            async def main() -> Any:
                async with AsyncClient(api_key=KEY, base_url=server.base_url) as client:
                    return await client.with_raw_response.transcribe(audio, model=MODEL)

            raw = anyio.run(main)
    response = raw.http_response
    assert response.elapsed.total_seconds() >= 0  # before: RuntimeError from httpx
    assert response.request.url == url


def _sent_headers(kind: str, url: str, server: LoopbackServer, user_client: bool) -> list[str]:
    options: dict[str, Any] = {
        "default_headers": {"user-agent": "app/1", "ACCEPT": "application/json", "X-Team": "a"}
    }
    extra = {"x-team": "b", "Accept-Encoding": "identity"}
    audio = ("a.wav", b"RIFF" + bytes(4000))
    if kind == "sync":
        with httpx.Client() as http:
            if user_client:
                options["http_client"] = http
            with Client(api_key=KEY, base_url=url, **options) as client:
                client.transcribe(audio, model=MODEL, extra_headers=extra)
    else:

        async def main() -> None:
            async with httpx.AsyncClient() as http:
                if user_client:
                    options["http_client"] = http
                async with AsyncClient(api_key=KEY, base_url=url, **options) as client:
                    await client.transcribe(audio, model=MODEL, extra_headers=extra)

        anyio.run(main)
    skip = {"idempotency-key", "content-type"}  # a new key and boundary each request
    return sorted(
        f"{k.lower()}: {v}" for k, v in server.requests[-1].headers if k.lower() not in skip
    )


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_headers_named_in_another_case_are_sent_once_by_either_path(kind: str) -> None:
    with LoopbackServer() as server:
        ours = _sent_headers(kind, server.base_url, server, user_client=False)
        theirs = _sent_headers(kind, server.base_url, server, user_client=True)
    assert ours == theirs  # straight to the transport, or through httpx's own send
    names = [line.split(":")[0] for line in ours]
    assert len(names) == len(set(names)), ours  # before: User-Agent and user-agent both
    assert "user-agent: app/1" in ours
    assert "accept: application/json" in ours
    assert "x-team: b" in ours  # the call's over the client's
    assert "accept-encoding: identity" in ours
    assert f"authorization: Bearer {KEY}" in ours


def test_default_headers_keep_the_users_spelling_and_value() -> None:
    client = Client(
        api_key=KEY, base_url="http://127.0.0.1:9/v1", default_headers={"user-agent": "x"}
    )
    with client:
        assert [k for k in client.default_headers if k.lower() == "user-agent"] == ["user-agent"]
        assert client.default_headers["user-agent"] == "x"


# -- held under attack: cancelled, timed out, many at once ----------------------------------------
@needs_sendfile
def test_an_async_upload_cancelled_mid_sendfile_leaves_the_client_sound(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _wav(tmp_path / "big.wav", REGION * 20)
    real = os.sendfile
    scopes: list[anyio.CancelScope] = []

    def cancelling_mid_upload(out_fd: int, in_fd: int, offset: int | None, count: int) -> int:
        sent = real(out_fd, in_fd, offset, count)
        if len(scopes) == 1 and count:
            scopes.pop().cancel()  # the caller's own cancel scope, mid-upload
        return sent

    async def main(url: str) -> None:
        async with AsyncClient(api_key=KEY, base_url=url, max_retries=0) as client:
            with anyio.fail_after(WAIT):
                monkeypatch.setattr(os, "sendfile", cancelling_mid_upload)
                with anyio.CancelScope() as scope:
                    scopes.append(scope)
                    await client.transcribe(path, model=MODEL)
                assert scope.cancelled_caught
                await client.transcribe(path, model=MODEL)  # the same client, its pool
                await client.transcribe(("small.wav", b"RIFF" + bytes(4000)), model=MODEL)

    with LoopbackServer(read_pause=0.002) as server:
        anyio.run(main, server.base_url)
        requests = server.requests
    assert [len(r.form().file().data) for r in requests] == [REGION * 20, 4004]
    assert requests[0].form().file().data == path.read_bytes()


@needs_sendfile
def test_a_sync_deadline_mid_sendfile_leaves_the_client_sound(tmp_path: Path) -> None:
    path = _wav(tmp_path / "big.wav", REGION * 20)
    with LoopbackServer(read_pause=0.002) as server:
        with Client(api_key=KEY, base_url=server.base_url, max_retries=0) as client:
            with pytest.raises(APITimeoutError):
                client.transcribe(path, model=MODEL, deadline=0.2)  # ~0.7 s of upload
            client.transcribe(path, model=MODEL)
            client.transcribe(("small.wav", b"RIFF" + bytes(4000)), model=MODEL)
        requests = server.requests
    assert [len(r.form().file().data) for r in requests] == [REGION * 20, 4004]
    assert requests[0].form().file().data == path.read_bytes()


@needs_sendfile
@pytest.mark.parametrize("kind", ["sync", "async"])
def test_many_large_files_at_once_each_arrive_whole(kind: str, tmp_path: Path) -> None:
    paths = [_wav(tmp_path / f"f{i}.wav", REGION * (2 + i % 2) + i) for i in range(6)]
    with LoopbackServer() as server:
        if kind == "sync":  # threads, each with its own region in flight
            with Client(api_key=KEY, base_url=server.base_url, max_retries=0) as client:
                results = client.transcribe_many(paths, model=MODEL, max_concurrency=6)
        else:

            async def main() -> Any:
                async with AsyncClient(api_key=KEY, base_url=server.base_url) as client:
                    return await client.transcribe_many(paths, model=MODEL, max_concurrency=6)

            results = anyio.run(main)
        got = {r.form().file().filename: r.form().file().data for r in server.requests}
    assert all(result.ok for result in results)
    assert got == {p.name: p.read_bytes() for p in paths}
    assert _regions._switch.on  # every placeholder was taken: sendfile stays on
