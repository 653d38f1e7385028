"""Ctrl+C and cancellation stop a batch at once: the command (a real process, a real SIGINT),
``Client.transcribe_many`` and ``AsyncClient.transcribe_many``, against a loopback server that
holds some answers until the test lets them go.

A held answer is never released before the run under test has returned, so "it stopped
promptly" is shown by the run returning at all, not by a timing assertion: the old behaviour
(wait for every request in flight) would block until the test gives up.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import pytest
from _serving import long_wav
from conftest import API_KEY, FIXTURES
from internals import cli_main as cli
from socket_server import Answer, Recorded, ScriptedServer, json_reply, text_reply

from transcribe_sdk import AsyncClient, BatchResult, Client

MODEL = "whisper-large-v3"
WAV = (FIXTURES / "hello.wav").read_bytes()
HOLD_LIMIT = 60.0
"""Seconds a held answer waits at most for the test to release it."""
WAIT_LIMIT = 30.0
"""Seconds a test waits for the run under test to reach the state it needs."""

pytestmark = pytest.mark.skipif(
    sys.platform == "win32", reason="sends SIGINT to a process, a POSIX signal"
)


class Held:
    """The server's script: names starting with ``slow`` are answered once released."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.lock = threading.Condition()
        self.holding = 0
        self.answered = 0
        """Held answers sent: 0 while the run under test must not have waited for one."""

    def respond(self, request: Recorded) -> Answer:
        form = request.form()
        name = form.file().filename or ""
        if name.startswith("slow"):
            with self.lock:
                self.holding += 1
                self.lock.notify_all()
            self.release.wait(HOLD_LIMIT)
            with self.lock:
                self.answered += 1
        if form.field("response_format") == "text":
            return text_reply(f"transcript of {name}")
        return json_reply({"text": f"transcript of {name}"})

    def wait_holding(self, count: int) -> None:
        with self.lock:
            assert self.lock.wait_for(lambda: self.holding >= count, WAIT_LIMIT), self.holding


@contextmanager
def held_server() -> Iterator[tuple[ScriptedServer, Held]]:
    held = Held()
    with ScriptedServer(held.respond) as server:
        try:
            yield server, held
        finally:
            held.release.set()
            _let_workers_finish()


def _let_workers_finish() -> None:
    # A stopped batch leaves its in-flight calls to end on their own; once released they do,
    # and the next test starts without them.
    deadline = time.monotonic() + WAIT_LIMIT
    for thread in threading.enumerate():
        if thread.name.startswith("transcribe-"):
            thread.join(max(0.0, deadline - time.monotonic()))


def _filenames(server: ScriptedServer) -> list[str]:
    return sorted(r.form().file().filename or "" for r in server.requests)


# -- the command -------------------------------------------------------------------------------


def _command() -> str:
    path = Path(sys.executable).parent / "transcribe"
    if not path.exists():
        pytest.skip("the transcribe console script is not installed next to the interpreter")
    return str(path)


def _wait_for(path: Path) -> None:
    deadline = time.monotonic() + WAIT_LIMIT
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def test_ctrl_c_stops_the_command_at_once_and_keeps_what_finished(tmp_path: Path) -> None:
    for name in ("fast.wav", "slow1.wav", "slow2.wav", "slow3.wav"):
        shutil.copy(FIXTURES / "hello.wav", tmp_path / name)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRANSCRIBE_")}
    env["TRANSCRIBE_API_KEY"] = API_KEY
    with held_server() as (server, held):
        process = subprocess.Popen(
            [_command(), str(tmp_path), "-c", "2", "--base-url", server.base_url],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            held.wait_holding(2)  # slow1 and slow2 are in flight, slow3 waits for a worker
            _wait_for(tmp_path / "fast.wav.txt")
            process.send_signal(signal.SIGINT)
            out, err = process.communicate(timeout=WAIT_LIMIT)
            still_held = held.answered == 0
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
    assert still_held  # it did not wait for the answers in flight
    assert process.returncode == 130, err
    assert out == ""
    assert (tmp_path / "fast.wav.txt").read_text() == "transcript of fast.wav\n"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".txt")) == ["fast.wav.txt"]
    assert not list(tmp_path.glob(".*"))  # no temporary file left behind
    assert "Traceback" not in err
    assert "transcribe: interrupted: 1 done, 0 failed, 3 not finished, 0 skipped" in err
    assert "slow3.wav" not in _filenames(server)  # not started after Ctrl+C


def test_a_second_ctrl_c_while_tidying_up_ends_the_process() -> None:
    before = signal.getsignal(signal.SIGINT)
    with cli._second_interrupt_kills(True):
        assert signal.getsignal(signal.SIGINT) == signal.SIG_DFL
    assert signal.getsignal(signal.SIGINT) is before
    with cli._second_interrupt_kills(False):
        assert signal.getsignal(signal.SIGINT) is before


# -- the Python API ----------------------------------------------------------------------------

INPUTS = [(name, WAV, "audio/wav") for name in ("fast.wav", "slow1.wav", "slow2.wav", "later.wav")]


def test_ctrl_c_in_sync_transcribe_many_returns_at_once() -> None:
    finished: list[BatchResult[Any]] = []
    with held_server() as (server, held), Client(api_key=API_KEY, base_url=server.base_url) as c:

        def interrupt() -> None:
            held.wait_holding(2)
            os.kill(os.getpid(), signal.SIGINT)

        sender = threading.Thread(target=interrupt)
        sender.start()
        try:
            with pytest.raises(KeyboardInterrupt):
                c.transcribe_many(
                    INPUTS,
                    model=MODEL,
                    max_concurrency=2,
                    on_progress=lambda _d, _t, item: finished.append(item),
                )
            still_held = held.answered == 0
        finally:
            sender.join(WAIT_LIMIT)
    assert still_held
    assert [item.input[0] for item in finished] == ["fast.wav"]
    assert finished[0].ok
    assert "later.wav" not in _filenames(server)  # pending work was dropped


@pytest.mark.anyio
async def test_cancelling_async_transcribe_many_cancels_the_requests_in_flight() -> None:
    finished: list[BatchResult[Any]] = []
    with held_server() as (server, held):
        async with AsyncClient(api_key=API_KEY, base_url=server.base_url) as client:
            async with anyio.create_task_group() as group:

                async def run() -> None:
                    await client.transcribe_many(
                        INPUTS,
                        model=MODEL,
                        max_concurrency=2,
                        on_progress=lambda _d, _t, item: finished.append(item),
                    )

                group.start_soon(run)
                await anyio.to_thread.run_sync(held.wait_holding, 2)
                group.cancel_scope.cancel()
            still_held = held.answered == 0
    assert still_held
    assert [item.input[0] for item in finished] == ["fast.wav"]
    assert "later.wav" not in _filenames(server)


# -- the local engine: the model stops, the process does not abort ---------------------------

LONG = FIXTURES / "long_speech.wav"  # a minute of speech: many segments to stop between

_LOCAL_BATCH = """
import sys
from transcribe_sdk import Client
print("started", flush=True)
Client(base_url="local").transcribe_many([sys.argv[1], sys.argv[2]], model="tiny.en")
"""


def test_ctrl_c_in_local_transcribe_many_stops_the_model_without_an_abort(
    tmp_path: Path,
) -> None:
    # No `with`, no close(): the interpreter's exit must still stop CTranslate2's threads,
    # which abort the process ("terminate called without an active exception") otherwise.
    second = tmp_path / "again.wav"
    shutil.copy(LONG, second)
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    env.pop("TRANSCRIBE_BASE_URL", None)
    process = subprocess.Popen(
        [sys.executable, "-c", _LOCAL_BATCH, str(LONG), str(second)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline() == "started\n"
        time.sleep(3)  # the model is loaded and decoding both files
        engines = _children(process.pid)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=WAIT_LIMIT)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert "terminate called" not in err
    assert process.returncode in (-signal.SIGINT, 1, 130), err
    assert "KeyboardInterrupt" in err
    if sys.platform == "linux":
        assert len(engines) == 1  # the model ran in the engine's own process ...
        deadline = time.monotonic() + WAIT_LIMIT
        while Path(f"/proc/{engines[0]}").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not Path(f"/proc/{engines[0]}").exists()  # ... which ended with the program


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (Linux's process table; elsewhere none)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # ended while we looked
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


@pytest.mark.anyio
async def test_a_cancelled_local_async_call_stops_the_model() -> None:
    from internals import inprocess_module as _inprocess

    async with AsyncClient(base_url="local") as client:
        with anyio.move_on_after(1.0) as scope:
            await client.transcribe(LONG, model="tiny.en")
        assert scope.cancelled_caught  # returned without waiting for the minute of audio
    # closing the client waited for its model to stop at its next segment: nothing runs
    assert all(not running._events for running in list(_inprocess._EVERY))


class _SlowToClose:
    """A client whose close() blocks until released, as a local engine's waits for its model."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.closed = False

    def close(self) -> None:
        self.release.wait(WAIT_LIMIT)
        self.closed = True


def test_a_stopped_command_does_not_wait_for_its_client_to_close() -> None:
    slow = _SlowToClose()
    try:
        # It came back while close() still blocked: the command does not wait for the model.
        assert cli.close_within(slow, 0.01) is False
        assert not slow.closed
    finally:
        slow.release.set()
    quick = _SlowToClose()
    quick.release.set()
    assert cli.close_within(quick, WAIT_LIMIT) is True
    assert quick.closed


@pytest.mark.heavy
def test_ctrl_c_in_the_local_command_ends_it_without_waiting_for_the_model(
    tmp_path: Path,
) -> None:
    for name in ("one.wav", "two.wav"):  # three minutes: off a terminal, a line per quarter
        long_wav(tmp_path / name, repeats=3)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRANSCRIBE_")}
    env["HF_HUB_OFFLINE"] = "1"
    process = subprocess.Popen(
        [_command(), "--local", str(tmp_path / "one.wav"), str(tmp_path / "two.wav")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stderr is not None
        # A file's first quarter decoded: the model is decoding both files.
        deadline = time.monotonic() + WAIT_LIMIT
        while time.monotonic() < deadline:
            line = process.stderr.readline()
            assert line, "the command ended before it started a file"
            if " decoded (" in line:
                break
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=WAIT_LIMIT)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 130, err
    assert "Traceback" not in err
    assert "terminate called" not in err
    assert "transcribe: interrupted" in err
