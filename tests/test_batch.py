"""Many inputs at once: ``Client.transcribe_many`` (threads) and ``AsyncClient.transcribe_many``
(tasks).

Results come back in input order whatever order the requests finish in, no more than
``max_concurrency`` requests are in flight, a failed input holds its error while the others go
on, progress is reported once per input, and one 429 holds back every worker (RateGate).

The server is a small httpx transport written here: it answers by the uploaded file's name,
can sleep per name (so completion order differs from input order), and counts the requests in
flight and when each one started.
"""

from __future__ import annotations

import io
import json
import threading
import time
import wave
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from conftest import BASE_URL
from internals import RateGate, base_module, batch_module, read_form

from transcribe_sdk import AsyncClient, BatchResult, Client, RetryPolicy
from transcribe_sdk.errors import (
    BadRequestError,
    InvalidFileError,
    InvalidInputError,
    RateLimitError,
    TranscribeError,
)
from transcribe_sdk.models import Transcription
from transcribe_sdk.testing import FakeServer

MODEL = "whisper-large-v3"


def _tiny_wav() -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(16_000)
        writer.writeframes(b"\x00\x00" * 1600)
    return out.getvalue()


WAV = _tiny_wav()


def inputs(*names: str) -> list[tuple[str, bytes, str]]:
    return [(name, WAV, "audio/wav") for name in names]


# -- the test server ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Start:
    at: float  # time.monotonic(), the clock RateGate uses
    name: str
    worker: str  # the thread (sync client) that sent it


class ByName(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """Answers ``{"text": "transcript of <filename>"}`` after sleeping ``delays[filename]``;
    ``scripts[filename]`` holds (status, headers) answers to give first, in order."""

    def __init__(
        self,
        delays: dict[str, float] | None = None,
        scripts: dict[str, list[tuple[int, dict[str, str]]]] | None = None,
        default_delay: float = 0.0,
    ) -> None:
        self.delays = delays or {}
        self.default_delay = default_delay
        self.scripts = {k: deque(v) for k, v in (scripts or {}).items()}
        self.lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        self.starts: list[Start] = []
        self.finished: list[str] = []

    def _begin(self, request: httpx.Request, body: bytes) -> tuple[str, float, httpx.Response]:
        form = read_form(request.headers["content-type"], body)
        form.close()
        name = (form.upload.filename if form.upload else None) or "?"
        with self.lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self.starts.append(Start(time.monotonic(), name, threading.current_thread().name))
            script = self.scripts.get(name)
            status, headers = script.popleft() if script else (200, {})
        if status == 200:
            payload: dict[str, Any] = {"text": f"transcript of {name}", "provider": "test"}
        else:
            payload = {"error": {"message": f"refused {name}", "type": "test", "code": status}}
        response = httpx.Response(
            status,
            headers={"content-type": "application/json", **headers},
            content=json.dumps(payload).encode(),
            request=request,
        )
        return name, self.delays.get(name, self.default_delay), response

    def _end(self, name: str) -> None:
        with self.lock:
            self.in_flight -= 1
            self.finished.append(name)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        name, delay, response = self._begin(request, request.read())
        try:
            time.sleep(delay)
            return response
        finally:
            self._end(name)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        name, delay, response = self._begin(request, await request.aread())
        try:
            await anyio.sleep(delay)
            return response
        finally:
            self._end(name)


@pytest.fixture
def sync_client() -> Iterator[Callable[[ByName], Client]]:
    opened: list[httpx.Client] = []

    def make(transport: ByName) -> Client:
        http = httpx.Client(transport=transport)
        opened.append(http)
        return Client(api_key="test-key", base_url=BASE_URL, http_client=http)

    yield make
    for http in opened:
        http.close()


def make_async_client(transport: ByName) -> AsyncClient:
    return AsyncClient(
        api_key="test-key", base_url=BASE_URL, http_client=httpx.AsyncClient(transport=transport)
    )


def texts(results: list[BatchResult[Any]]) -> list[str | None]:
    return [r.result.text if r.result is not None else None for r in results]


# -- order -------------------------------------------------------------------------------------

ORDER_DELAYS = {"a.wav": 0.4, "b.wav": 0.0, "c.wav": 0.25, "d.wav": 0.1, "e.wav": 0.0}


def test_sync_results_keep_input_order_when_completion_order_differs(
    sync_client: Callable[[ByName], Client],
) -> None:
    server = ByName(ORDER_DELAYS)
    names = list(ORDER_DELAYS)
    finished: list[int] = []
    results = sync_client(server).transcribe_many(
        inputs(*names),
        model=MODEL,
        max_concurrency=5,
        on_progress=lambda _done, _total, item: finished.append(item.index),
    )
    assert server.finished != names  # the server really did finish them out of order
    assert finished != list(range(5))  # reported as they finished ...
    assert sorted(finished) == list(range(5))  # ... each once (a loaded machine decides which last)
    assert [r.index for r in results] == list(range(5))
    assert [r.input[0] for r in results] == names
    assert texts(results) == [f"transcript of {n}" for n in names]
    assert all(isinstance(r.result, Transcription) and r.ok for r in results)


@pytest.mark.anyio
async def test_async_results_keep_input_order_when_completion_order_differs() -> None:
    server = ByName(ORDER_DELAYS)
    names = list(ORDER_DELAYS)
    finished: list[int] = []
    async with make_async_client(server) as client:
        results = await client.transcribe_many(
            inputs(*names),
            model=MODEL,
            max_concurrency=5,
            on_progress=lambda _done, _total, item: finished.append(item.index),
        )
    assert server.finished != names
    assert finished[-1] == 0
    assert [r.index for r in results] == list(range(5))
    assert texts(results) == [f"transcript of {n}" for n in names]


def test_generator_input_and_text_format() -> None:
    server = FakeServer()
    server.add_result("one")
    with server.client() as client:
        results = client.transcribe_many(
            (item for item in inputs("x.wav")), model=MODEL, response_format="text"
        )
    assert [r.result for r in results] == ["one"]
    assert server.requests[0].field("response_format") == "text"


def test_empty_batch_sends_nothing() -> None:
    server = FakeServer()
    calls: list[Any] = []
    with server.client() as client:
        assert client.transcribe_many([], model=MODEL, on_progress=lambda *a: calls.append(a)) == []
    assert server.requests == []
    assert calls == []


# -- the concurrency bound ---------------------------------------------------------------------


@pytest.mark.parametrize("limit", [1, 3])
def test_sync_concurrency_bound(sync_client: Callable[[ByName], Client], limit: int) -> None:
    server = ByName(default_delay=0.08)
    names = [f"f{i}.wav" for i in range(7)]
    results = sync_client(server).transcribe_many(
        inputs(*names), model=MODEL, max_concurrency=limit
    )
    assert all(r.ok for r in results)
    assert len(server.starts) == 7
    assert server.max_in_flight == limit
    if limit > 1:
        assert len({s.worker for s in server.starts}) == limit  # threads, at most `limit`


def test_sync_pool_is_not_larger_than_the_batch(sync_client: Callable[[ByName], Client]) -> None:
    server = ByName(default_delay=0.05)
    sync_client(server).transcribe_many(inputs("a.wav", "b.wav"), model=MODEL, max_concurrency=50)
    assert server.max_in_flight <= 2
    assert len({s.worker for s in server.starts}) <= 2


@pytest.mark.anyio
@pytest.mark.parametrize("limit", [1, 3])
async def test_async_concurrency_bound(limit: int) -> None:
    server = ByName(default_delay=0.08)
    names = [f"f{i}.wav" for i in range(7)]
    async with make_async_client(server) as client:
        results = await client.transcribe_many(inputs(*names), model=MODEL, max_concurrency=limit)
    assert all(r.ok for r in results)
    assert server.max_in_flight == limit
    assert {s.worker for s in server.starts} == {threading.main_thread().name}  # tasks, no threads


# -- failures stay with their input ------------------------------------------------------------


def test_sync_failures_are_isolated(
    sync_client: Callable[[ByName], Client], tmp_path: Path
) -> None:
    missing = tmp_path / "missing.wav"
    server = ByName(scripts={"bad.wav": [(400, {})]})
    items: list[Any] = [*inputs("a.wav", "bad.wav"), missing, *inputs("c.wav")]
    results = sync_client(server).transcribe_many(items, model=MODEL, max_concurrency=2)
    assert [r.ok for r in results] == [True, False, False, True]
    assert texts(results) == ["transcript of a.wav", None, None, "transcript of c.wav"]
    bad, gone = results[1].error, results[2].error
    assert isinstance(bad, BadRequestError)
    assert bad.status_code == 400
    assert "refused bad.wav" in str(bad)
    assert isinstance(gone, InvalidFileError)
    assert "missing.wav" in str(gone)
    assert results[2].input == missing
    with pytest.raises(BadRequestError):
        results[1].unwrap()
    assert results[0].unwrap().text == "transcript of a.wav"
    assert results[1].result is None
    # the missing file never reached the server; the 400 was not retried
    assert sorted(s.name for s in server.starts) == ["a.wav", "bad.wav", "c.wav"]


@pytest.mark.anyio
async def test_async_failures_are_isolated(tmp_path: Path) -> None:
    server = ByName(scripts={"bad.wav": [(400, {})]})
    items: list[Any] = [*inputs("a.wav", "bad.wav"), tmp_path / "missing.wav", 42]
    async with make_async_client(server) as client:
        results = await client.transcribe_many(items, model=MODEL, max_concurrency=2)
    assert [r.ok for r in results] == [True, False, False, False]
    assert isinstance(results[1].error, BadRequestError)
    assert isinstance(results[2].error, InvalidFileError)
    assert isinstance(results[3].error, InvalidInputError)
    assert texts(results)[0] == "transcript of a.wav"


class BrokenFile(io.RawIOBase):
    """A file object whose every read fails, as a vanished network share would."""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        raise OSError("the disk went away")


def test_sync_an_unreadable_file_object_fails_only_itself() -> None:
    server = FakeServer()
    with server.client() as client:
        results = client.transcribe_many(
            [BrokenFile(), *inputs("b.wav"), ("c.wav", BrokenFile())], model=MODEL
        )
    assert [r.ok for r in results] == [False, True, False]
    for item in (results[0], results[2]):
        assert isinstance(item.error, InvalidFileError)
        assert "the disk went away" in str(item.error)
        assert isinstance(item.error.__cause__, OSError)
    assert len(server.requests) == 1


@pytest.mark.anyio
async def test_async_an_unreadable_file_object_fails_only_itself() -> None:
    server = FakeServer()
    async with server.async_client() as client:
        results = await client.transcribe_many([BrokenFile(), *inputs("b.wav")], model=MODEL)
    assert [r.ok for r in results] == [False, True]
    assert isinstance(results[0].error, InvalidFileError)


def test_a_server_error_after_retries_is_reported_on_the_item() -> None:
    server = FakeServer()
    server.add_error(503, "down", retry_after=0)
    server.add_error(503, "down", retry_after=0)
    server.add_result("fine")
    with server.client(max_retries=1) as client:
        results = client.transcribe_many(inputs("a.wav", "b.wav"), model=MODEL, max_concurrency=1)
    assert isinstance(results[0].error, TranscribeError)
    assert results[0].error.status_code == 503  # type: ignore[attr-defined]
    assert texts(results)[1] == "fine"


# -- progress ----------------------------------------------------------------------------------


def test_sync_progress_once_per_input(
    sync_client: Callable[[ByName], Client], tmp_path: Path
) -> None:
    server = ByName({"a.wav": 0.1, "b.wav": 0.0, "c.wav": 0.05})
    calls: list[tuple[int, int, int, bool]] = []
    threads: set[str] = set()
    items: list[Any] = [*inputs("a.wav", "b.wav"), tmp_path / "nope.wav", *inputs("c.wav")]
    results = sync_client(server).transcribe_many(
        items,
        model=MODEL,
        max_concurrency=3,
        on_progress=lambda done, total, item: (
            calls.append((done, total, item.index, item.ok)),
            threads.add(threading.current_thread().name),
        ),
    )
    assert threads == {threading.current_thread().name}  # called in the calling thread
    assert [c[0] for c in calls] == [1, 2, 3, 4]
    assert {c[1] for c in calls} == {4}
    assert sorted(c[2] for c in calls) == [0, 1, 2, 3]
    assert {c[2]: c[3] for c in calls} == {r.index: r.ok for r in results}


@pytest.mark.anyio
async def test_async_progress_once_per_input() -> None:
    server = ByName({"a.wav": 0.1, "b.wav": 0.0, "c.wav": 0.05}, scripts={"b.wav": [(400, {})]})
    calls: list[tuple[int, int, int, bool]] = []
    async with make_async_client(server) as client:
        await client.transcribe_many(
            inputs("a.wav", "b.wav", "c.wav"),
            model=MODEL,
            on_progress=lambda done, total, item: calls.append((done, total, item.index, item.ok)),
        )
    assert calls == [(1, 3, 1, False), (2, 3, 2, True), (3, 3, 0, True)]


# -- RateGate ----------------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_rate_gate_with_an_injected_clock() -> None:
    clock = FakeClock()
    gate = RateGate(clock=clock)
    assert gate.wait_time() == 0.0
    gate.hold(2.0)
    assert gate.wait_time() == pytest.approx(2.0)
    clock.now += 0.5
    assert gate.wait_time() == pytest.approx(1.5)
    gate.hold(1.0)  # a shorter hold never shortens the wait
    assert gate.wait_time() == pytest.approx(1.5)
    gate.hold(3.0)  # a longer one extends it
    assert gate.wait_time() == pytest.approx(3.0)
    clock.now += 3.0
    assert gate.wait_time() == 0.0
    clock.now += 10.0
    assert gate.wait_time() == 0.0  # never negative
    gate.hold(-5.0)
    assert gate.wait_time() == 0.0
    gate.hold(0.0)
    assert gate.wait_time() == 0.0


def test_rate_gate_is_shared_safely_between_threads() -> None:
    clock = FakeClock()
    gate = RateGate(clock=clock)
    threads = [threading.Thread(target=gate.hold, args=(i / 10,)) for i in range(1, 51)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert gate.wait_time() == pytest.approx(5.0)


def test_batch_result_accessors() -> None:
    ok: BatchResult[str] = BatchResult(0, "a.wav", result="hi")
    failed: BatchResult[str] = BatchResult(1, "b.wav", error=InvalidFileError("gone"))
    assert ok.ok
    assert ok.unwrap() == "hi"
    assert not failed.ok
    with pytest.raises(InvalidFileError):
        failed.unwrap()


# -- one 429 holds every worker ----------------------------------------------------------------

RETRY_AFTER = 0.3
EPSILON = 0.005  # sleeping may wake a hair early on some platforms
HELD_BOUND = 8.0
"""Seconds a batch held by one 0.3 s Retry-After may take: far over what a loaded machine adds,
far under the 18 s of that Retry-After read as minutes (or a hold that is never lifted)."""
FAR_OFF_BOUND = 30.0
"""Seconds a batch that met an hour-long Retry-After may take: far under the hour."""


@dataclass
class Hold:
    after: float  # when the hold was in place
    until: float  # when it ends
    seconds: float


def recording_gate(holds: list[Hold]) -> type[RateGate]:
    class RecordingGate(RateGate):
        def __init__(self) -> None:
            super().__init__(clock=time.monotonic)

        def hold(self, seconds: float) -> None:
            super().hold(seconds)
            after = time.monotonic()
            holds.append(Hold(after, after + self.wait_time(), seconds))

    return RecordingGate


def _check_everyone_waited(server: ByName, holds: list[Hold], started: float) -> None:
    """No request reaches the server between the hold being set and its end (measured on the
    gate's clock). Requests already in flight when the 429 came (b, c) are not recalled."""
    assert len(holds) == 1
    hold = holds[0]
    assert hold.seconds == pytest.approx(RETRY_AFTER)
    # What is left of the hold when it was read back: all of it, less any scheduling delay.
    assert 0 < hold.until - hold.after <= RETRY_AFTER + EPSILON
    later = [s for s in server.starts if s.at > hold.after]
    early = [s for s in later if s.at < hold.until - EPSILON]
    assert early == [], f"requests started inside the held window: {early}"
    # the others had work waiting and were held too, not only the one that got the 429
    assert len({s.name for s in later} - {"a.wav"}) >= 2
    assert [s.name for s in server.starts].count("a.wav") == 2
    assert time.monotonic() - started < HELD_BOUND


def test_sync_one_429_holds_back_the_other_workers(
    sync_client: Callable[[ByName], Client], monkeypatch: pytest.MonkeyPatch
) -> None:
    holds: list[Hold] = []
    monkeypatch.setattr(batch_module, "RateGate", recording_gate(holds))
    server = ByName(
        default_delay=0.1,
        delays={"a.wav": 0.03},  # the 429 comes while b and c are in flight
        scripts={"a.wav": [(429, {"retry-after": f"{RETRY_AFTER}"})]},
    )
    names = [f"{c}.wav" for c in "abcdef"]
    started = time.monotonic()
    results = sync_client(server).transcribe_many(inputs(*names), model=MODEL, max_concurrency=3)
    assert all(r.ok for r in results), [r.error for r in results]
    _check_everyone_waited(server, holds, started)
    later_workers = {s.worker for s in server.starts if s.at > holds[0].after}
    assert len(later_workers) >= 2  # more than one thread was held back


@pytest.mark.anyio
async def test_async_one_429_holds_back_the_other_tasks(monkeypatch: pytest.MonkeyPatch) -> None:
    holds: list[Hold] = []
    monkeypatch.setattr(batch_module, "RateGate", recording_gate(holds))
    server = ByName(
        default_delay=0.1,
        delays={"a.wav": 0.03},  # the 429 comes while b and c are in flight
        scripts={"a.wav": [(429, {"retry-after": f"{RETRY_AFTER}"})]},
    )
    names = [f"{c}.wav" for c in "abcdef"]
    started = time.monotonic()
    async with make_async_client(server) as client:
        results = await client.transcribe_many(inputs(*names), model=MODEL, max_concurrency=3)
    assert all(r.ok for r in results)
    _check_everyone_waited(server, holds, started)


def test_without_a_429_nobody_waits(
    sync_client: Callable[[ByName], Client], monkeypatch: pytest.MonkeyPatch
) -> None:
    holds: list[Hold] = []
    monkeypatch.setattr(batch_module, "RateGate", recording_gate(holds))
    server = ByName(scripts={"a.wav": [(503, {"retry-after": "0"})]})
    results = sync_client(server).transcribe_many(inputs("a.wav", "b.wav"), model=MODEL)
    assert all(r.ok for r in results)
    assert holds == []  # only a 429 holds the batch; other retries are the request's own


def test_a_far_off_retry_after_does_not_stall_the_batch(
    sync_client: Callable[[ByName], Client], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: a 429 asking for an hour failed its own request (more than max_retry_after)
    but held every other worker for that hour. The hold is now capped like a single call's
    wait (max_retry_after, 60 s by default; 0.2 s here to keep the test short)."""
    holds: list[Hold] = []
    monkeypatch.setattr(batch_module, "RateGate", recording_gate(holds))
    monkeypatch.setattr(base_module, "RetryPolicy", partial(RetryPolicy, max_retry_after=0.2))
    server = ByName(scripts={"a.wav": [(429, {"retry-after": "3600"})]})
    started = time.monotonic()
    results = sync_client(server).transcribe_many(
        inputs("a.wav", "b.wav"), model=MODEL, max_concurrency=1
    )
    assert time.monotonic() - started < FAR_OFF_BOUND
    error = results[0].error
    assert isinstance(error, RateLimitError)
    assert error.retry_after == 3600
    assert results[1].ok
    assert [h.until - h.after for h in holds] == [pytest.approx(0.2, abs=0.05)]


# -- bad arguments fail before any request -----------------------------------------------------


@pytest.mark.parametrize("limit", [0, -1, True, 1.5, "2", None])
def test_bad_max_concurrency(limit: Any) -> None:
    server = FakeServer()
    with server.client() as client, pytest.raises(InvalidInputError) as caught:
        client.transcribe_many(inputs("a.wav"), model=MODEL, max_concurrency=limit)
    assert caught.value.param == "max_concurrency"
    assert server.requests == []


@pytest.mark.parametrize(
    "files", ["a.wav", b"RIFF....WAVE", bytearray(b"x"), io.BytesIO(b"x"), Path("a.wav"), 3]
)
def test_a_single_input_instead_of_a_list(files: Any) -> None:
    server = FakeServer()
    with server.client() as client, pytest.raises(InvalidInputError) as caught:
        client.transcribe_many(files, model=MODEL)
    assert caught.value.param == "files"
    assert server.requests == []


def test_bad_options_fail_before_any_request() -> None:
    server = FakeServer()
    with server.client() as client:
        with pytest.raises(InvalidInputError):
            client.transcribe_many(inputs("a.wav"), model=MODEL, response_format="html")
        with pytest.raises(InvalidInputError):
            client.transcribe_many(inputs("a.wav"), model=MODEL, temperature=5)
    assert server.requests == []


@pytest.mark.anyio
@pytest.mark.parametrize(("files", "limit"), [("a.wav", 2), (inputs("a.wav"), 0)])
async def test_async_bad_arguments(files: Any, limit: int) -> None:
    server = FakeServer()
    async with server.async_client() as client:
        with pytest.raises(InvalidInputError):
            await client.transcribe_many(files, model=MODEL, max_concurrency=limit)
    assert server.requests == []


def _streams(tmp_path: Path) -> dict[str, Callable[[], list[Any]]]:
    """Batches that hold one stream more than once, each way it can be given."""
    path = tmp_path / "a.wav"
    path.write_bytes(WAV)

    def one_file_four_times() -> list[Any]:
        return [path.open("rb")] * 4

    def bare_and_in_a_tuple() -> list[Any]:
        handle = path.open("rb")
        return [handle, ("a.wav", handle)]

    def two_tuples() -> list[Any]:
        memory = io.BytesIO(WAV)
        return [("a.wav", memory), ("b.wav", memory, "audio/wav")]

    return {
        "one_file_four_times": one_file_four_times,
        "bare_and_in_a_tuple": bare_and_in_a_tuple,
        "two_tuples": two_tuples,
    }


@pytest.mark.parametrize("way", ["one_file_four_times", "bare_and_in_a_tuple", "two_tuples"])
def test_the_same_stream_twice_is_refused_before_anything_is_read(tmp_path: Path, way: str) -> None:
    files = _streams(tmp_path)[way]()
    server = FakeServer()
    with server.client() as client, pytest.raises(InvalidInputError) as caught:
        client.transcribe_many(files, model=MODEL)
    assert caught.value.param == "files"
    assert "inputs 0 and 1 are the same" in str(caught.value)
    assert "open the file once per input, or pass its path" in str(caught.value)
    assert server.requests == []
    streams = {id(s): s for s in (f[1] if isinstance(f, tuple) else f for f in files)}
    for stream in streams.values():
        assert stream.tell() == 0  # not read at all
        stream.close()


@pytest.mark.anyio
@pytest.mark.parametrize("way", ["one_file_four_times", "bare_and_in_a_tuple", "two_tuples"])
async def test_async_the_same_stream_twice_is_refused_before_anything_is_read(
    tmp_path: Path, way: str
) -> None:
    files = _streams(tmp_path)[way]()
    server = FakeServer()
    async with server.async_client() as client:
        with pytest.raises(InvalidInputError) as caught:
            await client.transcribe_many(files, model=MODEL)
    assert caught.value.param == "files"
    assert server.requests == []
    for item in files:
        (item[1] if isinstance(item, tuple) else item).close()


@pytest.mark.anyio
async def test_async_the_same_async_iterator_twice_is_refused() -> None:
    async def chunks() -> Any:
        yield WAV

    stream = chunks()
    server = FakeServer()
    async with server.async_client() as client:
        with pytest.raises(InvalidInputError, match="inputs 0 and 2 are the same"):
            await client.transcribe_many([stream, WAV, stream], model=MODEL)
    assert server.requests == []


def test_the_same_path_or_bytes_twice_is_fine(tmp_path: Path) -> None:
    path = tmp_path / "a.wav"
    path.write_bytes(WAV)
    server = FakeServer()
    with server.client() as client:
        results = client.transcribe_many(
            [path, path, str(path), WAV, WAV, ("x.wav", WAV)], model=MODEL
        )
    assert [r.ok for r in results] == [True] * 6
    assert all(r.file is not None and r.file.data == WAV for r in server.requests)
