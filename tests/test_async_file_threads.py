"""How AsyncClient reads paths: few worker-thread hops, on its own threads, never on the loop.

A small path is checked and read whole in one hop; a large one is opened in one hop and read
one ``ASYNC_CHUNK_SIZE`` per hop. The counts are asserted, not timed. The loop tests use a
disk made slow on purpose: each ``open`` waits until the event loop has ticked a few times.
On a worker thread it soon sees them; on the loop it would wait for ticks that cannot come. What
is asserted is that order (the loop ran while the disk was busy), never a duration.
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import pytest
from conftest import API_KEY, FIXTURES
from internals import async_files_module as _async_files
from socket_server import ScriptedServer

from transcribe_sdk import AsyncClient, files

pytestmark = [pytest.mark.network, pytest.mark.anyio]

MODEL = "whisper-large-v3"
WAIT = 60.0
TICKS = 3
"""Loop ticks the slowed ``open`` waits to see before it opens."""
OPEN_WAIT = 10.0
"""Seconds it waits for them at most (an open on the loop would wait all of it, then fail)."""


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as running:
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


async def test_a_small_path_costs_one_thread_hop(server: ScriptedServer, hops: list[str]) -> None:
    path = FIXTURES / "numbers.wav"
    async with AsyncClient(api_key=API_KEY, base_url=server.base_url) as client:
        result = await client.transcribe(path, model=MODEL)
    assert result.model_extra["sha256"] == _sha(path.read_bytes())
    assert len(hops) == 1


async def test_a_large_path_is_opened_once_and_read_in_large_chunks(
    server: ScriptedServer, hops: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = FIXTURES / "long_speech.wav"  # about 2 MB
    monkeypatch.setattr(files, "WHOLE_READ_LIMIT", 64 * 1024)
    async with AsyncClient(api_key=API_KEY, base_url=server.base_url) as client:
        result = await client.transcribe(path, model=MODEL)
    assert result.model_extra["sha256"] == _sha(path.read_bytes())
    reads = math.ceil(path.stat().st_size / files.ASYNC_CHUNK_SIZE)
    assert len(hops) == 1 + 1 + reads  # check, open, the reads (none past the end)


async def test_file_work_leaves_anyios_default_threads_free(server: ScriptedServer) -> None:
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


class Ticker:
    """A count of event-loop ticks (one every 10 ms while :meth:`run` runs), and the opens that
    saw it move while they waited (``True``) or gave up waiting (``False``)."""

    def __init__(self) -> None:
        self.count = 0
        self.opens: list[bool] = []
        self.moved = threading.Condition()

    async def run(self) -> None:
        while True:
            with self.moved:
                self.count += 1
                self.moved.notify_all()
            await anyio.sleep(0.01)

    def wait_for_ticks(self) -> None:
        with self.moved:
            start = self.count
            self.opens.append(
                self.moved.wait_for(lambda: self.count >= start + TICKS, timeout=OPEN_WAIT)
            )


@pytest.fixture
def slow_disk(monkeypatch: pytest.MonkeyPatch) -> Ticker:
    ticker = Ticker()
    real_open = open

    def slow_open(*args: Any, **kwargs: Any) -> Any:
        ticker.wait_for_ticks()
        return real_open(*args, **kwargs)

    monkeypatch.setattr(files, "open", slow_open, raising=False)
    return ticker


@pytest.mark.parametrize("whole_read_limit", [1024 * 1024, 0], ids=["read whole", "streamed"])
async def test_a_slow_disk_does_not_stall_the_loop(
    server: ScriptedServer,
    slow_disk: Ticker,
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
        with anyio.fail_after(WAIT):
            async with anyio.create_task_group() as group:
                group.start_soon(slow_disk.run)
                async with anyio.create_task_group() as uploads:
                    for path in paths:
                        uploads.start_soon(lambda p=path: client.transcribe(p, model=MODEL))
                group.cancel_scope.cancel()
    assert len(server.requests) == 4
    # Every open saw the loop tick while it waited: none of them ran on the loop.
    assert slow_disk.opens == [True] * len(slow_disk.opens)
    assert len(slow_disk.opens) >= 4
