"""transcribe-sdk against raw httpx and openai-python doing the same upload, in one run.

Run on demand from the repository root (pytest does not collect this folder)::

    python benchmarks/compare.py            # the full run, a few minutes
    python benchmarks/compare.py --quick    # a smoke run, under a minute

Every request goes to a loopback server on 127.0.0.1 that this script starts in a separate
process (``--serve``): an asyncio protocol that parses each HTTP/1.1 head, reads the body by
``Content-Length`` or chunked, throws it away, and answers ``{"text":"ok"}`` with keep-alive.
The server counts its own CPU time, so the report shows what share of a core it used while each
client ran: a server that is not the bottleneck sits well under 100 %. A hand-written
raw-socket client (the ``ceiling`` row) shows how many requests per second it can answer.

What is measured, each client in fresh processes, the variants interleaved round by round so a
noisy neighbour hurts them alike:

1. **CPU per request**: a small file (``tests/fixtures/hello.wav``, 136 KB, as bytes) with
   ``model``, ``language`` and ``response_format`` fields, sent one at a time; after a warm-up,
   ``time.process_time()`` over ``--cpu-requests`` requests gives µs per request.
2. **Async throughput**: ``--async-requests`` requests (1,000) with ``--inflight`` (64) in
   flight, an ``asyncio.Semaphore`` and ``gather``; requests per second. Raw httpx gets the
   connection limits transcribe-sdk's ``AsyncClient`` builds (httpx's defaults, 100
   connections, 20 kept alive); openai keeps its own (1,000 and 100).
3. **A large upload** (512 MB): peak RSS increase and MB/s, by ``upload_memory.py``'s own
   fresh-process measurement (its ``measure``), also with a small file to show whether memory
   grows with the file's size.
4. **Import time**: a fresh interpreter times its own ``import`` statement, wall and CPU (the
   same as the process's time minus ``python -c pass``, without the start-up noise), with byte
   code cached first. The target is judged on CPU time, which a busy machine does not inflate.

It prints medians, ratios against raw httpx and whether each target is met, then the same
summary as markdown for ``docs/performance.md``. Machines are shared: read the ratios, not the
absolute times. The exit status is 1 when a target is missed.
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
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import upload_memory

ROOT = Path(__file__).resolve().parent.parent
SMALL_FILE = ROOT / "tests" / "fixtures" / "hello.wav"
MB = upload_memory.MB
MODEL = upload_memory.MODEL
API_KEY = upload_memory.API_KEY
LANGUAGE = "en"
WORKER_TIMEOUT = 600.0

SDK, HTTPX, OPENAI = "transcribe-sdk", "httpx raw", "openai"
CLIENTS = (SDK, HTTPX, OPENAI)
CEILING = "raw sockets (ceiling)"
IMPORTS = {
    "httpx, pydantic": "import httpx, pydantic",
    SDK: "import transcribe_sdk",
    OPENAI: "import openai",
}

# Targets of issue 6.
CPU_RATIO_MAX = 1.25  # transcribe-sdk's CPU per request at most this times raw httpx's ...
ASYNC_RATIO_MIN = 0.90  # ... its async throughput within 10 % of raw httpx's ...
IMPORT_EXTRA_MS = 50.0  # ... and its import at most this much over `import httpx, pydantic`.
FLAT_GROWTH_MB = 8.0  # "flat": the large file raises the peak by at most this over the small one


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
def _form() -> dict[str, str]:
    return {"model": MODEL, "language": LANGUAGE, "response_format": "json"}


def sync_caller(
    variant: str, base_url: str, data: bytes
) -> tuple[Callable[[], str], Callable[[], None]]:
    """Build ``variant``'s blocking client; return (one request, close)."""
    if variant == SDK:
        from transcribe_sdk import Client

        client = Client(api_key=API_KEY, base_url=base_url)
        return (
            lambda: (
                client.transcribe(
                    ("hello.wav", data), model=MODEL, language=LANGUAGE, response_format="json"
                ).text
            ),
            client.close,
        )
    if variant == HTTPX:
        import httpx

        http = httpx.Client()
        url = f"{base_url}/audio/transcriptions"
        auth = {"Authorization": f"Bearer {API_KEY}"}

        def post() -> str:
            response = http.post(
                url, files={"file": ("hello.wav", data, "audio/wav")}, data=_form(), headers=auth
            )
            response.raise_for_status()
            return str(response.json()["text"])

        return post, http.close
    if variant == OPENAI:
        from openai import OpenAI

        openai = OpenAI(base_url=base_url, api_key=API_KEY)
        return (
            lambda: (
                openai.audio.transcriptions.create(
                    file=("hello.wav", data), model=MODEL, language=LANGUAGE, response_format="json"
                ).text
            ),
            openai.close,
        )
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


async def async_caller(
    variant: str, base_url: str, data: bytes
) -> tuple[Callable[[], Awaitable[str]], Callable[[], Awaitable[None]]]:
    """Build ``variant``'s async client; return (one request, close)."""
    if variant == SDK:
        from transcribe_sdk import AsyncClient

        client = AsyncClient(api_key=API_KEY, base_url=base_url)

        async def transcribe() -> str:
            result = await client.transcribe(
                ("hello.wav", data), model=MODEL, language=LANGUAGE, response_format="json"
            )
            return result.text

        return transcribe, client.close
    if variant == HTTPX:
        import httpx

        # The limits transcribe-sdk's AsyncClient gets: it builds httpx.AsyncClient() with
        # httpx's defaults. Spelled out so a change of either side shows here.
        http = httpx.AsyncClient(
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=20)
        )
        url = f"{base_url}/audio/transcriptions"
        auth = {"Authorization": f"Bearer {API_KEY}"}

        async def post() -> str:
            response = await http.post(
                url, files={"file": ("hello.wav", data, "audio/wav")}, data=_form(), headers=auth
            )
            response.raise_for_status()
            return str(response.json()["text"])

        return post, http.aclose
    if variant == OPENAI:
        from openai import AsyncOpenAI

        openai = AsyncOpenAI(base_url=base_url, api_key=API_KEY)

        async def create() -> str:
            result = await openai.audio.transcriptions.create(
                file=("hello.wav", data), model=MODEL, language=LANGUAGE, response_format="json"
            )
            return result.text

        return create, openai.close
    raise SystemExit(f"unknown variant {variant!r}")


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


def cpu_worker(variant: str, base_url: str, count: int, warmup: int) -> dict[str, Any]:
    data = SMALL_FILE.read_bytes()
    call, close = sync_caller(variant, base_url, data)
    for _ in range(warmup):
        if call() != "ok":
            raise RuntimeError(f"{variant}: unexpected answer")
    gc.collect()
    before = server_stats(base_url)
    start = _clock()
    for _ in range(count):
        call()
    timed = _per_request(start, count)
    after = server_stats(base_url)
    close()
    _check_served(variant, before, after, count)
    return {**timed, **server_share(before, after)}


async def _async_run(
    variant: str, base_url: str, count: int, warmup: int, inflight: int
) -> dict[str, Any]:
    data = SMALL_FILE.read_bytes()

    async def stats() -> dict[str, Any]:
        return await asyncio.to_thread(server_stats, base_url)

    if variant == CEILING:
        await _ceiling(base_url, data, warmup, inflight)
        before = await stats()
        start = _clock()
        await _ceiling(base_url, data, count, inflight)
        timed = _per_request(start, count)
        after = await stats()
    else:
        call, close = await async_caller(variant, base_url, data)
        gate = asyncio.Semaphore(inflight)

        async def one() -> str:
            async with gate:
                return await call()

        if set(await asyncio.gather(*(one() for _ in range(warmup)))) != {"ok"}:
            raise RuntimeError(f"{variant}: unexpected answer")
        gc.collect()
        before = await stats()
        start = _clock()
        await asyncio.gather(*(one() for _ in range(count)))
        timed = _per_request(start, count)
        after = await stats()
        await close()
    _check_served(variant, before, after, count)
    return {"rps": 1e6 / timed["wall_us"], **timed, **server_share(before, after)}


def async_worker(
    variant: str, base_url: str, count: int, warmup: int, inflight: int
) -> dict[str, Any]:
    return asyncio.run(_async_run(variant, base_url, count, warmup, inflight))


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


def run_worker(kind: str, variant: str, base_url: str, args: argparse.Namespace) -> dict[str, Any]:
    """Run one measurement in a fresh interpreter (this script with ``--worker``)."""
    command = [sys.executable, os.path.abspath(__file__), "--worker", kind, "--variant", variant]
    command += ["--url", base_url, "--inflight", str(args.inflight)]
    if kind == "cpu":
        command += ["--count", str(args.cpu_requests), "--warmup", str(args.cpu_warmup)]
    else:
        command += ["--count", str(args.async_requests), "--warmup", str(args.async_warmup)]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=WORKER_TIMEOUT, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{kind} {variant} failed:\n{done.stderr.strip()}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# == the phases ================================================================================
def _rounds(variants: tuple[str, ...], repeats: int) -> Iterator[tuple[int, str]]:
    """Every variant once per round, the order rotated each round."""
    for round_ in range(repeats):
        shift = round_ % len(variants)
        for variant in variants[shift:] + variants[:shift]:
            yield round_, variant


def _median_of(runs: list[dict[str, Any]]) -> dict[str, float]:
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def phase_cpu(base_url: str, args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    runs: dict[str, list[dict[str, Any]]] = {v: [] for v in CLIENTS}
    for round_, variant in _rounds(CLIENTS, args.repeats):
        runs[variant].append(run_worker("cpu", variant, base_url, args))
        _progress(f"cpu round {round_ + 1}/{args.repeats}: {variant}")
    return {v: {**_median_of(r), "runs": [x["cpu_us"] for x in r]} for v, r in runs.items()}


def phase_async(base_url: str, args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    variants = (*CLIENTS, CEILING)
    runs: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
    for round_, variant in _rounds(variants, args.repeats):
        runs[variant].append(run_worker("async", variant, base_url, args))
        _progress(f"async round {round_ + 1}/{args.repeats}: {variant}")
    return {
        v: {
            **_median_of(r),
            "runs": [x["rps"] for x in r],
            "new_connections": [x["server_connections"] for x in r],
        }
        for v, r in runs.items()
    }


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
def _ratio(value: float, base: float) -> str:
    return f"{value / base:.2f}x" if base > 0 else "n/a"


def _yes(ok: bool) -> str:
    return "yes" if ok else "NO"


def summarize(results: dict[str, Any], args: argparse.Namespace) -> tuple[list[list[str]], bool]:
    """The summary rows (with a header row) and whether every target was met."""
    cpu, asy, upload, imports = (
        results["cpu"],
        results["async"],
        results["upload"],
        results["imports"],
    )
    c_sdk, c_httpx, c_openai = (cpu[v]["cpu_us"] for v in CLIENTS)
    cpu_ok = c_sdk <= CPU_RATIO_MAX * c_httpx and c_sdk < c_openai
    a_sdk, a_httpx, a_openai = (asy[v]["rps"] for v in CLIENTS)
    async_ok = a_sdk >= ASYNC_RATIO_MIN * a_httpx
    ours = [upload["transcribe-sdk"], upload["transcribe-sdk async"]]
    mem_ok = all(
        u["large_rss_mb"] < args.limit_mb
        and u["large_rss_mb"] - u["small_rss_mb"] <= FLAT_GROWTH_MB
        for u in ours
    )
    raw, oai = upload["httpx raw"], upload["openai open()"]
    # CPU time: on an idle machine it equals the wall time (the files are cached), and on a
    # busy one it leaves out the time spent waiting for a core.
    i_base, i_sdk, i_openai = (imports[n]["cpu_ms"] for n in ("httpx, pydantic", SDK, OPENAI))
    extra = i_sdk - i_base
    import_ok = extra <= IMPORT_EXTRA_MS
    big, small = args.upload_mb, args.small_mb
    rows = [
        ["measure", SDK, HTTPX, OPENAI, "sdk/httpx", "openai/httpx", "target", "met"],
        [
            f"CPU per request, {SMALL_FILE.stat().st_size / 1000:.0f} KB file (µs)",
            f"{c_sdk:.0f}",
            f"{c_httpx:.0f}",
            f"{c_openai:.0f}",
            _ratio(c_sdk, c_httpx),
            _ratio(c_openai, c_httpx),
            f"sdk <= {CPU_RATIO_MAX}x httpx and < openai",
            _yes(cpu_ok),
        ],
        [
            f"async req/s, {args.async_requests} requests, {args.inflight} in flight",
            f"{a_sdk:.0f}",
            f"{a_httpx:.0f}",
            f"{a_openai:.0f}",
            _ratio(a_sdk, a_httpx),
            _ratio(a_openai, a_httpx),
            f"sdk >= {ASYNC_RATIO_MIN}x httpx",
            _yes(async_ok),
        ],
        [
            f"peak RSS increase, {big} MB upload (MB; sdk: sync/async, openai: open())",
            f"{ours[0]['large_rss_mb']:.1f} / {ours[1]['large_rss_mb']:.1f}",
            f"{raw['large_rss_mb']:.1f}",
            f"{oai['large_rss_mb']:.1f}",
            _ratio(ours[0]["large_rss_mb"], raw["large_rss_mb"]),
            _ratio(oai["large_rss_mb"], raw["large_rss_mb"]),
            f"flat: <= +{FLAT_GROWTH_MB:g} MB over a {small} MB file, < {args.limit_mb:g} MB",
            _yes(mem_ok),
        ],
        [
            f"peak RSS increase, {small} MB upload (MB)",
            f"{ours[0]['small_rss_mb']:.1f} / {ours[1]['small_rss_mb']:.1f}",
            f"{raw['small_rss_mb']:.1f}",
            f"{oai['small_rss_mb']:.1f}",
            _ratio(ours[0]["small_rss_mb"], raw["small_rss_mb"]),
            _ratio(oai["small_rss_mb"], raw["small_rss_mb"]),
            "(the baseline of the row above)",
            "",
        ],
        [
            f"upload throughput, {big} MB (MB/s)",
            f"{ours[0]['large_mb_s']:.0f} / {ours[1]['large_mb_s']:.0f}",
            f"{raw['large_mb_s']:.0f}",
            f"{oai['large_mb_s']:.0f}",
            _ratio(ours[0]["large_mb_s"], raw["large_mb_s"]),
            _ratio(oai["large_mb_s"], raw["large_mb_s"]),
            "(reported)",
            "",
        ],
        [
            "import time, CPU ms (httpx column: `import httpx, pydantic`)",
            f"{i_sdk:.0f}",
            f"{i_base:.0f}",
            f"{i_openai:.0f}",
            f"{_ratio(i_sdk, i_base)} ({extra:+.0f} ms)",
            f"{_ratio(i_openai, i_base)} ({i_openai - i_base:+.0f} ms)",
            f"sdk <= httpx+pydantic + {IMPORT_EXTRA_MS:g} ms",
            _yes(import_ok),
        ],
    ]
    return rows, cpu_ok and async_ok and mem_ok and import_ok


def server_check(results: dict[str, Any]) -> str:
    """One sentence on whether the server could have been the bottleneck."""
    shares = [r["server_cpu_share"] for r in results["cpu"].values()]
    shares += [r["server_cpu_share"] for v, r in results["async"].items() if v != CEILING]
    ceiling, raw = results["async"][CEILING]["rps"], results["async"][HTTPX]["rps"]
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
    cpu, asy, upload, imports = (
        results["cpu"],
        results["async"],
        results["upload"],
        results["imports"],
    )
    out = [f"CPU per request (median of {args.repeats} fresh processes, {args.cpu_requests} each):"]
    for v in CLIENTS:
        r = cpu[v]
        out.append(
            f"  {v:<22} cpu {r['cpu_us']:>5.0f} µs (user {r['user_us']:>4.0f} + sys "
            f"{r['sys_us']:>4.0f})  wall {r['wall_us']:>5.0f} µs  "
            f"server {r['server_us_per_request']:>4.0f} µs/req, "
            f"{r['server_cpu_share']:>4.0%} of a core  runs "
            + " ".join(f"{x:.0f}" for x in r["runs"])
        )
    out.append(
        f"async ({args.async_requests} requests, {args.inflight} in flight, median of "
        f"{args.repeats}):"
    )
    for v in (*CLIENTS, CEILING):
        r = asy[v]
        out.append(
            f"  {v:<22} {r['rps']:>6.0f} req/s  client cpu {r['cpu_us']:>5.0f} µs/req (user "
            f"{r['user_us']:>4.0f} + sys {r['sys_us']:>4.0f})  "
            f"server {r['server_cpu_share']:>4.0%} of a core, "
            f"{r['server_us_per_request']:.0f} µs/req  runs "
            + " ".join(f"{x:.0f}" for x in r["runs"])
            + "  new connections "
            + " ".join(f"{x:.0f}" for x in r["new_connections"])
        )
    out.append(
        f"upload (upload_memory.py's measurement; {args.upload_mb} MB median of "
        f"{args.upload_repeats}, {args.small_mb} MB once):"
    )
    for v, r in upload.items():
        out.append(
            f"  {v:<22} +{r['small_rss_mb']:>6.1f} MB at {args.small_mb} MB   "
            f"+{r['large_rss_mb']:>6.1f} MB at {args.upload_mb} MB   {r['large_mb_s']:>5.0f} MB/s"
            + ("" if r["peak_reset"] else "  (peak RSS could not be reset)")
        )
    out.append(f"imports (median of {args.import_runs} fresh interpreters; wall / CPU):")
    for name, r in imports.items():
        out.append(f"  {name:<22} {r['wall_ms']:>6.1f} ms / {r['cpu_ms']:>6.1f} ms")
    return "\n".join(out)


def _versions() -> str:
    import importlib.metadata as meta

    names = ("transcribe-sdk", "httpx", "openai", "httpx2", "pydantic")
    found = []
    for name in names:
        with contextlib.suppress(meta.PackageNotFoundError):
            found.append(f"{name} {meta.version(name)}")
    return ", ".join(found)


def command_line(argv: list[str]) -> str:
    return " ".join(["python", "benchmarks/compare.py", *argv])


# == main ======================================================================================
def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small counts, a smoke run (<60 s)")
    parser.add_argument("--repeats", type=int, help="fresh processes per variant (5; quick 2)")
    parser.add_argument("--cpu-requests", type=int, help="timed requests per CPU run (300; 60)")
    parser.add_argument("--async-requests", type=int, help="timed async requests (1000; 200)")
    parser.add_argument("--inflight", type=int, default=64, help="async requests in flight")
    parser.add_argument("--upload-mb", type=int, help="the large upload, MB (512; quick 32)")
    parser.add_argument("--small-mb", type=int, help="the small upload, MB (32; quick 8)")
    parser.add_argument("--upload-repeats", type=int, help="runs of the large upload (3; 1)")
    parser.add_argument("--import-runs", type=int, help="fresh interpreters per import (15; 5)")
    parser.add_argument("--sparse", action="store_true", help="sparse upload files (zeros)")
    parser.add_argument("--tmpdir", help="where to write the upload files")
    parser.add_argument(
        "--limit-mb", type=float, default=upload_memory.LIMIT_MB, help="peak RSS limit, MB"
    )
    parser.add_argument("--json", help="also write every number to this file")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--worker", choices=["cpu", "async"], help=argparse.SUPPRESS)
    parser.add_argument("--variant", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--warmup", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    defaults = {
        "repeats": (5, 2),
        "cpu_requests": (300, 60),
        "async_requests": (1000, 200),
        "upload_mb": (512, 32),
        "small_mb": (32, 8),
        "upload_repeats": (3, 1),
        "import_runs": (15, 5),
    }
    for name, (full, quick) in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)
    args.cpu_warmup = max(10, args.cpu_requests // 5)
    args.async_warmup = max(args.inflight, args.async_requests // 5)
    return args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse(argv)
    if args.serve:
        asyncio.run(_serve())
        return 0
    if args.worker == "cpu":
        print(json.dumps(cpu_worker(args.variant, args.url, args.count, args.warmup)))
        return 0
    if args.worker == "async":
        result = async_worker(args.variant, args.url, args.count, args.warmup, args.inflight)
        print(json.dumps(result))
        return 0

    started = time.perf_counter()
    load_before = os.getloadavg()[0]
    results: dict[str, Any] = {}
    with sink_server() as (base_url, _pid):
        results["cpu"] = phase_cpu(base_url, args)
        results["async"] = phase_async(base_url, args)
        results["upload"] = phase_upload(base_url, args)
    results["imports"] = phase_import(args)
    rows, ok = summarize(results, args)
    seconds = time.perf_counter() - started

    machine = (
        f"{platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
        f"{_versions()}; load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after"
    )
    print()
    print(text_table(rows))
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
    print(markdown_table(rows))
    print()
    print(server_check(results))
    print()
    print(f"Machine: {machine}.")
    print()
    print("all targets met" if ok else "a target was missed")
    if args.json:
        Path(args.json).write_text(
            json.dumps({"machine": machine, "summary": rows, **results}, indent=2)
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
