"""Helpers for the server tests: a real uvicorn server on 127.0.0.1, in a thread of the test
process (so a test can look inside it) or as the installed ``transcribe-sdk`` command."""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

FIXTURES = Path(__file__).parent / "fixtures"
STOP_TIMEOUT = 30.0
"""Seconds a server gets to stop (a loaded 2-core box is slow; a hang fails the test)."""


@dataclass
class Running:
    base_url: str
    port: int
    state: Any  # transcribe_sdk.server._app.Server


@contextlib.contextmanager
def serving(engine: Any = None, **settings: Any) -> Iterator[Running]:
    """``create_app`` under uvicorn on a free port, served from a thread, stopped on exit."""
    import uvicorn
    from internals import ServerSettings, bind, create_app
    from internals import uvicorn_options as _uvicorn_options

    from transcribe_sdk.local import LocalApp, shared_engine

    chosen = ServerSettings(**settings)
    if engine is None and "max_audio_seconds" in settings:
        from transcribe_sdk.local import WhisperEngine

        engine = WhisperEngine(max_audio_seconds=chosen.max_audio_seconds)
    app = create_app(LocalApp(engine or shared_engine(), honour_model_field=False), chosen)
    options = {**_uvicorn_options(chosen), "log_config": None, "access_log": False}
    server = uvicorn.Server(uvicorn.Config(app, **options))
    sock = bind("127.0.0.1", 0)
    port = sock.getsockname()[1]
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="server")
    thread.start()
    deadline = time.monotonic() + STOP_TIMEOUT
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started, "the server did not start"
    try:
        yield Running(f"http://127.0.0.1:{port}/v1", port, app.state.server)
    finally:
        server.should_exit = True
        thread.join(STOP_TIMEOUT)
        sock.close()
        assert not thread.is_alive(), "the server did not stop"


def wait_for(predicate: Any, timeout: float = 60.0, what: str = "the condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {timeout} s")
        time.sleep(0.05)


def health(base_url: str) -> dict[str, Any]:
    root = base_url.rsplit("/v1", 1)[0]
    data: dict[str, Any] = httpx.get(f"{root}/health", timeout=10).json()
    return data


def long_wav(path: Path, repeats: int) -> Path:
    """``long_speech.wav`` (63 s of speech) ``repeats`` times over, as one WAV."""
    with wave.open(str(FIXTURES / "long_speech.wav"), "rb") as source:
        params = source.getparams()
        frames = source.readframes(source.getnframes())
    with wave.open(str(path), "wb") as out:
        out.setparams(params)
        for _ in range(repeats):
            out.writeframes(frames)
    return path


def silent_flac(path: Path, seconds: int) -> Path:
    """``seconds`` of digital silence as FLAC (an hour is about 650 KB)."""
    import av
    import numpy as np

    with av.open(str(path), "w", format="flac") as out:
        stream = out.add_stream("flac", rate=16000, layout="mono")
        block = np.zeros((1, 16000 * 10), dtype=np.int16)
        for _ in range(seconds // 10):
            frame = av.AudioFrame.from_ndarray(block, format="s16", layout="mono")
            frame.sample_rate = 16000
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


def raw_exchange(port: int, data: bytes, timeout: float = 30.0) -> bytes:
    """Send ``data`` on a new connection and read until the server closes it."""
    answer = b""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        with contextlib.suppress(OSError):
            sock.sendall(data)
        with contextlib.suppress(OSError):
            while chunk := sock.recv(65536):
                answer += chunk
    return answer


# -- the installed command ------------------------------------------------------------------
def script() -> str:
    path = Path(sys.executable).with_name("transcribe-sdk")
    if not path.exists():
        pytest.skip("the transcribe-sdk console script is not installed")
    return str(path)


def _read_line(stream: Any, timeout: float) -> str:
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: lines.put(stream.readline()), daemon=True).start()
    try:
        return lines.get(timeout=timeout)
    except queue.Empty:
        pytest.fail(f"the server printed nothing within {timeout} s")


@dataclass
class Process:
    process: subprocess.Popen[str]
    base_url: str
    banner: str
    stderr: Path

    def stop(self, sig: int = signal.SIGINT) -> int:
        self.process.send_signal(sig)
        return self.process.wait(timeout=STOP_TIMEOUT)

    def log(self) -> str:
        return self.stderr.read_text()

    def rss_peak_reset(self) -> bool:
        """Reset the kernel's peak-RSS mark (VmHWM) of the server; False where not allowed."""
        try:
            Path(f"/proc/{self.process.pid}/clear_refs").write_text("5")
        except OSError:
            return False
        return True

    def status_kb(self, field: str) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
        raise AssertionError(f"no {field} in /proc status")


def env_without_keys() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRANSCRIBE_")}
    env["HF_HUB_OFFLINE"] = "1"
    return env


@contextlib.contextmanager
def command(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> Iterator[Process]:
    """``transcribe-sdk serve --port 0 ARGS`` until its banner; killed if still alive at the end."""
    stderr = tmp_path / f"stderr-{time.monotonic_ns()}.log"
    with stderr.open("wb") as log:
        process = subprocess.Popen(
            [script(), "serve", "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=log,
            env=env or env_without_keys(),
            text=True,
        )
    try:
        banner = _read_line(process.stdout, timeout=120)
        port = banner.split("http://127.0.0.1:", 1)[-1].split("/", 1)[0]
        assert port.isdigit(), (banner, stderr.read_text())
        yield Process(process, f"http://127.0.0.1:{port}/v1", banner, stderr)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT)
        if process.stdout is not None:
            process.stdout.close()


def in_process(engine: Any) -> Any:
    """A ``Client`` on ``engine``'s model in this process, where a test's spy can watch it (a
    ``base_url="local"`` client runs the model in a process of its own)."""
    from transcribe_sdk import Client
    from transcribe_sdk.local import LocalApp, LocalTransport

    transport = LocalTransport(LocalApp(engine))
    http = httpx.Client(transport=transport, base_url="http://local.invalid/v1")
    return Client(http_client=http, api_key="")
