"""How AsyncClient reads paths: few worker-thread hops, on its own threads, never on the loop.

A small path is checked and read whole in one hop; a large one is opened in one hop and read
one ``ASYNC_CHUNK_SIZE`` per hop. The counts are asserted, not timed. The loop tests use a
disk made slow on purpose (an ``open`` that takes a second), so that a read on the loop would
stall it for that long while the bound asserted is generous.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import pytest
from conftest import API_KEY, FIXTURES
from loopback import LoopbackServer

from transcribe_sdk import AsyncClient, files
from transcribe_sdk._inputs import async_files as _async_files

pytestmark = [pytest.mark.network, pytest.mark.anyio]

MODEL = "whisper-large-v3"
WAIT = 60.0
SLOW_OPEN = 1.0
"""Seconds the slowed ``open`` takes: what a read on the loop would stall it for."""


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as running:
        yield running
    assert running.errors == []


@pytest.fixture
def hops(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The name of each function sent to a worker thread by transcribe_sdk._inputs.async_files."""
    seen: list[str] = []
    real = _async_files.run_in_thread

    async def counting(func: Callable[..., Any], *args: Any) -> Any:
        seen.append(getattr(func, "__qualname__", None) or getattr(func, "func", func).__name__)
        return await real(func, *args)

    monkeypatch.setattr(_async_files, "run_in_thread", counting)
    return seen


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def test_a_small_path_costs_one_thread_hop(server: LoopbackServer, hops: list[str]) -> None:
    path = FIXTURES / "numbers.wav"
    async with AsyncClient(api_key=API_KEY, base_url=server.base_url) as client:
        result = await client.transcribe(path, model=MODEL)
    assert result.model_extra["sha256"] == _sha(path.read_bytes())
    assert len(hops) == 1


async def test_a_large_path_is_opened_once_and_read_in_large_chunks(
    server: LoopbackServer, hops: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = FIXTURES / "long_speech.wav"  # about 2 MB
    monkeypatch.setattr(files, "WHOLE_READ_LIMIT", 64 * 1024)
    async with AsyncClient(api_key=API_KEY, base_url=server.base_url) as client:
        result = await client.transcribe(path, model=MODEL)
    assert result.model_extra["sha256"] == _sha(path.read_bytes())
    reads = math.ceil(path.stat().st_size / files.ASYNC_CHUNK_SIZE)
    assert len(hops) == 1 + 1 + reads  # check, open, the reads (none past the end)


async def test_file_work_leaves_anyios_default_threads_free(server: LoopbackServer) -> None:
    # 32 uploads in flight must not take tokens of anyio's shared default limiter, which the
    # application's own to_thread calls need.
    default = anyio.to_thread.current_default_thread_limiter()
    peak = 0

    async def watch() -> None:
        nonlocal peak
        while True:
            peak = max(peak, default.borrowed_tokens)
            await anyio.sleep(0)

    path = FIXTURES / "hello.wav"
    async with AsyncClient(api_key=API_KEY, base_url=server.base_url) as client:
        with anyio.fail_after(WAIT):
            async with anyio.create_task_group() as group:
                group.start_soon(watch)
                async with anyio.create_task_group() as uploads:
                    for _ in range(32):
                        uploads.start_soon(lambda: client.transcribe(path, model=MODEL))
                group.cancel_scope.cancel()
    assert len(server.requests) == 32
    assert peak == 0


async def _longest_stall_while(work: Callable[[], Any]) -> tuple[float, float, int]:
    """Run ``work()`` beside a task that ticks every 10 ms: (its time, the longest stretch
    without a tick, how many ticks happened)."""
    ticks: list[float] = []

    async def ticker() -> None:
        while True:
            ticks.append(time.monotonic())
            await anyio.sleep(0.01)

    with anyio.fail_after(WAIT):
        async with anyio.create_task_group() as group:
            group.start_soon(ticker)
            await anyio.sleep(0.05)
            started = time.monotonic()
            await work()
            ended = time.monotonic()
            group.cancel_scope.cancel()
    during = [t for t in ticks if started <= t <= ended]
    marks = [started, *during, ended]
    return ended - started, max(b - a for a, b in itertools.pairwise(marks)), len(during)


@pytest.fixture
def slow_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    real_open = open

    def slow_open(*args: Any, **kwargs: Any) -> Any:
        time.sleep(SLOW_OPEN)
        return real_open(*args, **kwargs)

    monkeypatch.setattr(files, "open", slow_open, raising=False)


@pytest.mark.parametrize("whole_read_limit", [1024 * 1024, 0], ids=["read whole", "streamed"])
async def test_a_slow_disk_does_not_stall_the_loop(
    server: LoopbackServer,
    slow_disk: None,
    whole_read_limit: int,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setattr(files, "WHOLE_READ_LIMIT", whole_read_limit)
    paths = []
    for i in range(4):
        path = tmp_path / f"take-{i}.wav"
        path.write_bytes((FIXTURES / "hello.wav").read_bytes())
        paths.append(path)
    async with AsyncClient(api_key=API_KEY, base_url=server.base_url) as client:

        async def uploads() -> None:
            async with anyio.create_task_group() as group:
                for path in paths:
                    group.start_soon(lambda p=path: client.transcribe(p, model=MODEL))

        took, longest, ticks = await _longest_stall_while(uploads)
    assert len(server.requests) == 4
    # On the loop, each slow open would stop the ticks for SLOW_OPEN seconds.
    assert took >= SLOW_OPEN
    assert longest < SLOW_OPEN / 2, f"the loop stalled {longest:.3f} s of {took:.3f} s"
    assert ticks >= 10
