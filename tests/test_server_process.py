"""The installed ``transcribe-sdk serve`` command, as a user (and an attacker) meets it.

Each test starts the real command on a free port of 127.0.0.1 and reads its banner: how it
stops (Ctrl+C and SIGTERM exit 0, mid-transcription too), how it refuses to start (one line,
exit code 2), where its key comes from and where it must never show, and what memory a huge
upload or an hour of silence costs it.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest
from _serving import (
    STOP_TIMEOUT,
    command,
    env_without_keys,
    health,
    long_wav,
    script,
    silent_flac,
    wait_for,
)

from transcribe_sdk import Client
from transcribe_sdk.errors import InternalServerError, TranscribeError

pytest.importorskip("faster_whisper")
pytest.importorskip("uvicorn")

# The installed command in processes of its own: heavy (pytest -m heavy).
pytestmark = [pytest.mark.network, pytest.mark.heavy]

HELLO = Path(__file__).parent / "fixtures" / "hello.wav"
MODEL = "tiny.en"
KEY = "sk-serve-0123456789SECRET"
MiB = 1024 * 1024


def run_command(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [script(), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env_without_keys(),
        check=False,
    )


# -- start-up ------------------------------------------------------------------------------------
def test_start_up_errors_are_one_line_and_exit_2(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        busy_port = str(taken.getsockname()[1])
        cases = {
            "busy": ["serve", "--port", busy_port],
            "host": ["serve", "--host", "no.such.host.invalid"],
            "port": ["serve", "--port", "70000"],
            "not a port": ["serve", "--port", "eighty"],
            "model": ["serve", "--port", "0", "--model", str(tmp_path)],
            "key file": ["serve", "--port", "0", "--api-key-file", str(tmp_path / "none")],
        }
        for name, args in cases.items():
            done = run_command(*args)
            assert done.returncode == 2, (name, done.stderr)
            assert done.stdout == "", name  # no banner: it never listened
            lines = done.stderr.strip().splitlines()
            assert len(lines) == 1, (name, done.stderr)
            assert lines[0].startswith("transcribe-sdk serve: "), (name, lines)
            assert "Traceback" not in done.stderr


def test_version() -> None:
    for args in (["--version"], ["serve", "--version"]):
        done = run_command(*args, timeout=60)
        assert done.returncode == 0
        assert done.stdout.startswith("transcribe-sdk ")


# -- stopping ------------------------------------------------------------------------------------
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_mid_transcription_exits_0(tmp_path: Path, sig: int) -> None:
    audio = long_wav(tmp_path / "long.wav", repeats=5)
    outcome: dict[str, object] = {}
    with command(tmp_path, "--shutdown-timeout", "1") as server:
        assert "auth OFF" in server.banner

        def transcribe() -> None:
            try:
                with httpx.Client(timeout=120) as http, audio.open("rb") as body:
                    outcome["status"] = http.post(
                        f"{server.base_url}/audio/transcriptions",
                        files={"file": ("long.wav", body)},
                        data={"model": MODEL},
                    ).status_code
            except httpx.HTTPError as exc:
                outcome["error"] = exc

        client = threading.Thread(target=transcribe)
        client.start()
        wait_for(lambda: health(server.base_url)["running"] == 1, what="the transcription")
        assert server.stop(sig) == 0
        client.join(STOP_TIMEOUT)
        log = server.log()
    assert "terminate called" not in log
    assert "Traceback" not in log
    # Cancelled after the grace period: the client is told, not left with an empty reply.
    assert outcome.get("status") == 503, (outcome, log)


def test_a_second_ctrl_c_stops_at_once_and_tells_the_client(tmp_path: Path) -> None:
    audio = long_wav(tmp_path / "long.wav", repeats=5)
    outcome: dict[str, object] = {}
    grace = 60  # far longer than the test allows: only the second Ctrl+C can end the request
    with command(tmp_path, "--shutdown-timeout", str(grace)) as server:

        def transcribe() -> None:
            with Client(base_url=server.base_url, api_key="", max_retries=0, timeout=120) as ours:
                try:
                    outcome["result"] = ours.transcribe(audio, model=MODEL)
                except TranscribeError as exc:
                    outcome["error"] = exc

        client = threading.Thread(target=transcribe)
        client.start()
        wait_for(lambda: health(server.base_url)["running"] == 1, what="the transcription")
        server.process.send_signal(signal.SIGINT)
        wait_for(lambda: "Shutting down" in server.log(), 30, "the first Ctrl+C's shutdown")
        before = len(server.log().splitlines())
        started = time.monotonic()
        server.process.send_signal(signal.SIGINT)
        assert server.process.wait(timeout=grace / 2) == 0
        took = time.monotonic() - started
        client.join(STOP_TIMEOUT)
        log = server.log()
    after = log.splitlines()[before:]
    print(f"exit {took:.2f} s after the second Ctrl+C", *after, sep="\n")
    assert "Traceback" not in log, log
    assert "terminate called" not in log, log
    assert len(after) <= 6, after  # a line or two of ours, and uvicorn's own closing lines
    error = outcome.get("error")
    assert isinstance(error, InternalServerError), (outcome, log)
    assert error.status_code == 503
    assert error.error_code == "server_shutting_down"


def test_several_workers_serve_and_stop(tmp_path: Path) -> None:
    with command(tmp_path, "--workers", "2") as server:
        assert "2 worker(s)" in server.banner
        # the threads each slot decodes with (by default CTranslate2's own count)
        assert "x 2, CTranslate2's default threads each" in server.banner
        for _ in range(4):
            assert health(server.base_url)["status"] == "ok"
        with Client(base_url=server.base_url, api_key="", max_retries=0, timeout=120) as ours:
            assert ours.transcribe(HELLO, model=MODEL, response_format="text")
        assert server.stop(signal.SIGTERM) == 0
        assert "terminate called" not in server.log()


# -- the key -------------------------------------------------------------------------------------
def test_the_key_from_a_file_and_never_in_the_log(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text(KEY + "\n")
    with command(tmp_path, "--api-key-file", str(key_file)) as server:
        assert "auth on" in server.banner
        assert KEY not in server.banner
        with httpx.Client(timeout=60) as http:
            assert http.get(f"{server.base_url}/models").status_code == 401
            keyed = {"Authorization": f"bearer {KEY}"}
            assert http.get(f"{server.base_url}/models", headers=keyed).status_code == 200
            # A careless client puts the key in the URL too: the log still must not show it.
            leaky = http.get(f"{server.base_url}/models?api_key={KEY}", headers=keyed)
            assert leaky.status_code == 200
            assert http.get(f"{server.base_url}/{KEY}", headers=keyed).status_code == 404
        with Client(base_url=server.base_url, api_key=KEY, max_retries=0, timeout=120) as ours:
            assert ours.transcribe(HELLO, model=MODEL).provider == "local"
        assert server.stop() == 0
        log = server.log()
    assert '"GET /v1/models HTTP/1.1" 401' in log
    assert "POST /v1/audio/transcriptions" in log
    assert KEY not in log


def test_the_key_from_the_environment(tmp_path: Path) -> None:
    env = {**env_without_keys(), "TRANSCRIBE_SERVER_API_KEY": KEY}
    with command(tmp_path, env=env) as server:
        assert "auth on" in server.banner
        assert httpx.get(f"{server.base_url}/models", timeout=30).status_code == 401
        assert server.stop(signal.SIGTERM) == 0


# -- memory --------------------------------------------------------------------------------------
def _chunked_upload(port: int, total: int) -> bytes:
    """A multipart upload of ``total`` zero bytes, chunked; the answer, if one came."""
    part = b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\n'
    chunk = b"%x\r\n" % MiB + bytes(MiB) + b"\r\n"
    answer = b""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(
            b"POST /v1/audio/transcriptions HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: multipart/form-data; boundary=b\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n" + b"%x\r\n" % len(part) + part + b"\r\n"
        )
        with contextlib.suppress(OSError):
            for _ in range(total // MiB):
                sock.sendall(chunk)
        with contextlib.suppress(OSError):
            while piece := sock.recv(65536):
                answer += piece
    return answer


def test_memory_of_a_gigabyte_upload_and_an_hour_of_silence(tmp_path: Path) -> None:
    if not Path("/proc/self/status").exists():
        pytest.skip("needs Linux's /proc to read the server's memory")
    hour = silent_flac(tmp_path / "hour.flac", 3600)
    with command(tmp_path) as server:  # the defaults: 512 MiB bodies, one hour of audio
        port = int(server.base_url.rsplit(":", 1)[1].split("/")[0])
        health(server.base_url)  # everything the first request loads is loaded
        if not server.rss_peak_reset():
            pytest.skip("cannot reset the peak RSS mark of the server")
        before = server.status_kb("VmRSS")
        answer = _chunked_upload(port, 1024 * MiB)
        upload_growth_mb = (server.status_kb("VmHWM") - before) / 1024
        if answer:
            assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
        assert upload_growth_mb < 100, f"{upload_growth_mb:.0f} MB"

        server.rss_peak_reset()
        before = server.status_kb("VmRSS")
        with httpx.Client(timeout=300) as http:
            silent = http.post(
                f"{server.base_url}/audio/transcriptions",
                files={"file": ("hour.flac", hour.read_bytes())},
                data={"model": MODEL, "response_format": "verbose_json"},
            )
        silence_growth_mb = (server.status_kb("VmHWM") - before) / 1024
        assert silent.status_code == 200, silent.text
        assert silent.json()["text"] == ""
        assert silent.json()["duration"] == 3600
        # 230 MB of samples; voice detection two minutes at a time adds little (docs/server.md).
        assert silence_growth_mb < 450, f"{silence_growth_mb:.0f} MB"
        assert server.stop() == 0
    print(f"upload growth {upload_growth_mb:.0f} MB, silence growth {silence_growth_mb:.0f} MB")
