"""One client shared by many callers gets every answer right: one ``Client`` by 16 threads, one
``AsyncClient`` by 200 tasks, against a real server (tests/socket_server.py) that echoes what
each request carried. Some requests are answered 503 the first time, so retries interleave with
fresh requests on the shared connection pool. Everything is bounded in time.
"""

from __future__ import annotations

import hashlib
import threading
from typing import Any

import anyio
import pytest
from conftest import API_KEY, FIXTURES
from internals import record_sleeps
from socket_server import Answer, Recorded, Respond, ScriptedServer, json_reply

from transcribe_sdk import AsyncClient, Client

pytestmark = [
    pytest.mark.network,
    # An unclosed socket or file fails the test even if the global warning filter changes.
    pytest.mark.filterwarnings(
        "error::ResourceWarning", "error::pytest.PytestUnraisableExceptionWarning"
    ),
]

MODEL = "whisper-large-v3"
AUDIO = FIXTURES / "hello.wav"
DATA = AUDIO.read_bytes()
THREADS = 16
PER_THREAD = 6
TASKS = 200
TIME_LIMIT = 60.0


class Echo:
    """Answers ``{"text": "<prompt>|<sha256 of the file>"}``; the first request of every
    prompt ending in ``"!"`` gets a 503 instead, so that request is retried."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._refused: set[str] = set()

    def __call__(self, attempt: Recorded) -> Answer:
        prompt = attempt.field("prompt") or ""
        if prompt.endswith("!"):
            with self._lock:
                first = prompt not in self._refused
                self._refused.add(prompt)
            if first:
                return json_reply({"error": "busy"}, 503)
        digest = hashlib.sha256(attempt.file_bytes()).hexdigest()
        return json_reply({"text": f"{prompt}|{digest}"}, headers=[("x-request-id", prompt)])


def expected(prompt: str, data: bytes) -> str:
    return f"{prompt}|{hashlib.sha256(data).hexdigest()}"


def upload(number: int) -> tuple[Any, bytes]:
    """Distinct content for request ``number``: bytes of its own, or (one in four) the path."""
    if number % 4 == 0:
        return AUDIO, DATA
    data = DATA + number.to_bytes(4, "big") * (number % 7 + 1)
    return (f"clip-{number}.wav", data), data


def test_one_client_shared_by_16_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    record_sleeps(monkeypatch)
    failures: list[str] = []
    done: list[int] = []
    lock = threading.Lock()
    with (
        ScriptedServer(then=Respond(Echo())) as server,
        Client(api_key=API_KEY, base_url=server.base_url, timeout=20) as client,
    ):

        def work(thread: int) -> None:
            for i in range(PER_THREAD):
                number = thread * PER_THREAD + i
                prompt = f"thread {thread} request {i}" + ("!" if i % 3 == 0 else "")
                file, data = upload(number)
                try:
                    raw = client.with_raw_response.transcribe(file, model=MODEL, prompt=prompt)
                    ok = raw.parsed.text == expected(prompt, data) and raw.request_id == prompt
                    ok = ok and raw.attempts == (2 if prompt.endswith("!") else 1)
                except Exception as exc:  # collected, so every thread runs to the end
                    failures.append(f"{prompt}: {exc!r}")
                    continue
                if not ok:
                    failures.append(f"{prompt}: got {raw.parsed.text!r}, {raw.attempts} attempts")
                with lock:
                    done.append(number)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(TIME_LIMIT)
        assert not any(t.is_alive() for t in threads), "a thread is stuck"
        retried = sum(1 for i in range(PER_THREAD) if i % 3 == 0) * THREADS
        assert len(server.attempts) == THREADS * PER_THREAD + retried
    assert failures == []
    assert sorted(done) == list(range(THREADS * PER_THREAD))
    assert server.wait_until_idle()
    assert not server.errors


@pytest.mark.anyio
async def test_one_async_client_shared_by_200_tasks(monkeypatch: pytest.MonkeyPatch) -> None:
    record_sleeps(monkeypatch)
    failures: list[str] = []
    done: list[int] = []
    with ScriptedServer(then=Respond(Echo())) as server:
        async with AsyncClient(api_key=API_KEY, base_url=server.base_url, timeout=30) as client:

            async def work(number: int) -> None:
                prompt = f"task {number}" + ("!" if number % 10 == 0 else "")
                file, data = upload(number)
                try:
                    raw = await client.with_raw_response.transcribe(
                        file, model=MODEL, prompt=prompt
                    )
                except Exception as exc:  # collected, so every task runs to the end
                    failures.append(f"{prompt}: {exc!r}")
                    return
                if raw.parsed.text != expected(prompt, data) or raw.request_id != prompt:
                    failures.append(f"{prompt}: got {raw.parsed.text!r}")
                elif raw.attempts != (2 if prompt.endswith("!") else 1):
                    failures.append(f"{prompt}: {raw.attempts} attempts")
                else:
                    done.append(number)

            with anyio.fail_after(TIME_LIMIT):
                async with anyio.create_task_group() as group:
                    for number in range(TASKS):
                        group.start_soon(work, number)
        assert len(server.attempts) == TASKS + TASKS // 10
        assert server.wait_until_idle()
        assert not server.errors
    assert failures == []
    assert sorted(done) == list(range(TASKS))
