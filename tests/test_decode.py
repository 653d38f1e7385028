"""Our PyAV decoder (``transcribe_sdk._audio.decode``): every fixture format, 16 kHz mono float32,
errors about the file, the duration cap, and memory bounded by the final sample array."""

from __future__ import annotations

import io
import json
import os
import struct
import tempfile
import tracemalloc
import wave
from pathlib import Path
from typing import Any

import pytest

av = pytest.importorskip("av")
np = pytest.importorskip("numpy")

from internals import (  # noqa: E402
    SAMPLE_RATE,
    AudioStream,
    DecodeError,
    check_wav_codec,
    decode,
)
from internals import DecodedTooLongError as AudioTooLongError  # noqa: E402
from internals import decode_module as _decode  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures"
MANIFEST: dict[str, str] = json.loads((FIXTURES / "manifest.json").read_text())
HELLO_FORMATS = sorted(name for name in MANIFEST if name.startswith("hello."))


def wav_file(samples: Any, rate: int = SAMPLE_RATE, channels: int = 1) -> bytes:
    data = np.clip(np.asarray(samples), -1, 1)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes((data * 32767).astype("<i2").tobytes())
    return buffer.getvalue()


def wav_seconds(path: Path) -> float:
    with wave.open(str(path), "rb") as audio:
        return audio.getnframes() / audio.getframerate()


@pytest.mark.parametrize("name", HELLO_FORMATS)
def test_every_fixture_format_decodes_to_16k_mono_float32(name: str) -> None:
    samples = decode(FIXTURES / name)
    assert samples.dtype == np.float32
    assert samples.ndim == 1
    # Compressed formats pad a few milliseconds; the length is the WAV's within 0.1 s.
    assert abs(len(samples) / SAMPLE_RATE - wav_seconds(FIXTURES / "hello.wav")) < 0.1
    assert float(np.abs(samples).max()) <= 1.0
    assert float(np.abs(samples).max()) > 0.05  # speech, not silence


def test_paths_bytes_and_file_objects_decode_alike() -> None:
    path = FIXTURES / "hello.flac"
    from_path = decode(path)
    from_bytes = decode(io.BytesIO(path.read_bytes()))
    with path.open("rb") as handle:
        handle.seek(0)
        from_file = decode(handle)
        assert not handle.closed  # the caller's file is left open for the caller
    assert len(from_path) == len(from_bytes) == len(from_file)
    assert np.array_equal(from_path, from_bytes)


def test_stereo_and_other_rates_become_16k_mono() -> None:
    t = np.arange(44_100 * 2) / 44_100
    tone = 0.5 * np.sin(2 * np.pi * 440 * t)
    stereo = np.stack([tone, tone], axis=1).reshape(-1)
    samples = decode(io.BytesIO(wav_file(stereo, rate=44_100, channels=2)))
    assert abs(len(samples) - 2 * SAMPLE_RATE) < SAMPLE_RATE // 50
    assert 0.3 < float(np.abs(samples).max()) <= 1.0


def test_an_empty_wav_is_zero_samples() -> None:
    samples = decode(io.BytesIO(wav_file(np.zeros(0))))
    assert len(samples) == 0
    assert samples.dtype == np.float32


@pytest.mark.parametrize(
    "data",
    [
        os.urandom(20_000),
        b"this is not audio\n" * 200,
        b"RIFF" + struct.pack("<I", 20_004) + b"WAVE" + os.urandom(20_000),
        b"",
    ],
    ids=["random", "text", "riff-then-garbage", "empty-file"],
)
def test_undecodable_input_is_a_decode_error_about_the_file(data: bytes) -> None:
    with pytest.raises(DecodeError) as caught:
        decode(io.BytesIO(data))
    assert str(caught.value).startswith("the file could not be decoded as audio")
    assert "keyword" not in str(caught.value)  # never an internal argument error


def test_a_file_with_no_audio_stream_says_so(tmp_path: Path) -> None:
    # A video-only container: PyAV opens it, but there is nothing to hear.
    path = tmp_path / "video.mkv"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=5)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        for _ in range(3):
            frame = av.VideoFrame.from_ndarray(np.zeros((32, 32, 3), np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    with pytest.raises(DecodeError, match="no audio stream"):
        decode(path)


def test_an_unknown_wav_codec_is_refused_before_ffmpeg_sees_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    good = wav_file(np.zeros(16_000))
    bad = good[:20] + struct.pack("<H", 0xBEEF) + good[22:]

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("FFmpeg was handed a WAV it may crash on")

    monkeypatch.setattr(av, "open", never)
    with pytest.raises(DecodeError, match="codec tag 0xbeef"):
        decode(io.BytesIO(bad))
    # what the server spools uploads to; on Python 3.10 it has no seekable() method
    with tempfile.SpooledTemporaryFile(max_size=1024) as spooled:
        spooled.write(bad)
        spooled.seek(0)
        with pytest.raises(DecodeError, match="codec tag 0xbeef"):
            decode(spooled)  # type: ignore[arg-type]
    check_wav_codec(good)  # a PCM WAV passes
    check_wav_codec(b"fLaC" + bytes(100))  # and anything that is not a WAV


def test_a_truncated_file_decodes_what_is_there() -> None:
    data = (FIXTURES / "hello.mp3").read_bytes()
    samples = decode(io.BytesIO(data[: len(data) // 2]))
    assert 1.0 < len(samples) / SAMPLE_RATE < 3.5


def test_the_duration_cap_is_checked_from_the_header_before_decoding(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def never(self: AudioStream, sample_format: str = "flt") -> Any:
        raise AssertionError("decoded although the header said it was too long")

    monkeypatch.setattr(AudioStream, "chunks", never)
    with pytest.raises(AudioTooLongError) as caught:
        decode(FIXTURES / "long_speech.wav", max_seconds=10)
    assert caught.value.limit == 10
    assert caught.value.seconds > 60


def test_the_duration_cap_is_enforced_while_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    # A container that states no duration (or lies) is stopped as the samples pass the cap.
    monkeypatch.setattr(AudioStream, "header_seconds", lambda self: None)
    with pytest.raises(AudioTooLongError) as caught:
        decode(FIXTURES / "long_speech.wav", max_seconds=10)
    assert 10 < caught.value.seconds < 12
    assert len(decode(FIXTURES / "hello.wav", max_seconds=10)) > 0


def _peak_while_decoding(path: Path) -> tuple[int, int]:
    tracemalloc.start()
    try:
        samples = decode(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, samples.nbytes


def test_decoding_holds_no_copy_of_the_audio_beyond_the_sample_array(tmp_path: Path) -> None:
    # Five minutes of audio: the final array is 19.2 MB of float32. A decoder that gathers
    # int16 bytes and converts (faster-whisper's) peaks near 2.5x that; ours stays near 1x.
    path = tmp_path / "five-minutes.wav"
    rng = np.random.default_rng(7)
    path.write_bytes(wav_file(rng.standard_normal(300 * SAMPLE_RATE) * 0.05))
    peak, final = _peak_while_decoding(path)
    assert final == 300 * SAMPLE_RATE * 4
    assert peak < final * 1.15 + 2_000_000, (peak, final)


def test_growth_without_a_stated_duration_stays_bounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(AudioStream, "header_seconds", lambda self: None)
    path = tmp_path / "two-minutes.wav"
    path.write_bytes(wav_file(np.zeros(120 * SAMPLE_RATE)))
    peak, final = _peak_while_decoding(path)
    assert final == 120 * SAMPLE_RATE * 4
    # gathered in blocks and joined once: at most twice the audio, for that moment
    assert peak <= 2.05 * final + 2_000_000, (peak, final)
    assert _decode.MAX_BAD_PACKETS > 0
