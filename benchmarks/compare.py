"""transcribe-sdk against raw httpx and openai-python doing the same uploads, in one run.

Run on demand from the repository root with any environment that has transcribe-sdk, httpx and
openai installed (pytest does not collect this folder)::

    python benchmarks/compare.py            # the full run, about 6 minutes
    python benchmarks/compare.py --quick    # a smoke run, about a minute

Every request goes to a loopback server on 127.0.0.1 that this script starts in a separate
process (``--serve``): an asyncio protocol that parses each HTTP/1.1 head, reads the body by
``Content-Length`` or chunked, throws it away, and answers ``{"text":"ok"}`` with keep-alive.
The server counts its own CPU time, so the report shows what share of a core it used; a
hand-written raw-socket client (the ``ceiling`` row) shows how many requests per second it can
answer. On a machine with two or more CPUs the server is pinned to one core and every client
process to another (``os.sched_setaffinity``; ``--no-pin`` to leave them free), so a client's
threads cannot borrow the server's core and the numbers compare like with like.

What is measured, each client in fresh processes, the variants interleaved round by round so a
noisy neighbour hurts them alike, for each way a user passes the audio (``--kinds``): a
**path** (transcribe-sdk gets the path, openai a ``pathlib.Path``, raw httpx a file it opens
per request, as a user of it must), an open **file object** (opened per request), and
**bytes** read once up front:

1. **Async, 64 in flight** (``--inflight``): ``--async-requests`` uploads of a 32 KiB WAV
   (``--small-kib``) by 64 worker tasks that each send one request after another: requests
   per second, client CPU per request, and the event loop's worst lag, from a task that
   sleeps 1 ms in a loop and records how late it wakes. transcribe-sdk and raw httpx run with
   httpx's default connection limits (transcribe-sdk's clients build the same: 100
   connections, 20 kept alive); openai-python keeps its own.
2. **Sync CPU per request**: ``--cpu-requests`` uploads of the same file one at a time;
   ``time.process_time()`` per request after a warm-up.
3. **File size**: the async measurement for paths again with 1 MiB and 25 MiB files (fewer
   requests and fewer in flight as the files grow, see ``SIZES``).
4. **A large upload** (512 MiB): MB/s and peak RSS increase, by ``upload_memory.py``'s own
   fresh-process measurement, sync and async (the async client against raw httpx's
   ``AsyncClient``), also with a 32 MiB file to show whether memory grows with size.
5. **Import time**: a fresh interpreter times its own ``import``, CPU time, byte code cached.

Every client is driven through its public API only. It prints medians and ratios against raw
httpx: first the targets of issue 21 (point 5) and whether each is met, then every other
measure as reported, then the same two tables as markdown for ``docs/performance.md``.
Machines are shared: read the ratios from one run, not absolute times across runs. The exit
status is 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import platform
import resource
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import upload_memory

ROOT = Path(__file__).resolve().parent.parent
MB = upload_memory.MB
KIB = 1024
MODEL = upload_memory.MODEL
API_KEY = upload_memory.API_KEY
LANGUAGE = "en"
WORKER_TIMEOUT = 600.0

SDK, HTTPX, OPENAI = "transcribe-sdk", "httpx raw", "openai"
CLIENTS = (SDK, HTTPX, OPENAI)
KINDS = ("path", "file object", "bytes")
CEILING = "raw sockets (ceiling)"
PHASES = ("async", "cpu", "sizes", "upload", "imports")
IMPORTS = {
    "httpx, pydantic": "import httpx, pydantic",
    SDK: "import transcribe_sdk",
    OPENAI: "import openai",
}
SIZES = {  # file size in KiB: (requests in a full run, in flight)
    32: (1000, 64),
    1024: (300, 64),
    25 * 1024: (40, 8),
}
"""The file-size sweep (paths, async). 25 MiB files go 8 at a time: openai-python reads a
``Path`` whole, and 64 of them at once would take 1.6 GB."""

# The targets of issue 21 (point 5), each against raw httpx in the same run.
SYNC_CPU_MAX = 1.1  # sync paths, 32 KiB one at a time: CPU per request at most 1.1x raw httpx's.
ASYNC_RPS_MIN = 1.0  # async paths, 32 KiB, 64 in flight: at least raw httpx's requests/s.
LARGE_MB_S_MIN = 1.0  # 512 MiB path, sync and async: at least raw httpx's MB/s (sync vs sync,
# async vs httpx.AsyncClient) ...
PEAK_GROWTH_MAX_MB = upload_memory.LIMIT_MB  # ... and a peak RSS increase under 32 MiB
# (``--limit-mb`` to judge another).


# == the server (its own process) ==============================================================
RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 13\r\n"
    b'Connection: keep-alive\r\n\r\n{"text":"ok"}'
)
HEAD_LIMIT = 64 * 1024
LINE_LIMIT = 1024
READ_BUFFER = memoryview(bytearray(1024 * 1024))  # one loop thread: every connection shares it


@dataclass
class ServerStats:
    requests: int = 0
    connections: int = 0
    last_body: int = 0
    body_bytes: int = 0
    errors: int = 0

    def as_json(self) -> bytes:
        return json.dumps(
            {
                "requests": self.requests,
                "connections": self.connections,
                "last_body": self.last_body,
                "body_bytes": self.body_bytes,
                "errors": self.errors,
                "cpu": time.process_time(),
                "wall": time.monotonic(),
            }
        ).encode()


class SinkProtocol(asyncio.BufferedProtocol):
    """One connection: heads parsed, bodies counted and dropped, ``{"text":"ok"}`` answered.

    ``GET`` (any path) answers the server's counters instead, ``last_body`` among them, which
    is what ``upload_memory.py``'s worker asks ``/last`` for.
    """

    def __init__(self, stats: ServerStats) -> None:
        self.stats = stats
        self.transport: asyncio.Transport | None = None
        self.head = bytearray()
        self.line = bytearray()
        self.state = "head"  # head | body | size | data | data-end | trailer
        self.left = 0
        self.received = 0
        self.close_after = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.stats.connections += 1

    def get_buffer(self, sizehint: int) -> memoryview:
        return READ_BUFFER

    def buffer_updated(self, nbytes: int) -> None:
        try:
            self._feed(READ_BUFFER[:nbytes])
        except ValueError:
            self.stats.errors += 1
            if self.transport is not None:
                self.transport.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                self.transport.close()

    def _feed(self, data: memoryview) -> None:
        pos, end = 0, len(data)
        while pos < end:
            if self.state in ("body", "data"):
                take = min(self.left, end - pos)
                pos += take
                self.left -= take
                self.received += take
                if self.left == 0:
                    if self.state == "body":
                        self._answer()
                    else:
                        self.state = "data-end"
                continue
            if self.state == "head":
                pos = self._take_head(data, pos)
                continue
            line, pos = self._take_line(data, pos)
            if line is None:
                return
            if self.state == "size":
                self.left = int(line.split(b";", 1)[0].strip() or b"x", 16)
                self.state = "data" if self.left else "trailer"
            elif self.state == "data-end":
                self.state = "size"
            elif not line.strip():  # the blank line after the (usually absent) trailers
                self._answer()

    def _take_head(self, data: memoryview, pos: int) -> int:
        window = data[pos : pos + HEAD_LIMIT - len(self.head) + 1]
        search_from = max(0, len(self.head) - 3)
        self.head += window
        found = self.head.find(b"\r\n\r\n", search_from)
        if found < 0:
            if len(self.head) > HEAD_LIMIT:
                raise ValueError("head too long")
            return pos + len(window)
        used = found + 4 - (len(self.head) - len(window))
        head = bytes(self.head[:found])
        self.head.clear()
        self._start(head)
        return pos + used

    def _take_line(self, data: memoryview, pos: int) -> tuple[bytes | None, int]:
        window = bytes(data[pos : pos + LINE_LIMIT])
        found = window.find(b"\n")
        if found < 0:
            self.line += window
            if len(self.line) > LINE_LIMIT:
                raise ValueError("line too long")
            return None, pos + len(window)
        line = bytes(self.line) + window[:found]
        self.line.clear()
        return line.rstrip(b"\r"), pos + found + 1

    def _start(self, head: bytes) -> None:
        request_line, *header_lines = head.split(b"\r\n")
        method = request_line.split(b" ", 1)[0]
        headers: dict[bytes, bytes] = {}
        for raw in header_lines:
            name, _, value = raw.partition(b":")
            headers[name.strip().lower()] = value.strip()
        self.close_after = headers.get(b"connection", b"").lower() == b"close"
        if method != b"POST":
            body = self.stats.as_json()
            self._send(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                + str(len(body)).encode()
                + b"\r\n\r\n"
                + body
            )
            return
        if b"chunked" in headers.get(b"transfer-encoding", b"").lower():
            self.state = "size"
            return
        self.left = int(headers.get(b"content-length", b"0"))
        if self.left:
            self.state = "body"
        else:
            self._answer()

    def _answer(self) -> None:
        self.stats.requests += 1
        self.stats.last_body = self.received
        self.stats.body_bytes += self.received
        self.received = 0
        self.state = "head"
        self._send(RESPONSE)

    def _send(self, data: bytes) -> None:
        if self.transport is None:
            return
        self.transport.write(data)
        if self.close_after:
            self.transport.close()


async def _serve() -> None:
    stats = ServerStats()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SinkProtocol(stats), "127.0.0.1", 0, backlog=1024, reuse_address=True
    )
    print(server.sockets[0].getsockname()[1], flush=True)
    # Serve until the parent closes our stdin (or dies); the reading thread costs no CPU.
    await loop.run_in_executor(None, sys.stdin.buffer.read)
    server.close()
    await server.wait_closed()


@contextlib.contextmanager
def sink_server() -> Iterator[tuple[str, int]]:
    """Start the server in a child process; yield its base URL and process id."""
    process = subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), "--serve"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline())
        yield f"http://127.0.0.1:{port}/v1", process.pid
    finally:
        if process.stdin is not None:
            process.stdin.close()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.terminate()
            process.wait(5)


def server_stats(base_url: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{base_url}/stats", timeout=30) as response:
        stats: dict[str, Any] = json.load(response)
    return stats


def server_share(before: dict[str, Any], after: dict[str, Any]) -> dict[str, float]:
    """The server's CPU between two snapshots: share of one core, and µs per request."""
    cpu = after["cpu"] - before["cpu"]
    wall = after["wall"] - before["wall"]
    served = after["requests"] - before["requests"]
    return {
        "server_cpu_share": cpu / wall if wall > 0 else 0.0,
        "server_us_per_request": cpu / served * 1e6 if served else 0.0,
        # Connections opened while the clock ran (less the one that took this snapshot).
        "server_connections": float(after["connections"] - before["connections"] - 1),
    }


# == the clients ===============================================================================
def make_wav(path: Path, size: int) -> None:
    """A valid 16 kHz mono 16-bit WAV of exactly ``size`` bytes (random samples)."""
    frames = (size - 44) // 2 * 2
    header = b"RIFF" + struct.pack("<I", 36 + frames) + b"WAVEfmt "
    header += struct.pack("<IHHIIHH", 16, 1, 1, 16000, 32000, 2, 16)
    header += b"data" + struct.pack("<I", frames)
    with path.open("wb") as handle:
        handle.write(header)
        left = frames
        while left:
            block = os.urandom(min(left, MB))
            handle.write(block)
            left -= len(block)


def _form() -> dict[str, str]:
    return {"model": MODEL, "language": LANGUAGE, "response_format": "json"}


@dataclass
class Upload:
    """How one request takes its audio: a path, a file object opened for it, or bytes."""

    kind: str
    path: str
    data: bytes = b""

    @contextlib.contextmanager
    def source(self, client: str) -> Iterator[Any]:
        if self.kind == "bytes":
            yield ("audio.wav", self.data)
        elif self.kind == "path" and client == SDK:
            yield self.path
        elif self.kind == "path" and client == OPENAI:
            yield Path(self.path)
        else:  # a file object, and a path given to raw httpx: httpx takes open files
            with open(self.path, "rb") as handle:
                yield handle


def sync_caller(
    variant: str, base_url: str, upload: Upload
) -> tuple[Callable[[], str], Callable[[], None]]:
    """Build ``variant``'s blocking client; return (one request, close)."""
    if variant == SDK:
        from transcribe_sdk import Client

        client = Client(api_key=API_KEY, base_url=base_url)

        def transcribe() -> str:
            with upload.source(SDK) as file:
                return client.transcribe(
                    file, model=MODEL, language=LANGUAGE, response_format="json"
                ).text

        return transcribe, client.close
    if variant == HTTPX:
        import httpx

        http = httpx.Client()
        url = f"{base_url}/audio/transcriptions"
        auth = {"Authorization": f"Bearer {API_KEY}"}

        def post() -> str:
            with upload.source(HTTPX) as file:
                response = http.post(url, files={"file": file}, data=_form(), headers=auth)
            response.raise_for_status()
            return str(response.json()["text"])

        return post, http.close
    if variant == OPENAI:
        from openai import OpenAI

        openai = OpenAI(base_url=base_url, api_key=API_KEY)

        def create() -> str:
            with upload.source(OPENAI) as file:
                return openai.audio.transcriptions.create(
                    file=file, model=MODEL, language=LANGUAGE, response_format="json"
                ).text

        return create, openai.close
    raise SystemExit(f"unknown variant {variant!r}")


async def async_caller(
    variant: str, base_url: str, upload: Upload
) -> tuple[Callable[[], Awaitable[str]], Callable[[], Awaitable[None]]]:
    """Build ``variant``'s async client; return (one request, close)."""
    if variant == SDK:
        from transcribe_sdk import AsyncClient

        client = AsyncClient(api_key=API_KEY, base_url=base_url)

        async def transcribe() -> str:
            with upload.source(SDK) as file:
                result = await client.transcribe(
                    file, model=MODEL, language=LANGUAGE, response_format="json"
                )
            return result.text

        return transcribe, client.close
    if variant == HTTPX:
        import httpx

        # httpx's default limits (100 connections, 20 kept alive), which transcribe-sdk's
        # AsyncClient also builds.
        http = httpx.AsyncClient()
        url = f"{base_url}/audio/transcriptions"
        auth = {"Authorization": f"Bearer {API_KEY}"}

        async def post() -> str:
            with upload.source(HTTPX) as file:
                response = await http.post(url, files={"file": file}, data=_form(), headers=auth)
            response.raise_for_status()
            return str(response.json()["text"])

        return post, http.aclose
    if variant == OPENAI:
        from openai import AsyncOpenAI

        openai = AsyncOpenAI(base_url=base_url, api_key=API_KEY)

        async def create() -> str:
            with upload.source(OPENAI) as file:
                result = await openai.audio.transcriptions.create(
                    file=file, model=MODEL, language=LANGUAGE, response_format="json"
                )
            return result.text

        return create, openai.close
    raise SystemExit(f"unknown variant {variant!r}")


def _raw_request(base_url: str, data: bytes) -> tuple[str, int, bytes]:
    """The whole request a minimal client would send, built once: (host, port, bytes)."""
    url = urllib.parse.urlsplit(base_url)
    boundary = "ceiling0boundary0000000000000000"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in _form().items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="hello.wav"\r\n'
        "Content-Type: audio/wav\r\n\r\n".encode()
    )
    body = b"".join(parts) + data + f"\r\n--{boundary}--\r\n".encode()
    head = (
        f"POST {url.path}/audio/transcriptions HTTP/1.1\r\nHost: {url.netloc}\r\n"
        f"Authorization: Bearer {API_KEY}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return url.hostname or "127.0.0.1", url.port or 80, head.encode() + body


async def _ceiling(base_url: str, data: bytes, count: int, inflight: int) -> None:
    """``count`` requests over ``inflight`` keep-alive connections with no HTTP library."""
    host, port, request = _raw_request(base_url, data)
    left = count

    async def connection() -> None:
        nonlocal left
        reader, writer = await asyncio.open_connection(host, port)
        while left > 0:
            left -= 1
            writer.write(request)
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            if await reader.readexactly(length) != b'{"text":"ok"}':
                raise RuntimeError("unexpected body")
        writer.close()
        await writer.wait_closed()

    await asyncio.gather(*(connection() for _ in range(min(inflight, count))))


# == the workers (each a fresh process) ========================================================
Clock = tuple[float, float, float, float]


def _clock() -> Clock:
    """Wall time, process CPU time, and its user and system parts (all threads)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return time.perf_counter(), time.process_time(), usage.ru_utime, usage.ru_stime


def _per_request(start: Clock, count: int) -> dict[str, float]:
    wall, cpu, user, system = (
        (end - begin) / count * 1e6 for begin, end in zip(start, _clock(), strict=True)
    )
    return {"wall_us": wall, "cpu_us": cpu, "user_us": user, "sys_us": system}


def _check_served(variant: str, before: dict[str, Any], after: dict[str, Any], count: int) -> None:
    served = after["requests"] - before["requests"]
    if served != count:
        raise RuntimeError(f"{variant}: the server answered {served} of {count} requests")


def _upload(kind: str, path: str) -> Upload:
    return Upload(kind, path, Path(path).read_bytes() if kind == "bytes" else b"")


def cpu_worker(args: argparse.Namespace) -> dict[str, Any]:
    call, close = sync_caller(args.variant, args.url, _upload(args.kind, args.file))
    for _ in range(args.warmup):
        if call() != "ok":
            raise RuntimeError(f"{args.variant}: unexpected answer")
    gc.collect()
    before = server_stats(args.url)
    start = _clock()
    for _ in range(args.count):
        call()
    timed = _per_request(start, args.count)
    after = server_stats(args.url)
    close()
    _check_served(args.variant, before, after, args.count)
    return {**timed, **server_share(before, after)}


class LagTicker:
    """A task that sleeps ``TICK`` seconds in a loop and records how late it wakes.

    Two lags per wake: on the wall clock (what an application sees, which on a shared machine
    includes time the process waited for a CPU), and in the loop thread's own CPU time (the
    loop busy with other work: what a client that blocks the loop adds, whatever the machine).
    """

    TICK = 0.001

    def __init__(self) -> None:
        self.lags: list[float] = []
        self.busy: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            asked, cpu = time.perf_counter(), time.thread_time()
            await asyncio.sleep(self.TICK)
            self.lags.append(time.perf_counter() - asked - self.TICK)
            self.busy.append(time.thread_time() - cpu - self.TICK)

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    async def stop(self) -> dict[str, float]:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        lags, busy = sorted(self.lags) or [0.0], sorted(self.busy) or [0.0]
        return {
            "lag_ms": max(0.0, lags[-1]) * 1e3,
            "lag_p99_ms": max(0.0, lags[int(len(lags) * 0.99)]) * 1e3,
            "busy_lag_ms": max(0.0, busy[-1]) * 1e3,
        }


async def _async_run(args: argparse.Namespace) -> dict[str, Any]:
    variant, base_url, count, warmup, inflight = (
        args.variant,
        args.url,
        args.count,
        args.warmup,
        args.inflight,
    )

    async def stats() -> dict[str, Any]:
        return await asyncio.to_thread(server_stats, base_url)

    ticker = LagTicker()
    if variant == CEILING:
        data = Path(args.file).read_bytes()
        await _ceiling(base_url, data, warmup, inflight)
        before = await stats()
        ticker.start()
        start = _clock()
        await _ceiling(base_url, data, count, inflight)
        timed = _per_request(start, count)
        lag = await ticker.stop()
        after = await stats()
    else:
        call, close = await async_caller(variant, base_url, _upload(args.kind, args.file))
        answers: set[str] = set()

        async def in_flight(total: int) -> None:
            # ``inflight`` workers share ``total`` requests: as many in flight as asked, and
            # no thousand coroutines created at once, whose start (measured: ~4 ms of one
            # loop iteration) the ticker would charge to the client.
            left = [total]

            async def worker() -> None:
                while left[0] > 0:
                    left[0] -= 1
                    answers.add(await call())

            await asyncio.gather(*(worker() for _ in range(min(inflight, total))))

        await in_flight(warmup)
        if answers != {"ok"}:
            raise RuntimeError(f"{variant}: unexpected answer")
        gc.collect()
        before = await stats()
        ticker.start()
        start = _clock()
        await in_flight(count)
        timed = _per_request(start, count)
        lag = await ticker.stop()
        after = await stats()
        await close()
    _check_served(variant, before, after, count)
    return {"rps": 1e6 / timed["wall_us"], **timed, **lag, **server_share(before, after)}


def async_worker(args: argparse.Namespace) -> dict[str, Any]:
    return asyncio.run(_async_run(args))


_IMPORT_PROBE = """\
import time
wall, cpu = time.perf_counter(), time.process_time()
{statement}
cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
print(wall * 1e3, cpu * 1e3)
"""


def import_once(statement: str, pycache: str) -> tuple[float, float]:
    """(wall ms, CPU ms) of ``statement`` in a fresh interpreter that imported nothing else.

    Byte code is cached in ``pycache`` (and written even where PYTHONDONTWRITEBYTECODE is
    set), as an installed package's is: a first, untimed round fills it.
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = pycache
    done = subprocess.run(
        [sys.executable, "-c", _IMPORT_PROBE.format(statement=statement)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )
    wall, cpu = done.stdout.split()
    return float(wall), float(cpu)


def run_worker(
    worker: str, variant: str, base_url: str, args: argparse.Namespace, **job: Any
) -> dict[str, Any]:
    """Run one measurement in a fresh interpreter (this script with ``--worker``).

    ``job`` holds ``kind``, ``file``, ``count``, ``warmup`` and ``inflight``.
    """
    command = [sys.executable, os.path.abspath(__file__), "--worker", worker]
    command += ["--variant", variant, "--url", base_url]
    for name in ("kind", "file", "count", "warmup", "inflight"):
        command += [f"--{name}", str(job[name])]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=WORKER_TIMEOUT, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{worker} {variant} failed:\n{done.stderr.strip()}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# == the phases ================================================================================
def _rounds(variants: tuple[str, ...], repeats: int) -> Iterator[tuple[int, str]]:
    """Every variant once per round, the order rotated each round."""
    for round_ in range(repeats):
        shift = round_ % len(variants)
        for variant in variants[shift:] + variants[:shift]:
            yield round_, variant


def _median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    keys = [k for k, v in runs[0].items() if isinstance(v, (int, float))]
    return {key: statistics.median(run[key] for run in runs) for key in keys}


def _measure(
    worker: str,
    variants: tuple[str, ...],
    base_url: str,
    args: argparse.Namespace,
    label: str,
    **job: Any,
) -> dict[str, dict[str, Any]]:
    runs: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
    repeats = args.cpu_repeats if worker == "cpu" else args.repeats
    for round_, variant in _rounds(variants, repeats):
        runs[variant].append(run_worker(worker, variant, base_url, args, **job))
        _progress(f"{label} round {round_ + 1}/{repeats}: {variant}")
    key = "rps" if worker == "async" else "cpu_us"
    return {v: {**_median_of(r), "runs": [x[key] for x in r]} for v, r in runs.items()}


def phase_async(base_url: str, small: str, args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    count, inflight = args.async_requests, args.inflight
    warmup = max(inflight, count // 5)
    for kind in args.kinds:
        variants = (*CLIENTS, CEILING) if kind == "bytes" else CLIENTS
        job = {"kind": kind, "file": small, "count": count, "warmup": warmup}
        out[kind] = _measure(
            "async", variants, base_url, args, f"async {kind}", inflight=inflight, **job
        )
    return out


def phase_cpu(base_url: str, small: str, args: argparse.Namespace) -> dict[str, Any]:
    count = args.cpu_requests
    return {
        kind: _measure(
            "cpu",
            CLIENTS,
            base_url,
            args,
            f"sync {kind}",
            kind=kind,
            file=small,
            count=count,
            warmup=max(10, count // 5),
            inflight=1,
        )
        for kind in args.kinds
    }


def phase_sizes(base_url: str, folder: Path, args: argparse.Namespace) -> dict[int, Any]:
    out: dict[int, Any] = {}
    for size_kib, (full_count, inflight) in SIZES.items():
        if size_kib == args.small_kib:
            continue  # measured in phase_async
        path = folder / f"sweep-{size_kib}k.wav"
        make_wav(path, size_kib * KIB)
        count = max(inflight, full_count // (5 if args.quick else 1))
        job = {"kind": "path", "file": path, "count": count, "warmup": inflight}
        try:
            out[size_kib] = _measure(
                "async", CLIENTS, base_url, args, f"async {size_kib} KiB", inflight=inflight, **job
            )
        finally:
            path.unlink()
    return out


def phase_upload(base_url: str, args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """upload_memory.py's measurement, with a large and a small file, against our server."""
    results: dict[str, dict[str, Any]] = {}
    for label, size_mb in (("small", args.small_mb), ("large", args.upload_mb)):
        path = upload_memory.make_file(size_mb, args.sparse, args.tmpdir)
        size = os.path.getsize(path)
        runs: dict[str, list[dict[str, Any]]] = {v: [] for v in upload_memory.VARIANTS}
        repeats = args.upload_repeats if label == "large" else 1
        try:
            for round_, variant in _rounds(upload_memory.VARIANTS, repeats):
                row = upload_memory.measure(variant, base_url, path, trace=False)
                if row["text"] != "ok" or row["received"] < size:  # the body has the form around it
                    raise RuntimeError(f"{variant}: the server got {row['received']} of {size} B")
                runs[variant].append(row)
                _progress(f"upload {size_mb} MB round {round_ + 1}/{repeats}: {variant}")
        finally:
            os.unlink(path)
        for variant, rows in runs.items():
            entry = results.setdefault(variant, {})
            entry[f"{label}_rss_mb"] = statistics.median(r["rss_increase"] for r in rows) / MB
            entry[f"{label}_mb_s"] = statistics.median(size_mb / r["seconds"] for r in rows)
            entry[f"{label}_runs"] = [size_mb / r["seconds"] for r in rows]
            entry["peak_reset"] = all(r["peak_reset"] for r in rows)
    return results


def phase_import(args: argparse.Namespace) -> dict[str, dict[str, float]]:
    names = tuple(IMPORTS)
    walls: dict[str, list[float]] = {n: [] for n in names}
    cpus: dict[str, list[float]] = {n: [] for n in names}
    with tempfile.TemporaryDirectory(prefix="compare-pycache-") as pycache:
        for statement in IMPORTS.values():  # compile every .pyc before anything is timed
            import_once(statement, pycache)
        for _, name in _rounds(names, args.import_runs):
            wall, cpu = import_once(IMPORTS[name], pycache)
            walls[name].append(wall)
            cpus[name].append(cpu)
    _progress(f"imports: {args.import_runs} runs each")
    return {
        n: {"wall_ms": statistics.median(walls[n]), "cpu_ms": statistics.median(cpus[n])}
        for n in names
    }


def _progress(message: str) -> None:
    print(f"  {message}", file=sys.stderr, flush=True)


# == the report ================================================================================
def _ratio(value: float | None, base: float | None) -> str:
    if value is None or base is None or base <= 0:
        return "-"
    return f"{value / base:.2f}x"


def _yes(ok: bool) -> str:
    return "yes" if ok else "NO"


def _size(kib: int) -> str:
    return f"{kib // 1024} MiB" if kib >= 1024 else f"{kib} KiB"


Values = tuple[float | None, float | None, float | None]


def _cell(value: float | None, fmt: str) -> str:
    return "-" if value is None else fmt.format(value)


class Summary:
    """Two tables: issue 21's targets (and whether each is met), then the reported measures.

    Each has a header row, then one row per measure; :attr:`ok` is whether every target holds.
    """

    HEADER: ClassVar[list[str]] = [
        *("measure", SDK, HTTPX, OPENAI, "sdk/httpx", "openai/httpx", "target", "met")
    ]
    REPORTED_HEADER: ClassVar[list[str]] = [
        *("measure", SDK, HTTPX, OPENAI, "sdk/httpx", "openai/httpx")
    ]

    def __init__(self) -> None:
        self.targets: list[list[str]] = [list(self.HEADER)]
        self.reported: list[list[str]] = [list(self.REPORTED_HEADER)]
        self.ok = True

    @staticmethod
    def _row(measure: str, values: Values, fmt: str) -> list[str]:
        sdk, httpx, openai = values
        return [
            measure,
            *(_cell(v, fmt) for v in values),
            _ratio(sdk, httpx),
            _ratio(openai, httpx),
        ]

    def target(self, measure: str, values: Values, target: str, met: bool, fmt: str) -> None:
        self.targets.append([*self._row(measure, values, fmt), target, _yes(met)])
        if not met:
            self.ok = False

    def report(self, measure: str, values: Values, fmt: str = "{:.0f}") -> None:
        self.reported.append(self._row(measure, values, fmt))


def summarize(results: dict[str, Any], args: argparse.Namespace) -> Summary:
    """The two tables from whichever phases ran (``--phases``)."""
    table = Summary()
    small, inflight = _size(args.small_kib), args.inflight
    asy, cpu = results.get("async", {}), results.get("cpu", {})
    upload = results.get("upload")
    big, small_mb = args.upload_mb, args.small_mb

    def per_client(
        by_client: dict[str, Any], key: str, scale: float = 1.0
    ) -> tuple[float, float, float]:
        sdk, httpx, openai = (by_client[v][key] * scale for v in CLIENTS)
        return sdk, httpx, openai

    # -- issue 21, point 5 ------------------------------------------------------------------
    if "path" in cpu:
        values = per_client(cpu["path"], "cpu_us")
        table.target(
            f"sync path, {small}, one at a time: client CPU per request (µs)",
            values,
            target=f"sdk <= {SYNC_CPU_MAX:g}x httpx",
            met=values[0] <= SYNC_CPU_MAX * values[1],
            fmt="{:.0f}",
        )
    if "path" in asy:
        rps = per_client(asy["path"], "rps")
        table.target(
            f"async path, {small}, {args.async_requests} uploads, {inflight} in flight: requests/s",
            rps,
            target=f"sdk >= {ASYNC_RPS_MIN:g}x httpx",
            met=rps[0] >= ASYNC_RPS_MIN * rps[1],
            fmt="{:.0f}",
        )
    if upload is not None:
        sync, asyn = upload["transcribe-sdk"], upload["transcribe-sdk async"]
        raw, raw_async = upload["httpx raw"], upload["httpx raw async"]
        oai, oai_path = upload["openai open()"], upload["openai Path"]
        table.target(
            f"{big} MiB path upload, sync (openai: open()): MB/s",
            (sync["large_mb_s"], raw["large_mb_s"], oai["large_mb_s"]),
            target=f"sdk >= {LARGE_MB_S_MIN:g}x httpx",
            met=sync["large_mb_s"] >= LARGE_MB_S_MIN * raw["large_mb_s"],
            fmt="{:.0f}",
        )
        table.target(
            f"{big} MiB path upload, async (httpx: AsyncClient): MB/s",
            (asyn["large_mb_s"], raw_async["large_mb_s"], None),
            target=f"sdk >= {LARGE_MB_S_MIN:g}x httpx async",
            met=asyn["large_mb_s"] >= LARGE_MB_S_MIN * raw_async["large_mb_s"],
            fmt="{:.0f}",
        )
        for name, ours, theirs, openai in (
            ("sync", sync, raw, oai["large_rss_mb"]),
            ("async", asyn, raw_async, None),
        ):
            table.target(
                f"{big} MiB path upload, {name}: peak RSS increase (MiB)",
                (ours["large_rss_mb"], theirs["large_rss_mb"], openai),
                target=f"sdk < {args.limit_mb:g} MiB",
                met=ours["large_rss_mb"] < args.limit_mb,
                fmt="{:.1f}",
            )

    # -- reported -----------------------------------------------------------------------------
    for kind, by_client in asy.items():
        where = f"async {kind}, {small}, {inflight} in flight"
        if kind != "path":
            table.report(f"{where}: requests/s", per_client(by_client, "rps"))
        table.report(f"{where}: client CPU per request (µs)", per_client(by_client, "cpu_us"))
        table.report(
            f"{where}: worst event-loop lag, loop busy (ms)",
            per_client(by_client, "busy_lag_ms"),
            fmt="{:.1f}",
        )
        table.report(
            f"{where}: worst event-loop lag, wall clock (ms)",
            per_client(by_client, "lag_ms"),
            fmt="{:.1f}",
        )
    for kind, by_client in cpu.items():
        if kind != "path":
            table.report(
                f"sync {kind}, {small}, one at a time: client CPU per request (µs)",
                per_client(by_client, "cpu_us"),
            )
    for size_kib, by_client in results.get("sizes", {}).items():
        where = f"async path, {_size(size_kib)}, {SIZES[size_kib][1]} in flight"
        table.report(f"{where}: requests/s", per_client(by_client, "rps"), fmt="{:.1f}")
        table.report(
            f"{where}: CPU per request (ms)",
            per_client(by_client, "cpu_us", scale=1e-3),
            fmt="{:.1f}",
        )
    if upload is not None:
        table.report(
            f"{big} MiB path upload: async MB/s as a share of sync's",
            (
                asyn["large_mb_s"] / sync["large_mb_s"],
                raw_async["large_mb_s"] / raw["large_mb_s"],
                None,
            ),
            fmt="{:.2f}",
        )
        table.report(
            f"{big} MiB path upload, sync, openai given a Path: MB/s",
            (None, raw["large_mb_s"], oai_path["large_mb_s"]),
        )
        table.report(
            f"{big} MiB path upload, sync, openai given a Path: peak RSS increase (MiB)",
            (None, raw["large_rss_mb"], oai_path["large_rss_mb"]),
            fmt="{:.1f}",
        )
        for name, ours, theirs, openai in (
            ("sync (openai: open())", sync, raw, oai["small_rss_mb"]),
            ("async", asyn, raw_async, None),
        ):
            table.report(
                f"{small_mb} MiB path upload, {name}: peak RSS increase (MiB)",
                (ours["small_rss_mb"], theirs["small_rss_mb"], openai),
                fmt="{:.1f}",
            )
    if "imports" in results:
        imports = results["imports"]
        i_base, i_sdk, i_oai = (imports[n]["cpu_ms"] for n in ("httpx, pydantic", SDK, OPENAI))
        table.report(
            "import time, CPU ms (httpx column: `import httpx, pydantic`)", (i_sdk, i_base, i_oai)
        )
    return table


def server_check(results: dict[str, Any]) -> str:
    """One sentence on whether the server could have been the bottleneck."""
    asy = results.get("async", {})
    shares = [r["server_cpu_share"] for by in results.get("cpu", {}).values() for r in by.values()]
    shares += [r["server_cpu_share"] for by in asy.values() for v, r in by.items() if v != CEILING]
    if not shares:
        return "Server check: no small-request phase ran."
    by_bytes: dict[str, Any] = asy.get("bytes") or next(iter(asy.values()), {})
    if CEILING not in by_bytes:
        return f"Server check: the server used at most {max(shares):.0%} of one core."
    ceiling, raw = by_bytes[CEILING]["rps"], by_bytes[HTTPX]["rps"]
    return (
        f"Server check: while a client ran, the server used at most {max(shares):.0%} of one "
        f"core; a raw-socket client got {ceiling:.0f} req/s from it ({ceiling / raw:.0f}x raw "
        "httpx's async rate), so the clients, not the server, set the pace."
    )


def text_table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def markdown_table(rows: list[list[str]]) -> str:
    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    return "\n".join([line(rows[0]), line(["---"] * len(rows[0])), *map(line, rows[1:])])


def details(results: dict[str, Any], args: argparse.Namespace) -> str:
    out = []
    for kind, by in results.get("async", {}).items():
        out.append(f"async {kind} ({args.async_requests} requests, {args.inflight} in flight):")
        for v, r in by.items():
            out.append(
                f"  {v:<22} {r['rps']:>6.0f} req/s  cpu {r['cpu_us']:>5.0f} µs/req (user "
                f"{r['user_us']:>4.0f} + sys {r['sys_us']:>4.0f})  lag worst "
                f"{r['lag_ms']:>6.1f} ms, p99 {r['lag_p99_ms']:>5.1f} ms, busy "
                f"{r['busy_lag_ms']:>5.1f} ms  server "
                f"{r['server_cpu_share']:>4.0%}  runs " + " ".join(f"{x:.0f}" for x in r["runs"])
            )
    for kind, by in results.get("cpu", {}).items():
        out.append(f"sync {kind} ({args.cpu_requests} requests one at a time):")
        for v, r in by.items():
            out.append(
                f"  {v:<22} cpu {r['cpu_us']:>5.0f} µs (user {r['user_us']:>4.0f} + sys "
                f"{r['sys_us']:>4.0f})  wall {r['wall_us']:>5.0f} µs  runs "
                + " ".join(f"{x:.0f}" for x in r["runs"])
            )
    for size_kib, by in results.get("sizes", {}).items():
        out.append(f"async path {_size(size_kib)} ({SIZES[size_kib][1]} in flight):")
        for v, r in by.items():
            out.append(
                f"  {v:<22} {r['rps']:>7.1f} req/s  cpu {r['cpu_us'] / 1000:>6.1f} ms/req  "
                f"lag worst {r['lag_ms']:>6.1f} ms, busy {r['busy_lag_ms']:>5.1f} ms  runs "
                + " ".join(f"{x:.1f}" for x in r["runs"])
            )
    if "upload" in results:
        out.append(f"upload ({args.upload_mb} MiB median of {args.upload_repeats}):")
    for v, r in results.get("upload", {}).items():
        out.append(
            f"  {v:<22} +{r['small_rss_mb']:>6.1f} MB at {args.small_mb} MiB   "
            f"+{r['large_rss_mb']:>6.1f} MB at {args.upload_mb} MiB   "
            f"{r['large_mb_s']:>5.0f} MB/s  runs "
            + " ".join(f"{x:.0f}" for x in r["large_runs"])
            + ("" if r["peak_reset"] else "  (peak RSS could not be reset)")
        )
    if "imports" in results:
        out.append(f"imports (median of {args.import_runs} fresh interpreters; wall / CPU):")
    for name, r in results.get("imports", {}).items():
        out.append(f"  {name:<22} {r['wall_ms']:>6.1f} ms / {r['cpu_ms']:>6.1f} ms")
    return "\n".join(out)


def _versions() -> str:
    import importlib.metadata as meta

    import transcribe_sdk

    names = ("httpx", "httpcore", "anyio", "openai", "pydantic")
    found = [f"transcribe-sdk {transcribe_sdk.__version__}"]
    for name in names:
        with contextlib.suppress(meta.PackageNotFoundError):
            found.append(f"{name} {meta.version(name)}")
    return ", ".join(found)


def command_line(argv: list[str]) -> str:
    return " ".join(["python", "benchmarks/compare.py", *argv])


# == main ======================================================================================
def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small counts, a smoke run")
    parser.add_argument("--repeats", type=int, help="fresh processes per variant (3; quick 1)")
    parser.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS))
    parser.add_argument("--small-kib", type=int, default=32, help="the small file, KiB")
    parser.add_argument("--cpu-requests", type=int, help="timed sync requests (500; 200)")
    parser.add_argument("--cpu-repeats", type=int, help="fresh processes per sync variant (5; 1)")
    parser.add_argument("--async-requests", type=int, help="timed async requests (1000; 300)")
    parser.add_argument("--inflight", type=int, default=64, help="async requests in flight")
    parser.add_argument("--upload-mb", type=int, help="the large upload, MiB (512; quick 64)")
    parser.add_argument("--small-mb", type=int, help="the small upload, MiB (32; quick 8)")
    parser.add_argument("--upload-repeats", type=int, help="runs of the large upload (5; 1)")
    parser.add_argument("--import-runs", type=int, help="fresh interpreters per import (15; 5)")
    parser.add_argument("--no-pin", action="store_true", help="do not pin server and clients")
    parser.add_argument("--sparse", action="store_true", help="sparse upload files (zeros)")
    parser.add_argument("--tmpdir", help="where to write the upload files")
    parser.add_argument(
        "--limit-mb",
        type=float,
        default=PEAK_GROWTH_MAX_MB,
        help="the target for the large upload's peak RSS increase, MiB",
    )
    parser.add_argument(
        "--phases",
        nargs="+",
        choices=PHASES,
        default=list(PHASES),
        help="measure only these (to run one again): the table shows what they give",
    )
    parser.add_argument("--json", help="also write every number to this file")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--worker", choices=["cpu", "async"], help=argparse.SUPPRESS)
    parser.add_argument("--variant", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--kind", help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--warmup", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    defaults = {
        "repeats": (3, 1),
        "cpu_repeats": (5, 1),
        "cpu_requests": (500, 200),
        "async_requests": (1000, 300),
        "upload_mb": (512, 64),
        "small_mb": (32, 8),
        "upload_repeats": (5, 1),
        "import_runs": (15, 5),
    }
    for name, (full, quick) in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)
    return args


def pin(server_pid: int, args: argparse.Namespace) -> str:
    """Server on the last CPU, this process (and so every client it starts) on the first."""
    if args.no_pin or not hasattr(os, "sched_setaffinity"):
        return "not pinned"
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return "not pinned (one CPU)"
    os.sched_setaffinity(server_pid, {cpus[-1]})
    os.sched_setaffinity(0, {cpus[0]})
    return f"server pinned to CPU {cpus[-1]}, clients to CPU {cpus[0]}"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse(argv)
    if args.serve:
        asyncio.run(_serve())
        return 0
    if args.worker == "cpu":
        print(json.dumps(cpu_worker(args)))
        return 0
    if args.worker == "async":
        print(json.dumps(async_worker(args)))
        return 0

    started = time.perf_counter()
    load_before = os.getloadavg()[0]
    results: dict[str, Any] = {}
    with (
        tempfile.TemporaryDirectory(prefix="compare-", dir=args.tmpdir) as folder,
        sink_server() as (base_url, server_pid),
    ):
        pinned = pin(server_pid, args)
        small = Path(folder) / f"small-{args.small_kib}k.wav"
        make_wav(small, args.small_kib * KIB)
        if "async" in args.phases:
            results["async"] = phase_async(base_url, str(small), args)
        if "cpu" in args.phases:
            results["cpu"] = phase_cpu(base_url, str(small), args)
        if "sizes" in args.phases:
            results["sizes"] = phase_sizes(base_url, Path(folder), args)
        if "upload" in args.phases:
            results["upload"] = phase_upload(base_url, args)
    if "imports" in args.phases:
        results["imports"] = phase_import(args)
    table = summarize(results, args)
    seconds = time.perf_counter() - started

    machine = (
        f"{platform.platform()}, {os.cpu_count()} CPUs ({pinned}), Python "
        f"{platform.python_version()}; {_versions()}; load average {load_before:.1f} before, "
        f"{os.getloadavg()[0]:.1f} after"
    )
    print()
    print(text_table(table.targets))
    print()
    print(text_table(table.reported))
    print()
    print(server_check(results))
    print()
    print(details(results, args))
    print()
    print(f"{machine}; {seconds:.0f} s")
    print()
    print("markdown for docs/performance.md:")
    print()
    print(f"Command: `{command_line(argv)}`")
    print()
    print(markdown_table(table.targets))
    print()
    print(markdown_table(table.reported))
    print()
    print(server_check(results))
    print()
    print(f"Machine: {machine}.")
    print()
    print("all targets met" if table.ok else "a target was missed")
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "machine": machine,
                    "targets": table.targets,
                    "reported": table.reported,
                    **results,
                },
                indent=2,
            )
        )
    return 0 if table.ok else 1


if __name__ == "__main__":
    sys.exit(main())
