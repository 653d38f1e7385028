"""``transcribe-sdk serve`` against clients that try to hold it: keyless and dripping bodies,
slow-loris heads, an endless chunk-size line, half-sent uploads at shutdown (issue 23).

Bounds are wide: each test asserts an order or a limit many times what an idle machine needs,
never a tight timing. The raw-socket helpers are local and small on purpose.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from _serving import Process, command, env_without_keys, raw_exchange, serving, wait_for

pytest.importorskip("faster_whisper")
pytest.importorskip("uvicorn")

pytestmark = pytest.mark.network

KEY = "s3cret"
AUTH = b"Authorization: Bearer s3cret\r\n"
POST = (
    b"POST /v1/audio/transcriptions HTTP/1.1\r\nHost: x\r\n"
    b"Content-Type: multipart/form-data; boundary=b\r\n"
)
PART = b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\n'
MODELS = b"GET /v1/models HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + AUTH + b"\r\n"


def status_of(answer: bytes) -> int:
    assert answer.startswith(b"HTTP/1.1 "), answer[:200]
    return int(answer[9:12])


def _answer(sock: socket.socket, seconds: float) -> bytes:
    """What the server sends on ``sock`` until it closes it or ``seconds`` pass."""
    answer = b""
    deadline = time.monotonic() + seconds
    with contextlib.suppress(OSError):
        while (left := deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            piece = sock.recv(65536)
            if not piece:
                break
            answer += piece
    return answer


def _fds(pid: int) -> int:
    return len(list(Path(f"/proc/{pid}/fd").iterdir()))


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    env = {**env_without_keys(), "TRANSCRIBE_SERVER_API_KEY": KEY}
    with command(tmp_path_factory.mktemp("serve"), env=env) as running:  # the defaults
        yield running


def _port(process: Process) -> int:
    return int(process.base_url.rsplit(":", 1)[1].split("/", 1)[0])


def test_keyless_drippers_get_a_401_on_the_head_and_cannot_fill_the_slots() -> None:
    # Before: three keyless connections dripping a byte a second kept --max-connections 4 full.
    with serving(max_connections=4, api_key=KEY) as small:
        drippers = [socket.create_connection(("127.0.0.1", small.port), timeout=10) for _ in "abc"]
        try:
            for sock in drippers:
                sock.sendall(POST + b"Content-Length: 100000\r\n\r\n--b")
            # The 401 comes without a byte more of the body, and the connection is closed.
            answers = [_answer(sock, 20) for sock in drippers]
            assert [status_of(a) for a in answers] == [401] * 3
            assert all(b"invalid_api_key" in a for a in answers)
            wait_for(lambda: status_of(raw_exchange(small.port, MODELS)) == 200, 30.0)
        finally:
            for sock in drippers:
                sock.close()


def test_a_body_that_drips_steadily_is_cut_off_at_its_total_time() -> None:
    # A byte every 0.2 s never trips the 5 s between pieces; the 2 s for the whole body does.
    with (
        serving(api_key=KEY, body_timeout=5.0, body_total_timeout=2.0) as small,
        socket.create_connection(("127.0.0.1", small.port), timeout=10) as sock,
    ):
        sock.sendall(POST + AUTH + b"Content-Length: 100000\r\n\r\n" + PART)
        started = time.monotonic()
        with contextlib.suppress(OSError):
            for _ in range(300):  # at most 60 s
                sock.sendall(b"x")
                time.sleep(0.2)
                sock.settimeout(0.001)
                with contextlib.suppress(TimeoutError):
                    if sock.recv(1, socket.MSG_PEEK):
                        break
        answer = _answer(sock, 30)
    assert status_of(answer) == 408
    assert b"longer than this server's 2 s" in answer
    assert time.monotonic() - started < 40


@pytest.mark.heavy  # the installed command in a process of its own
def test_200_slow_loris_connections_leave_real_requests_answered(server: Process) -> None:
    # Before: with the default limit, 200 slow-loris connections left 0 of 64 requests answered.
    port = _port(server)
    pid = server.process.pid
    wait_for(lambda: status_of(raw_exchange(port, MODELS)) == 200, 30.0)
    before = _fds(pid)
    loris = []
    try:
        for _ in range(200):
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            sock.sendall(b"POST /v1/audio/transcriptions HTTP/1.1\r\nX-Slow: a")
            loris.append(sock)
        wait_for(lambda: _fds(pid) >= before + 200, 30.0, "the slow connections accepted")
        for sock in loris[::10]:  # they go on dripping
            sock.sendall(b"a")
        answered = [status_of(raw_exchange(port, MODELS)) for _ in range(64)]
        assert answered == [200] * 64
    finally:
        for sock in loris:
            sock.close()
    # Every descriptor the slow connections held is given back.
    wait_for(lambda: _fds(pid) <= before, 30.0, "the descriptors back to where they were")


@pytest.mark.heavy  # the installed command in a process of its own
@pytest.mark.parametrize("auth", [b"", AUTH], ids=["keyless", "with-key"])
def test_an_endless_chunk_size_line_does_not_grow_the_server(server: Process, auth: bytes) -> None:
    # Before: 100 MB of chunk-size line grew the server by about 70 MB.
    port = _port(server)
    pid = server.process.pid
    before = _rss_kb(pid)
    line = b"1" * (1024 * 1024)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        with contextlib.suppress(OSError):
            sock.sendall(POST + auth + b"Transfer-Encoding: chunked\r\n\r\n")
            for _ in range(100):  # 100 MiB, or until the server closes
                sock.sendall(line)
        answer = _answer(sock, 20)
    if answer:  # the answer may be lost to the reset of unread bytes
        assert status_of(answer) in (400, 401, 431)
    assert _rss_kb(pid) - before < 20 * 1024


@pytest.mark.heavy  # the installed command in a process of its own
def test_shutdown_is_bounded_with_half_sent_uploads(tmp_path: Path) -> None:
    # Before: --shutdown-timeout 1 took 16 s with half-sent uploads in flight.
    env = {**env_without_keys(), "TRANSCRIBE_SERVER_API_KEY": KEY}
    with command(tmp_path, "--shutdown-timeout", "1", env=env) as running:
        port = _port(running)
        uploads = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(3)]
        try:
            for sock in uploads:
                sock.sendall(POST + AUTH + b"Content-Length: 1000000\r\n\r\n--b\r\n")
            answers: list[bytes] = []
            readers = [
                threading.Thread(target=lambda s=sock: answers.append(_answer(s, 60)))
                for sock in uploads
            ]
            time.sleep(0.5)  # the requests have reached the app
            for reader in readers:
                reader.start()
            started = time.monotonic()
            running.process.send_signal(signal.SIGINT)
            code = running.process.wait(timeout=60)
            took = time.monotonic() - started
            for reader in readers:
                reader.join(60)
        finally:
            for sock in uploads:
                sock.close()
    assert code == 0
    assert took < 10  # 1 s of grace, then the uploads are answered; 16 s before the fix
    assert sorted(status_of(a) for a in answers) == [503] * 3
    assert all(b"server_shutting_down" in a for a in answers)
