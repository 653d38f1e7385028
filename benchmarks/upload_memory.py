"""How much memory an upload of a large file costs: transcribe-sdk against raw httpx and openai.

Run on demand (pytest does not collect this folder)::

    python benchmarks/upload_memory.py              # a 512 MB file
    python benchmarks/upload_memory.py --size-mb 64 --sparse --no-tracemalloc

What it does:

1. Starts a loopback HTTP/1.1 server on 127.0.0.1 in a separate process (so its memory is not
   counted) that reads every request body, by ``Content-Length`` or chunked, throws the bytes
   away while counting them, and answers ``{"text": "ok"}`` as ``application/json``.
2. Writes a temporary ``.wav`` file of ``--size-mb`` MB (MB = 2**20 bytes here): real random
   blocks by default, or a sparse file with ``--sparse`` (quicker to make, reads as zeros).
3. For each variant, starts a fresh Python process that imports what the variant needs (for
   transcribe-sdk also its result models, which it otherwise imports on the first call: import
   time is measured on its own, by ``compare.py``), builds its client, resets the peak-RSS
   mark (Linux ``/proc/self/clear_refs``, where allowed), takes
   ``ru_maxrss`` as the baseline, uploads the file once, and takes ``ru_maxrss`` again. The
   difference is the peak memory the upload added. The time of the call gives the throughput.
   With tracemalloc on (the default), a second fresh process per variant measures the peak of
   Python allocations during the upload, so its overhead does not touch the timings.
4. Checks the server got the whole body, prints a table with ratios against raw httpx (an
   async variant's against raw httpx's ``AsyncClient``), and exits with status 1 if either
   transcribe-sdk client's peak increase is not under ``--limit-mb`` (32 MB: a streamed upload
   costs the same for any file size).

Variants: ``transcribe-sdk`` (``Client.transcribe(path)``), ``transcribe-sdk async``
(``AsyncClient.transcribe(path)``), ``httpx raw`` (``httpx.Client().post(files={"file":
open(path, "rb")})``), ``httpx raw async`` (the same with ``await httpx.AsyncClient().post``),
``openai Path`` (``audio.transcriptions.create(file=Path(path))``) and ``openai open()``
(``file=open(path, "rb")``). The async variants run on an asyncio loop in a thread of their
own, started before the baseline. Only public APIs of each library are used. Pick some with
``--only``. Nothing leaves 127.0.0.1; the file is deleted at the end unless ``--keep``.
"""

from __future__ import annotations

import argparse
import contextlib
import http.server
import json
import multiprocessing
import os
import resource
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection
from typing import Any

MB = 1024 * 1024
MODEL = "whisper-large-v3"
API_KEY = "sk-benchmark-not-a-real-key-0000"
LIMIT_MB = 32.0
WORKER_TIMEOUT = 900.0
VARIANTS = (
    "transcribe-sdk",
    "transcribe-sdk async",
    "httpx raw",
    "httpx raw async",
    "openai Path",
    "openai open()",
)
SDK_VARIANTS = ("transcribe-sdk", "transcribe-sdk async")
BASELINE = "httpx raw"
ASYNC_BASELINE = "httpx raw async"
"""Ratios: an async variant's against raw httpx's async client, the others' against its sync one."""


# -- the server (its own process) ----------------------------------------------------------------
class _Sink(http.server.BaseHTTPRequestHandler):
    """Reads each body and throws it away; ``GET /last`` tells how many bytes the last had."""

    protocol_version = "HTTP/1.1"
    timeout = 120
    last_body = 0

    def _discard(self, size: int) -> int:
        left = size
        while left:
            piece = self.rfile.read(min(MB, left))
            if not piece:
                raise ConnectionError(f"body ended {left} bytes early")
            left -= len(piece)
        return size

    def _discard_chunked(self) -> int:
        total = 0
        while True:
            size = int(self.rfile.readline(1024).split(b";", 1)[0], 16)
            if size == 0:
                break
            total += self._discard(size)
            self.rfile.read(2)
        while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
            pass
        return total

    def _answer(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            received = self._discard_chunked()
        else:
            received = self._discard(int(self.headers.get("Content-Length") or 0))
        type(self).last_body = received
        self._answer(b'{"text": "ok"}')

    def do_GET(self) -> None:
        self._answer(json.dumps({"last_body": type(self).last_body}).encode())

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _SinkServer(http.server.ThreadingHTTPServer):
    def server_bind(self) -> None:
        socketserver.TCPServer.server_bind(self)  # skip the reverse DNS lookup of HTTPServer
        self.server_name, self.server_port = "localhost", self.server_address[1]


def _serve(control: Connection) -> None:
    """The server process: report the port, serve until told to stop (or the parent is gone)."""
    with _SinkServer(("127.0.0.1", 0), _Sink) as server:
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1})
        thread.start()
        control.send(server.server_address[1])
        with contextlib.suppress(EOFError):
            control.recv()
        server.shutdown()
        thread.join()


@contextlib.contextmanager
def sink_server() -> Iterator[str]:
    """Run the server in a child process; yield its base URL."""
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    process = context.Process(target=_serve, args=(theirs,), name="upload-sink", daemon=True)
    process.start()
    theirs.close()
    try:
        if not ours.poll(30):
            raise RuntimeError("the server process did not start")
        yield f"http://127.0.0.1:{ours.recv()}/v1"
    finally:
        with contextlib.suppress(OSError):
            ours.send("stop")
        ours.close()
        process.join(10)
        if process.is_alive():
            process.terminate()
            process.join(5)


# -- one measurement (a fresh process) ----------------------------------------------------------
def _event_loop() -> tuple[Any, contextlib.ExitStack]:
    """An asyncio event loop in a thread of its own (anyio's blocking portal), and its closer."""
    from anyio.from_thread import start_blocking_portal

    stack = contextlib.ExitStack()
    return stack.enter_context(start_blocking_portal("asyncio")), stack


def _uploader(
    variant: str, base_url: str, path: str
) -> tuple[Callable[[], str], Callable[[], None]]:
    """Import what ``variant`` needs and build its client; return (upload, cleanup)."""
    if variant.startswith("transcribe-sdk"):
        import transcribe_sdk.models  # noqa: F401  (imported on first use otherwise)
    if variant == "transcribe-sdk":
        from transcribe_sdk import Client

        client = Client(api_key=API_KEY, base_url=base_url, max_retries=0, timeout=600)
        return lambda: client.transcribe(path, model=MODEL).text, client.close
    if variant == "transcribe-sdk async":
        from transcribe_sdk import AsyncClient

        # One event loop (in a portal thread) for the upload and the close; it is started
        # before the baseline so its own costs are not counted.
        portal, stack = _event_loop()
        aclient = AsyncClient(api_key=API_KEY, base_url=base_url, max_retries=0, timeout=600)
        stack.callback(portal.call, aclient.close)

        async def upload() -> str:
            return (await aclient.transcribe(path, model=MODEL)).text

        return lambda: portal.call(upload), stack.close
    if variant == "httpx raw async":
        import httpx

        portal, stack = _event_loop()
        ahttp = httpx.AsyncClient(timeout=600)
        stack.callback(portal.call, ahttp.aclose)

        async def apost() -> str:
            with open(path, "rb") as handle:
                response = await ahttp.post(
                    f"{base_url}/audio/transcriptions",
                    files={"file": handle},
                    data={"model": MODEL},
                    headers={"Authorization": f"Bearer {API_KEY}"},
                )
            response.raise_for_status()
            return str(response.json()["text"])

        return lambda: portal.call(apost), stack.close
    if variant == "httpx raw":
        import httpx

        http = httpx.Client(timeout=600)

        def post() -> str:
            with open(path, "rb") as handle:
                response = http.post(
                    f"{base_url}/audio/transcriptions",
                    files={"file": handle},
                    data={"model": MODEL},
                    headers={"Authorization": f"Bearer {API_KEY}"},
                )
            response.raise_for_status()
            return str(response.json()["text"])

        return post, http.close
    if variant.startswith("openai"):
        from pathlib import Path

        from openai import OpenAI

        openai = OpenAI(base_url=base_url, api_key=API_KEY, max_retries=0, timeout=600)

        def create() -> str:
            if variant == "openai Path":
                return openai.audio.transcriptions.create(file=Path(path), model=MODEL).text
            with open(path, "rb") as handle:
                return openai.audio.transcriptions.create(file=handle, model=MODEL).text

        return create, openai.close
    raise SystemExit(f"unknown variant {variant!r}; choose from {', '.join(VARIANTS)}")


def _maxrss_bytes() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # kB on Linux, bytes on macOS


def _reset_peak() -> bool:
    # The peak so far includes import-time spikes; from here on only the upload should count.
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
    except OSError:
        return False
    return True


def _last_body(base_url: str) -> int:
    import urllib.request

    with urllib.request.urlopen(f"{base_url}/last", timeout=30) as response:
        return int(json.load(response)["last_body"])


def worker(variant: str, base_url: str, path: str, trace: bool) -> dict[str, Any]:
    """Measure one upload in this (fresh) process."""
    import gc
    import tracemalloc

    upload, cleanup = _uploader(variant, base_url, path)
    gc.collect()
    reset = _reset_peak()
    before = _maxrss_bytes()
    if trace:
        tracemalloc.start()
    started = time.perf_counter()
    text = upload()
    seconds = time.perf_counter() - started
    traced = tracemalloc.get_traced_memory()[1] if trace else None
    tracemalloc.stop()
    after = _maxrss_bytes()
    cleanup()
    return {
        "variant": variant,
        "text": text,
        "seconds": seconds,
        "rss_increase": after - before,
        "peak_reset": reset,
        "traced_peak": traced,
        "received": _last_body(base_url),
    }


def measure(variant: str, base_url: str, path: str, trace: bool) -> dict[str, Any]:
    """Run :func:`worker` in a fresh interpreter and return what it found."""
    command = [sys.executable, os.path.abspath(__file__), "--worker", variant]
    command += ["--url", base_url, "--file", path] + (["--trace"] if trace else [])
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=WORKER_TIMEOUT, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{variant} failed:\n{done.stderr.strip()}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# -- the run -------------------------------------------------------------------------------------
def make_file(size_mb: int, sparse: bool, folder: str | None) -> str:
    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115
        prefix="upload-bench-", suffix=".wav", dir=folder, delete=False
    )
    with handle:
        handle.write(b"RIFF\xff\xff\xff\xffWAVE")
        if sparse:
            handle.truncate(size_mb * MB)
        else:
            block = os.urandom(MB)
            handle.write(block[12:])
            for _ in range(size_mb - 1):
                handle.write(block)
    return handle.name


def _ratio(value: float | None, base: float | None) -> str:
    if value is None or base is None or base <= 0:
        return "n/a"
    return f"{value / base:.2f}x"


def _baseline(variant: str, rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    name = ASYNC_BASELINE if variant.endswith("async") else BASELINE
    return next((r for r in rows if r["variant"] == name), None)


def render(rows: list[dict[str, Any]], size_mb: int) -> str:
    header = (
        f"{'variant':<22}{'peak RSS +MB':>14}{'traced +MB':>12}{'time s':>9}{'MB/s':>9}"
        f"{'RSS vs httpx':>14}{'MB/s vs httpx':>15}"
    )
    lines = [f"upload of {size_mb} MB, peak memory increase over the post-import baseline", header]
    lines.append("-" * len(header))
    for row in rows:
        base = _baseline(row["variant"], rows)
        rss = row["rss_increase"] / MB
        traced = None if row.get("traced_peak") is None else row["traced_peak"] / MB
        speed = size_mb / row["seconds"]
        base_rss = None if base is None else base["rss_increase"] / MB
        base_speed = None if base is None else size_mb / base["seconds"]
        lines.append(
            f"{row['variant']:<22}{rss:>14.1f}"
            f"{'-' if traced is None else f'{traced:.1f}':>12}"
            f"{row['seconds']:>9.2f}{speed:>9.0f}"
            f"{_ratio(rss, base_rss):>14}{_ratio(speed, base_speed):>15}"
        )
    lines.append("(ratios: async variants against httpx raw async, the others against httpx raw)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Peak memory and speed of a large upload.")
    parser.add_argument("--size-mb", type=int, default=512, help="file size in MB (2**20 B)")
    parser.add_argument("--sparse", action="store_true", help="a sparse file instead of data")
    parser.add_argument("--only", action="append", choices=VARIANTS, help="variants to run")
    parser.add_argument("--no-tracemalloc", action="store_true", help="skip the traced runs")
    parser.add_argument("--tmpdir", help="where to write the file (default: the system's)")
    parser.add_argument("--keep", action="store_true", help="keep the file afterwards")
    parser.add_argument(
        "--limit-mb", type=float, default=LIMIT_MB, help="transcribe-sdk's allowed increase"
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    parser.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        print(json.dumps(worker(args.worker, args.url, args.file, args.trace)))
        return 0
    if args.size_mb < 1:
        parser.error("--size-mb must be at least 1")

    variants = args.only or list(VARIANTS)
    path = make_file(args.size_mb, args.sparse, args.tmpdir)
    size = os.path.getsize(path)
    rows = []
    try:
        with sink_server() as base_url:
            for variant in variants:
                row = measure(variant, base_url, path, trace=False)
                if not args.no_tracemalloc:
                    row["traced_peak"] = measure(variant, base_url, path, trace=True)["traced_peak"]
                if row["text"] != "ok" or row["received"] < size:
                    raise RuntimeError(f"{variant}: the server got {row['received']} of {size} B")
                if not row["peak_reset"]:
                    print(f"note: {variant}: peak RSS could not be reset", file=sys.stderr)
                rows.append(row)
                print(f"  {variant}: done", file=sys.stderr)
    finally:
        if not args.keep:
            os.unlink(path)
    print(render(rows, args.size_mb))

    limit = args.limit_mb
    ok = True
    for ours in (r for r in rows if r["variant"] in SDK_VARIANTS):
        increase = ours["rss_increase"] / MB
        verdict = "PASS" if increase < limit else "FAIL"
        ok = ok and verdict == "PASS"
        print(
            f"{verdict}: {ours['variant']} peak RSS increase {increase:.1f} MB "
            f"(limit {limit:.0f} MB)"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
