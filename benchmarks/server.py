"""``transcribe-sdk serve`` under load: its memory for hostile inputs and its throughput.

Run on demand (pytest does not collect this folder), from the repository root with the
project's environment (``pip install -e ".[local]"``)::

    python benchmarks/server.py                    # everything, about two minutes on 2 cores
    python benchmarks/server.py --requests 4       # fewer requests per client

What it does, against the installed ``transcribe-sdk serve`` started on a free port of 127.0.0.1
with its defaults (512 MiB bodies, one hour of audio, two transcriptions at once):

1. **1 GiB upload**: sends a chunked multipart upload of 1 GiB over a raw socket and reads
   the answer (a 413 once the body passes 512 MiB). Reports the server's peak RSS during it,
   over its RSS before (the kernel's peak mark, ``VmHWM``, reset first through
   ``/proc/PID/clear_refs``).
2. **An hour of silence**: posts a FLAC of an hour of digital silence (about 650 KB), which the
   server decodes (230 MB of samples) and gates with voice detection; reports the peak RSS
   growth and the time to the (empty) answer.
3. **Requests per second**: ``hello.wav`` (4.2 s of speech) from 1, 2 and 4 concurrent clients,
   ``--requests`` each, after one warm-up request.

Linux only (it reads ``/proc``). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
HELLO = ROOT / "tests" / "fixtures" / "hello.wav"
MiB = 1024 * 1024


def _status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for {pid}")


def _reset_peak(pid: int) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def silent_flac(path: Path, seconds: int) -> Path:
    import av
    import numpy as np

    with av.open(str(path), "w", format="flac") as out:
        stream = out.add_stream("flac", rate=16000, layout="mono")
        block = np.zeros((1, 160000), dtype=np.int16)
        for _ in range(seconds // 10):
            frame = av.AudioFrame.from_ndarray(block, format="s16", layout="mono")
            frame.sample_rate = 16000
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


def chunked_upload(port: int, total: int) -> bytes:
    part = b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\n'
    chunk = b"%x\r\n" % MiB + bytes(MiB) + b"\r\n"
    answer = b""
    with socket.create_connection(("127.0.0.1", port), timeout=120) as sock:
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


def throughput(base_url: str, clients: int, requests: int) -> float:
    data = HELLO.read_bytes()

    def one_client() -> None:
        with httpx.Client(timeout=300) as http:
            for _ in range(requests):
                answer = http.post(
                    f"{base_url}/audio/transcriptions",
                    files={"file": ("hello.wav", data)},
                    data={"model": "whisper-1", "response_format": "text"},
                )
                answer.raise_for_status()

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        for future in [pool.submit(one_client) for _ in range(clients)]:
            future.result()
    return clients * requests / (time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=8, help="requests per client (8)")
    args = parser.parse_args()
    command = Path(sys.executable).with_name("transcribe-sdk")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRANSCRIBE_")}
    env["HF_HUB_OFFLINE"] = "1"
    server = subprocess.Popen(
        [str(command), "serve", "--port", "0", "--queue-timeout", "600"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    rows: list[tuple[str, str]] = []
    try:
        assert server.stdout is not None
        banner = server.stdout.readline()
        port = int(banner.split("http://127.0.0.1:", 1)[1].split("/", 1)[0])
        base_url = f"http://127.0.0.1:{port}/v1"
        httpx.get(f"{base_url}/models", timeout=60).raise_for_status()
        pid = server.pid
        rows.append(
            ("server RSS after start-up (model loaded)", f"{_status_kb(pid, 'VmRSS') // 1024} MB")
        )

        _reset_peak(pid)
        before = _status_kb(pid, "VmRSS")
        started = time.perf_counter()
        answer = chunked_upload(port, 1024 * MiB)
        took = time.perf_counter() - started
        growth = (_status_kb(pid, "VmHWM") - before) / 1024
        status = answer[9:12].decode() if answer else "connection closed"
        rows.append(
            (
                "1 GiB chunked upload, cap 512 MiB: peak RSS growth",
                f"{growth:.0f} MB (answer {status}, {took:.1f} s)",
            )
        )

        with tempfile.TemporaryDirectory() as tmp:
            hour = silent_flac(Path(tmp) / "hour.flac", 3600)
            _reset_peak(pid)
            before = _status_kb(pid, "VmRSS")
            started = time.perf_counter()
            silent = httpx.post(
                f"{base_url}/audio/transcriptions",
                files={"file": ("hour.flac", hour.read_bytes())},
                data={"model": "whisper-1"},
                timeout=600,
            )
            took = time.perf_counter() - started
            growth = (_status_kb(pid, "VmHWM") - before) / 1024
            rows.append(
                (
                    "an hour of silence (656 KB FLAC): peak RSS growth",
                    f"{growth:.0f} MB ({silent.status_code}, "
                    f"text {silent.json()['text']!r}, {took:.1f} s)",
                )
            )

        throughput(base_url, 1, 1)  # warm-up
        for clients in (1, 2, 4):
            rate = throughput(base_url, clients, args.requests)
            rows.append(
                (f"hello.wav (4.2 s), {clients} concurrent client(s)", f"{rate:.2f} requests/s")
            )
    finally:
        server.send_signal(signal.SIGINT)
        code = server.wait(timeout=60)
    print(f"| measure (cores: {os.cpu_count()}) | result |\n| --- | --- |")
    for name, value in rows:
        print(f"| {name} | {value} |")
    print(f"\nserver exit code after SIGINT: {code}")
    return 0


if __name__ == "__main__":
    threading.current_thread().name = "benchmark"
    raise SystemExit(main())
