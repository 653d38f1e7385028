"""Long audio: splitting at quiet points (_splitter), stitching (_stitch), and
``transcribe_long`` end to end, through FakeServer and through the local engine.

The speech file of several minutes is made here: tests/fixtures/long_speech.wav (about a
minute of speech, 16 kHz mono) three times over with silence between the copies. Memory is
checked with tracemalloc on a ten-minute synthetic file.
"""

from __future__ import annotations

import io
import json
import math
import re
import threading
import time
import tracemalloc
import wave
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path
from typing import Any

import anyio
import httpx
import numpy as np
import pytest
from conftest import FIXTURES
from internals import (
    SAMPLE_RATE,
    Piece,
    as_format,
    iter_pieces,
    long_module,
    probe_duration,
    quietest_cut,
    stitch,
)
from wer import word_error_rate

from transcribe_sdk import AsyncClient, Client
from transcribe_sdk.errors import BadRequestError, InvalidFileError, InvalidInputError
from transcribe_sdk.models import (
    DurationUsage,
    Segment,
    Transcription,
    VerboseTranscription,
    Word,
)
from transcribe_sdk.testing import DEFAULT_TEXT, FakeServer

LONG_SPEECH = FIXTURES / "long_speech.wav"
WINDOW = SAMPLE_RATE // 50  # 20 ms, the splitter's window


def read_wav(data: bytes | Path) -> np.ndarray[Any, Any]:
    source = io.BytesIO(data) if isinstance(data, bytes) else data
    with wave.open(source if isinstance(source, io.BytesIO) else str(source)) as reader:
        assert reader.getnchannels() == 1
        assert reader.getsampwidth() == 2
        assert reader.getframerate() == SAMPLE_RATE
        return np.frombuffer(reader.readframes(reader.getnframes()), dtype="<i2")


def write_wav(path: Path, samples: np.ndarray[Any, Any], rate: int = SAMPLE_RATE) -> Path:
    with wave.open(str(path), "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(samples.astype("<i2").tobytes())
    return path


def rms(samples: np.ndarray[Any, Any]) -> float:
    return float(np.sqrt(np.mean(samples.astype(np.float64) ** 2))) if len(samples) else 0.0


@pytest.fixture(scope="module")
def speech_minutes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About 3 minutes 10 seconds of speech: long_speech.wav three times, 1.2 s gaps."""
    speech = read_wav(LONG_SPEECH)
    gap = np.zeros(int(1.2 * SAMPLE_RATE), dtype="<i2")
    samples = np.concatenate([speech, gap, speech, gap, speech])
    return write_wav(tmp_path_factory.mktemp("long") / "three_times.wav", samples)


def sine_bursts(seconds: float, seed: int = 0) -> np.ndarray[Any, Any]:
    """Tones of 3-8 s separated by 0.4-1.5 s of silence."""
    rng = np.random.default_rng(seed)
    parts, total = [], 0
    while total < seconds * SAMPLE_RATE:
        burst = int(rng.uniform(3, 8) * SAMPLE_RATE)
        t = np.arange(burst) / SAMPLE_RATE
        parts.append((8000 * np.sin(2 * np.pi * rng.uniform(200, 800) * t)).astype("<i2"))
        gap = int(rng.uniform(0.4, 1.5) * SAMPLE_RATE)
        parts.append(np.zeros(gap, dtype="<i2"))
        total += burst + gap
    return np.concatenate(parts)[: int(seconds * SAMPLE_RATE)]


# -- splitting ---------------------------------------------------------------------------------


def test_split_several_minutes_of_speech(speech_minutes: Path) -> None:
    original = read_wav(speech_minutes)
    file_seconds = len(original) / SAMPLE_RATE
    assert 180 < file_seconds < 240
    assert probe_duration(speech_minutes) == pytest.approx(file_seconds, abs=1e-3)

    max_seconds = 25.0
    pieces = list(iter_pieces(speech_minutes, max_seconds=max_seconds))
    assert len(pieces) >= math.ceil(file_seconds / max_seconds)
    assert [p.index for p in pieces] == list(range(len(pieces)))
    decoded = [read_wav(p.wav) for p in pieces]

    offset = 0  # in samples
    for piece, samples in zip(pieces, decoded, strict=True):
        assert piece.duration <= max_seconds
        assert len(samples) <= max_seconds * SAMPLE_RATE
        assert piece.duration == pytest.approx(len(samples) / SAMPLE_RATE, abs=5e-4)
        assert piece.start == pytest.approx(offset / SAMPLE_RATE, abs=5e-4)
        offset += len(samples)
    for before, after in pairwise(pieces):  # contiguous: no gap, no overlap
        assert after.start == pytest.approx(before.start + before.duration, abs=1e-3)
    assert sum(p.duration for p in pieces) == pytest.approx(file_seconds, abs=1e-3 * len(pieces))
    assert pieces[-1].start + pieces[-1].duration == pytest.approx(file_seconds, abs=1e-3)

    # nothing lost or duplicated at the cuts: the pieces put back together are the file
    assert np.array_equal(np.concatenate(decoded), original)

    # the cuts land where it is quiet, and not far before the limit
    windows = original[: len(original) // WINDOW * WINDOW].reshape(-1, WINDOW)
    window_rms = np.sqrt((windows.astype(np.float64) ** 2).mean(axis=1))
    speech_level = float(np.median(window_rms[window_rms > 0]))
    cut = 0
    for piece, samples in zip(pieces[:-1], decoded[:-1], strict=True):
        cut += len(samples)
        assert rms(original[cut - WINDOW // 2 : cut + WINDOW // 2]) < 0.05 * speech_level
        assert piece.duration >= max_seconds * 0.75 - 0.02


def test_split_reads_file_objects_and_other_formats() -> None:
    for name in ("hello.mp3", "hello.flac", "hello.m4a"):
        with (FIXTURES / name).open("rb") as handle:
            pieces = list(iter_pieces(handle, max_seconds=1.5))
        assert len(pieces) >= 3
        total = sum(p.duration for p in pieces)
        assert total == pytest.approx(probe_duration(FIXTURES / name), abs=0.1)
        for piece in pieces:
            assert piece.duration <= 1.5
            assert len(read_wav(piece.wav)) == pytest.approx(piece.duration * SAMPLE_RATE, abs=8)


def test_split_resamples_to_16k_mono(tmp_path: Path) -> None:
    rate = 44_100
    t = np.arange(3 * rate) / rate
    stereo = np.repeat((5000 * np.sin(2 * np.pi * 300 * t)).astype("<i2"), 2)
    path = tmp_path / "stereo.wav"
    with wave.open(str(path), "wb") as writer:
        writer.setnchannels(2)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(stereo.tobytes())
    pieces = list(iter_pieces(path, max_seconds=2))
    assert [p.duration <= 2 for p in pieces] == [True, True]
    assert sum(len(read_wav(p.wav)) for p in pieces) == pytest.approx(3 * SAMPLE_RATE, abs=64)


def test_a_file_shorter_than_the_limit_is_one_piece() -> None:
    pieces = list(iter_pieces(FIXTURES / "hello.wav", max_seconds=30))
    assert len(pieces) == 1
    assert pieces[0].start == 0.0
    assert np.array_equal(read_wav(pieces[0].wav), read_wav(FIXTURES / "hello.wav"))


def test_split_refuses_what_is_not_audio(tmp_path: Path) -> None:
    with pytest.raises(InvalidFileError):
        list(iter_pieces(io.BytesIO(b"this is not audio at all" * 100), max_seconds=10))
    bogus = tmp_path / "bogus.wav"
    bogus.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" * 10)
    with pytest.raises(InvalidFileError):
        list(iter_pieces(bogus, max_seconds=10))


def _noise(seconds: float, seed: int = 1) -> np.ndarray[Any, Any]:
    rng = np.random.default_rng(seed)
    return (rng.normal(0, 3000, int(seconds * SAMPLE_RATE))).astype("<i2")


def _silence(samples: np.ndarray[Any, Any], start: float, end: float, level: int = 0) -> None:
    a, b = int(start * SAMPLE_RATE), int(end * SAMPLE_RATE)
    samples[a:b] = np.random.default_rng(2).integers(-level, level + 1, b - a) if level else 0


def test_quietest_cut_picks_the_longest_silent_run() -> None:
    samples = _noise(3.0)
    _silence(samples, 0.50, 0.70)  # short
    _silence(samples, 2.00, 2.50)  # longest: the cut goes in its middle
    _silence(samples, 1.20, 1.24)  # shortest, but just as quiet
    cut = quietest_cut(samples, 0, len(samples))
    assert abs(cut - int(2.25 * SAMPLE_RATE)) <= WINDOW


def test_quietest_cut_prefers_a_long_near_silence_to_a_short_true_silence() -> None:
    samples = _noise(3.0)
    _silence(samples, 0.50, 0.56)  # 60 ms of digital silence
    _silence(samples, 1.50, 2.10, level=3)  # 600 ms of faint hiss
    cut = quietest_cut(samples, 0, len(samples))
    assert int(1.5 * SAMPLE_RATE) <= cut <= int(2.1 * SAMPLE_RATE)


def test_quietest_cut_takes_the_later_of_equal_runs_and_stays_in_bounds() -> None:
    samples = _noise(4.0)
    _silence(samples, 1.0, 1.4)
    _silence(samples, 3.0, 3.4)
    assert abs(quietest_cut(samples, 0, len(samples)) - int(3.2 * SAMPLE_RATE)) <= WINDOW
    # only the region [low, high] is searched
    low, high = int(0.5 * SAMPLE_RATE), int(2.5 * SAMPLE_RATE)
    cut = quietest_cut(samples, low, high)
    assert abs(cut - int(1.2 * SAMPLE_RATE)) <= WINDOW
    assert low <= cut <= high


def test_quietest_cut_edge_cases() -> None:
    silent = np.zeros(SAMPLE_RATE, dtype="<i2")
    assert quietest_cut(silent, 0, SAMPLE_RATE) == SAMPLE_RATE // 2  # all quiet: the middle
    assert quietest_cut(silent, 100, 100 + WINDOW - 1) == 100 + WINDOW - 1  # under one window
    assert quietest_cut(silent, -50, 10 * SAMPLE_RATE) <= SAMPLE_RATE  # clamped to the array
    tone = (8000 * np.sin(np.arange(SAMPLE_RATE) / 3)).astype("<i2")
    assert 0 <= quietest_cut(tone, 0, SAMPLE_RATE) <= SAMPLE_RATE  # nothing quiet: still a cut


def test_memory_stays_bounded_on_ten_minutes(tmp_path: Path) -> None:
    """Splitting keeps about one piece in memory, however long the file."""

    def peak_while_splitting(path: Path) -> tuple[int, float]:
        tracemalloc.start()
        try:
            total = 0.0
            for piece in iter_pieces(path, max_seconds=30):
                assert piece.duration <= 30
                total += piece.duration
                del piece  # keep nothing, as transcribe_long does once a piece is sent
            return tracemalloc.get_traced_memory()[1], total
        finally:
            tracemalloc.stop()

    ten = write_wav(tmp_path / "ten_minutes.wav", sine_bursts(600))
    short = write_wav(tmp_path / "ninety_seconds.wav", sine_bursts(90, seed=3))
    decoded_size = 600 * SAMPLE_RATE * 2  # 19.2 MB of 16-bit samples
    piece_size = 30 * SAMPLE_RATE * 2

    short_peak, _ = peak_while_splitting(short)
    long_peak, seconds = peak_while_splitting(ten)
    assert seconds == pytest.approx(600, abs=0.05)
    assert long_peak < decoded_size / 2, f"peak {long_peak / 1e6:.1f} MB"
    assert long_peak < 10 * piece_size
    # and it does not grow with the length: ten minutes need about what ninety seconds need
    assert long_peak < short_peak * 1.3 + 256 * 1024, (long_peak, short_peak)


# -- stitching ---------------------------------------------------------------------------------


def _verbose(text: str, segments: list[tuple[float, float, str]], **extra: Any) -> Any:
    return VerboseTranscription(
        text=text,
        segments=[
            Segment(id=i, seek=0, start=s, end=e, text=t) for i, (s, e, t) in enumerate(segments)
        ],
        **extra,
    )


def test_stitch_moves_renumbers_and_sums() -> None:
    first = _verbose(
        " One two.",
        [(0.0, 1.0, " One"), (1.2, 2.5, " two.")],
        id="req-1",
        provider="ovh",
        model="m",
        language="english",
        duration=10.0,
        words=[Word(word="One", start=0.0, end=0.5), Word(word="two", start=1.2, end=1.6)],
        usage=DurationUsage(seconds=10),
    )
    second = _verbose(
        "Three four.",
        [(0.5, 2.0, " Three"), (2.0, 9.0, " four.")],
        id="req-2",
        provider="ovh",
        language="english",
        words=[Word(word="Three", start=0.5, end=1.0), Word(word="four", start=2.0, end=2.4)],
        usage=DurationUsage(seconds=7.5),
    )
    result = stitch([(0.0, 10.0, first), (10.0, 7.5, second)])
    assert isinstance(result, VerboseTranscription)
    assert result.text == "One two. Three four."
    assert result.segments is not None
    assert [s.id for s in result.segments] == [0, 1, 2, 3]
    assert [(s.start, s.end) for s in result.segments] == [
        (0.0, 1.0),
        (1.2, 2.5),
        (10.5, 12.0),
        (12.0, 17.5),  # 19.0 is past the piece's end (17.5): capped
    ]
    assert [s.seek for s in result.segments] == [0, 0, 1000, 1000]
    assert [s.text for s in result.segments] == [" One", " two.", " Three", " four."]
    assert result.words is not None
    assert [(w.word, w.start, w.end) for w in result.words] == [
        ("One", 0.0, 0.5),
        ("two", 1.2, 1.6),
        ("Three", 10.5, 11.0),
        ("four", 12.0, 12.4),
    ]
    assert result.duration == 17.5
    assert result.usage is not None
    assert result.usage.seconds == 17.5
    assert result.id == "req-1"
    assert result.provider == "ovh"
    assert result.language == "english"
    assert result.model_extra is not None
    assert result.model_extra["chunks"] == [
        {"start": 0.0, "duration": 10.0, "provider": "ovh", "id": "req-1"},
        {"start": 10.0, "duration": 7.5, "provider": "ovh", "id": "req-2"},
    ]


def test_stitch_keeps_timestamps_monotonic() -> None:
    # a server whose times overlap or go back must not make the whole go back
    odd = _verbose(
        "a b c",
        [(3.0, 4.0, "a"), (2.0, 1.0, "b"), (None, None, "c")],  # type: ignore[list-item]
        words=[Word(word="a", start=3.0, end=4.0), Word(word="b", start=1.0, end=0.5)],
    )
    after = _verbose("d", [(0.0, 1.0, "d")], words=[Word(word="d", start=0.0, end=1.0)])
    result = stitch([(0.0, 5.0, odd), (5.0, 5.0, after)])
    assert result.segments is not None
    assert result.words is not None
    starts = [s.start for s in result.segments]
    assert starts == sorted(starts)
    for segment in result.segments:
        assert segment.start is not None
        assert segment.end is not None
        assert segment.start <= segment.end
    word_starts = [w.start for w in result.words]
    assert word_starts == sorted(word_starts)
    assert all(w.start is not None and w.end is not None and w.start <= w.end for w in result.words)
    assert result.segments[-1].start == 5.0


def test_stitch_words_inside_segments_are_moved_too() -> None:
    piece = VerboseTranscription(
        text="hi",
        segments=[
            Segment(start=0.5, end=1.0, text="hi", words=[Word(word="hi", start=0.5, end=1)])
        ],
    )
    result = stitch([(0.0, 2.0, Transcription(text="x")), (2.0, 2.0, piece)])
    assert result.segments is not None
    words = result.segments[0].words
    assert words is not None
    assert (words[0].start, words[0].end) == (2.5, 3.0)


def test_stitch_odd_pieces() -> None:
    empty = Transcription(text="  ", provider="a")
    plain = Transcription(text="plain text", provider="b", language="fr")
    result = stitch([(0.0, 3.0, empty), (3.0, 4.0, plain), (7.0, 1.0, Transcription(text=""))])
    assert result.text == "plain text"  # empty pieces add no stray spaces
    assert result.segments is None
    assert result.words is None
    assert result.usage is None  # nobody reported usage
    assert result.duration == 8.0
    assert result.provider == "a,b"  # pieces served by several providers
    assert result.language == "fr"
    assert stitch([]).text == ""


@pytest.mark.parametrize(
    ("fmt", "kind"),
    [
        (None, Transcription),
        ("json", Transcription),
        ("verbose_json", VerboseTranscription),
        ("text", str),
        ("srt", str),
        ("vtt", str),
    ],
)
def test_as_format_gives_the_type_of_a_single_call(fmt: str | None, kind: type) -> None:
    stitched = stitch(
        [
            (0.0, 5.0, _verbose("Hello.", [(0.0, 2.0, " Hello.")])),
            (5.0, 5.0, _verbose("World.", [(1.0, 3.0, " World.")])),
        ]
    )
    value = as_format(stitched, fmt)
    assert type(value) is kind
    if isinstance(value, VerboseTranscription):
        assert value is stitched
    elif isinstance(value, Transcription):
        assert value.text == "Hello. World."
        dumped = value.model_dump()
        for name in ("duration", "words"):
            assert name not in dumped
        assert value.usage == stitched.usage  # what it cost is part of every result
        # Which provider served each piece stays visible in the plain json result too.
        assert dumped["chunks"] == stitched.model_extra["chunks"]
    elif fmt == "text":
        assert value == "Hello. World."
    elif fmt == "srt":
        assert value == (
            "1\n00:00:00,000 --> 00:00:02,000\nHello.\n\n2\n00:00:06,000 --> 00:00:08,000\nWorld.\n"
        )
    else:
        assert value.startswith("WEBVTT\n\n00:00:00.000 --> 00:00:02.000\nHello.\n")
        assert "00:00:06.000 --> 00:00:08.000\nWorld." in value


# -- transcribe_long through FakeServer --------------------------------------------------------

ROUTING: dict[str, Any] = {
    "language": "en",
    "prompt": "bakery, library",
    "temperature": 0.2,
    "preference": "speed",
    "allowed_providers": ["ovh", "scaleway"],
    "eu_native": True,
    "allow_quantization": False,
}


def _check_piece_requests(server: FakeServer, count: int, max_seconds: float) -> None:
    assert len(server.requests) == count
    names = sorted(r.file.filename for r in server.requests if r.file is not None)
    assert names == [f"long_speech.part{i:03d}.wav" for i in range(count)]
    for request in server.requests:
        assert request.field("response_format") == "verbose_json"
        assert request.field("model") == "whisper-large-v3"
        assert request.field("language") == "en"
        assert request.field("prompt") == "bakery, library"
        assert request.field("temperature") == "0.2"
        assert request.field("preference") == "speed"
        assert request.field_list("allowed_providers") == ["ovh", "scaleway"]
        assert request.field("eu_native") == "true"
        assert request.field("allow_quantization") == "false"
        assert request.file is not None
        assert request.file.content_type == "audio/wav"
        samples = read_wav(request.file.data)
        assert 0 < len(samples) <= max_seconds * SAMPLE_RATE


@pytest.mark.parametrize(
    ("fmt", "kind"),
    [
        ("json", Transcription),
        (None, Transcription),
        ("verbose_json", VerboseTranscription),
        ("text", str),
        ("srt", str),
        ("vtt", str),
    ],
)
def test_transcribe_long_through_fake_server(fmt: str | None, kind: type) -> None:
    server = FakeServer()
    progress: list[tuple[int, float]] = []
    with server.client() as client:
        result = client.transcribe_long(
            LONG_SPEECH,
            model="whisper-large-v3",
            response_format=fmt,
            max_chunk_seconds=25,
            on_progress=lambda done, seconds: progress.append((done, seconds)),
            **ROUTING,
        )
    _check_piece_requests(server, 3, 25)
    assert type(result) is kind
    assert [done for done, _ in progress] == [1, 2, 3]
    assert progress[-1][1] == pytest.approx(read_wav(LONG_SPEECH).size / SAMPLE_RATE, abs=2e-3)
    joined = " ".join([DEFAULT_TEXT] * 3)
    if isinstance(result, VerboseTranscription):
        assert result.text == joined
        chunks = (result.model_extra or {})["chunks"]
        assert [c["start"] for c in chunks] == [0.0, chunks[1]["start"], chunks[2]["start"]]
        assert result.segments is not None
        assert [s.start for s in result.segments] == [c["start"] for c in chunks]
        assert [s.id for s in result.segments] == [0, 1, 2]
        assert result.duration == pytest.approx(sum(c["duration"] for c in chunks))
    elif isinstance(result, Transcription):
        assert result.text == joined
    elif fmt == "text":
        assert result == joined
    else:
        assert result.count(DEFAULT_TEXT) == 3
        assert result.startswith("WEBVTT" if fmt == "vtt" else "1\n00:00:00,000 --> ")


def test_several_minutes_through_the_client_lose_nothing(speech_minutes: Path) -> None:
    server = FakeServer()
    with server.client() as client:
        result = client.transcribe_long(
            speech_minutes,
            model="whisper-large-v3",
            response_format="verbose_json",
            max_chunk_seconds=25,
            max_concurrency=3,
        )
    requests = sorted(server.requests, key=lambda r: r.file.filename if r.file else "")
    assert len(requests) >= 8
    sent = [read_wav(r.file.data) for r in requests if r.file is not None]
    # what the server received, put back together, is the whole file: no gap, no overlap
    assert np.array_equal(np.concatenate(sent), read_wav(speech_minutes))
    chunks = (result.model_extra or {})["chunks"]
    assert len(chunks) == len(requests)
    for chunk, samples in zip(chunks, sent, strict=True):
        assert chunk["duration"] == pytest.approx(len(samples) / SAMPLE_RATE, abs=5e-4)
    for before, after in pairwise(chunks):
        assert after["start"] == pytest.approx(before["start"] + before["duration"], abs=1e-3)
    assert result.duration == pytest.approx(read_wav(speech_minutes).size / SAMPLE_RATE, abs=0.01)
    assert result.text == " ".join([DEFAULT_TEXT] * len(requests))


class Pacing(FakeServer):
    """Answers after 20 ms and notes, as each request starts, how many pieces have been cut
    but not yet answered (``produced`` is counted by a wrapper around iter_pieces)."""

    def __init__(self, produced: list[int]) -> None:
        super().__init__()
        self.produced = produced
        self.answered = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.max_pending = 0
        self.guard = threading.Lock()

    def _start(self) -> None:
        with self.guard:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self.max_pending = max(self.max_pending, self.produced[0] - self.answered)

    def _stop(self) -> None:
        with self.guard:
            self.in_flight -= 1
            self.answered += 1

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self._start()
        try:
            time.sleep(0.02)
            return super().handle_request(request)
        finally:
            self._stop()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self._start()
        try:
            await anyio.sleep(0.02)
            return await super().handle_async_request(request)
        finally:
            self._stop()


@pytest.fixture
def produced(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    count = [0]
    real = long_module.iter_pieces

    def counting(*args: Any, **kwargs: Any) -> Iterator[Piece]:
        for piece in real(*args, **kwargs):
            count[0] += 1
            yield piece

    monkeypatch.setattr(long_module, "iter_pieces", counting)
    return count


def test_pieces_are_cut_as_they_are_sent_not_all_at_once(produced: list[int]) -> None:
    server = Pacing(produced)
    with server.client() as client:
        client.transcribe_long(
            LONG_SPEECH, model="whisper-large-v3", max_chunk_seconds=5, max_concurrency=2
        )
    assert produced[0] == len(server.requests) >= 12
    assert server.max_in_flight == 2
    assert server.max_pending <= 3  # two being sent, one cut and waiting for a free slot


@pytest.mark.anyio
async def test_async_pieces_are_cut_as_they_are_sent(produced: list[int]) -> None:
    server = Pacing(produced)
    async with server.async_client() as client:
        await client.transcribe_long(
            LONG_SPEECH, model="whisper-large-v3", max_chunk_seconds=5, max_concurrency=2
        )
    assert produced[0] == len(server.requests) >= 12
    assert server.max_in_flight == 2
    assert server.max_pending <= 3


def test_word_timestamps_are_moved_to_the_whole_file() -> None:
    server = FakeServer(default_text="one two three")
    with server.client() as client:
        result = client.transcribe_long(
            LONG_SPEECH,
            model="whisper-large-v3",
            response_format="verbose_json",
            timestamp_granularities=["word", "segment"],
            max_chunk_seconds=25,
        )
    assert {tuple(r.field_list("timestamp_granularities")) for r in server.requests} == {
        ("word", "segment")
    }
    assert result.words is not None
    assert [w.word for w in result.words] == ["one", "two", "three"] * 3
    chunk_starts = [c["start"] for c in (result.model_extra or {})["chunks"]]
    assert [w.start for w in result.words[::3]] == chunk_starts  # each piece's first word
    starts = [w.start for w in result.words]
    assert starts == sorted(starts)
    assert result.words[4].start == pytest.approx(chunk_starts[1] + 0.2)


def test_transcribe_long_splits_by_size_alone() -> None:
    server = FakeServer()
    with server.client() as client:
        result = client.transcribe_long(
            FIXTURES / "hello.wav", model="whisper-large-v3", max_chunk_bytes=65_536
        )
    # 65 536 bytes of 16 kHz 16-bit WAV hold just over 2 s, hello.wav lasts 4.2 s
    assert len(server.requests) == 3
    for request in server.requests:
        assert request.file is not None
        assert len(request.file.data) <= 65_536
    assert isinstance(result, Transcription)


def test_a_failing_piece_raises_its_error() -> None:
    server = FakeServer()
    server.add_result("first piece")
    server.add_error(400, "piece two is bad")
    with server.client() as client, pytest.raises(BadRequestError, match="piece two is bad"):
        client.transcribe_long(
            LONG_SPEECH, model="whisper-large-v3", max_chunk_seconds=25, max_concurrency=1
        )
    assert len(server.requests) == 2  # no more pieces are sent once one failed


class BreaksOnSecondRequest(FakeServer):
    """A server whose transport fails with an unexpected exception on its second request."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if len(self.requests) == 1:
            raise RuntimeError("transport bug")
        return super().handle_request(request)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if len(self.requests) == 1:
            raise RuntimeError("transport bug")
        return await super().handle_async_request(request)


def test_an_unexpected_error_in_a_piece_is_raised_not_lost() -> None:
    # Regression: it used to be raised inside a future's done-callback, which only logs it,
    # and the result came back stitched without that piece.
    server = BreaksOnSecondRequest()
    with server.client() as client, pytest.raises(RuntimeError, match="transport bug"):
        client.transcribe_long(
            LONG_SPEECH, model="whisper-large-v3", max_chunk_seconds=25, max_concurrency=1
        )


@pytest.mark.anyio
async def test_async_an_unexpected_error_in_a_piece_is_raised_as_itself() -> None:
    server = BreaksOnSecondRequest()
    async with server.async_client() as client:
        with pytest.raises(RuntimeError, match="transport bug"):
            await client.transcribe_long(
                LONG_SPEECH, model="whisper-large-v3", max_chunk_seconds=25, max_concurrency=1
            )


@pytest.mark.anyio
async def test_async_transcribe_long_through_fake_server() -> None:
    server = FakeServer()
    async with server.async_client() as client:
        result = await client.transcribe_long(
            LONG_SPEECH,
            model="whisper-large-v3",
            response_format="verbose_json",
            max_chunk_seconds=25,
            **ROUTING,
        )
    _check_piece_requests(server, 3, 25)
    assert isinstance(result, VerboseTranscription)
    assert result.text == " ".join([DEFAULT_TEXT] * 3)
    assert len((result.model_extra or {})["chunks"]) == 3


@pytest.mark.anyio
async def test_async_failing_piece_raises_its_error() -> None:
    server = FakeServer()
    server.add_error(400, "no")
    async with server.async_client() as client:
        with pytest.raises(BadRequestError):
            await client.transcribe_long(
                LONG_SPEECH, model="whisper-large-v3", max_chunk_seconds=25, max_concurrency=1
            )
    assert len(server.requests) == 1


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_a_small_file_is_sent_once_unsplit(fmt: str) -> None:
    server = FakeServer()
    hello = FIXTURES / "hello.wav"
    with server.client() as client:
        result = client.transcribe_long(hello, model="whisper-large-v3", response_format=fmt)
    assert len(server.requests) == 1
    request = server.requests[0]
    assert request.file is not None
    assert request.file.filename == "hello.wav"
    assert request.file.data == hello.read_bytes()
    assert request.field("response_format") == fmt  # asked as the caller asked, no verbose_json
    assert isinstance(result, str if fmt == "text" else Transcription)


@pytest.mark.anyio
async def test_async_small_file_is_sent_once_unsplit() -> None:
    server = FakeServer()
    async with server.async_client() as client:
        await client.transcribe_long(FIXTURES / "hello.mp3", model="whisper-large-v3")
    assert len(server.requests) == 1
    assert server.requests[0].file is not None
    assert server.requests[0].file.filename == "hello.mp3"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_chunk_bytes": 1000},
        {"max_chunk_bytes": True},
        {"max_chunk_seconds": 0.5},
        {"max_chunk_seconds": "30"},
        {"max_concurrency": 0},
        {"response_format": "html"},
    ],
)
def test_transcribe_long_bad_arguments(kwargs: dict[str, Any]) -> None:
    server = FakeServer()
    with server.client() as client, pytest.raises(InvalidInputError):
        client.transcribe_long(LONG_SPEECH, model="whisper-large-v3", **kwargs)
    assert server.requests == []


# -- end to end with the local engine -----------------------------------------------------------


def _expected_long_text() -> str:
    manifest: dict[str, str] = json.loads((FIXTURES / "manifest.json").read_text())
    return manifest["long_speech.wav"]


def test_local_engine_transcribe_long() -> None:
    started = time.monotonic()
    with Client(base_url="local") as client:
        result = client.transcribe_long(
            LONG_SPEECH,
            model="tiny.en",
            response_format="verbose_json",
            max_chunk_seconds=25,
            language="en",
        )
    assert isinstance(result, VerboseTranscription)
    chunks = (result.model_extra or {})["chunks"]
    assert len(chunks) == 3
    assert all(c["duration"] <= 25 for c in chunks)
    assert word_error_rate(_expected_long_text(), result.text) < 0.35, result.text
    assert result.duration == pytest.approx(read_wav(LONG_SPEECH).size / SAMPLE_RATE, abs=2e-3)
    assert result.segments
    starts = [s.start for s in result.segments]
    ends = [s.end for s in result.segments]
    assert all(isinstance(x, float) for x in starts + ends)
    assert starts == sorted(starts)
    assert all(s <= e for s, e in zip(starts, ends, strict=True))  # type: ignore[operator]
    assert max(ends) <= result.duration  # type: ignore[type-var,operator]
    # every piece contributed segments at its own place in the file
    for chunk in chunks:
        inside = [s for s in starts if chunk["start"] <= s < chunk["start"] + chunk["duration"]]
        assert inside, chunk
    assert time.monotonic() - started < 60


@pytest.mark.anyio
async def test_async_local_engine_transcribe_long(tmp_path: Path) -> None:
    # The first four sentences only (they end at 23.4 s, before a 1.1 s pause), to keep the
    # engine's time down; still two pieces.
    first_four = write_wav(tmp_path / "four.wav", read_wav(LONG_SPEECH)[: 24 * SAMPLE_RATE])
    expected = " ".join(re.split(r"(?<=\.)\s+", _expected_long_text())[:4])
    pieces: list[int] = []
    async with AsyncClient(base_url="local") as client:
        text = await client.transcribe_long(
            first_four,
            model="tiny.en",
            response_format="text",
            max_chunk_seconds=13,
            on_progress=lambda done, _seconds: pieces.append(done),
        )
    assert isinstance(text, str)
    assert pieces == [1, 2]
    assert word_error_rate(expected, text) < 0.35, (expected, text)


@pytest.mark.parametrize(
    ("fmt", "given", "pieces_ask"),
    [
        ("srt", None, ["segment"]),
        ("vtt", None, ["segment"]),
        ("text", None, None),
        ("verbose_json", None, None),
        ("srt", ["word"], ["word"]),
    ],
)
def test_subtitle_pieces_ask_for_a_segment_a_phrase(
    fmt: str, given: list[str] | None, pieces_ask: list[str] | None
) -> None:
    # The pieces' verbose_json becomes subtitles: the local engine decodes batched (a
    # segment a window of up to 30 s) unless segment timestamps are asked for.
    from internals import plan_split

    options = {} if given is None else {"timestamp_granularities": given}
    plan = plan_split(
        max_chunk_bytes=1 << 20, max_chunk_seconds=None, response_format=fmt, options=options
    )
    assert plan.piece_options.get("timestamp_granularities") == pieces_ask
