"""Cutting long audio into pieces a provider accepts, at quiet points, one window at a time.

The audio is decoded with PyAV (the ``split`` extra) and resampled to 16 kHz mono 16-bit, the
rate speech models work at. Samples are buffered only up to one piece's length: when the buffer
is full, the quietest 20 ms in the last part of it (``search_seconds``) is where the piece ends;
the piece is written out as WAV and the rest of the buffer starts the next one. So memory depends
on the piece length, never on the file's length.
"""

from __future__ import annotations

import importlib
import io
import os
import wave
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidFileError, TranscribeError
from .decode import SAMPLE_RATE, AudioStream, DecodeError

BYTES_PER_SECOND = SAMPLE_RATE * 2  # mono, 16-bit
WAV_HEADER_BYTES = 44
_WINDOW = SAMPLE_RATE // 50  # 20 ms


class SplitUnavailable(TranscribeError):
    """PyAV or NumPy, which splitting needs, is not installed."""


def _require(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError:
        raise SplitUnavailable(
            f"Splitting long audio needs {name}: pip install av numpy (or, in a clone of "
            "transcribe-sdk, pip install -e '.[split]')"
        ) from None


@dataclass(frozen=True)
class Piece:
    """One piece of the audio: where it starts in the whole file, its length, its WAV bytes."""

    index: int
    start: float
    duration: float
    wav: bytes


def seconds_for_bytes(max_bytes: int) -> float:
    """The longest piece whose 16 kHz mono WAV fits in ``max_bytes``."""
    return max(1.0, (max_bytes - WAV_HEADER_BYTES) / BYTES_PER_SECOND)


def _seconds(samples: int) -> float:
    return round(samples / SAMPLE_RATE, 3)


def _wav(samples: Any) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(SAMPLE_RATE)
        writer.writeframes(samples.astype("<i2").tobytes())
    return out.getvalue()


def quietest_cut(samples: Any, low: int, high: int) -> int:
    """A sample index in ``[low, high]``: the middle of the longest quiet stretch there.

    Quiet means 20 ms windows whose energy is near the region's floor. The longest stretch is
    chosen, not merely the quietest window, so the cut lands between sentences rather than in
    the short gap between two words; among equals, the latest, to keep pieces near the limit.
    """
    np = _require("numpy")
    low = max(0, low)
    high = min(len(samples), high)
    count = (high - low) // _WINDOW
    if count < 1:
        return high
    region = samples[low : low + count * _WINDOW].astype(np.float64).reshape(count, _WINDOW)
    energy = (region * region).mean(axis=1)
    floor = float(energy.min())
    threshold = floor + 0.05 * (float(np.median(energy)) - floor) + 1.0
    quiet = energy <= threshold
    best_start, best_length, run_start = 0, 0, None
    for i in range(count + 1):
        if i < count and quiet[i]:
            if run_start is None:
                run_start = i
            continue
        if run_start is not None:
            if i - run_start >= best_length:
                best_start, best_length = run_start, i - run_start
            run_start = None
    middle = best_start * _WINDOW + (best_length * _WINDOW) // 2
    return low + middle


def _stream(source: str | os.PathLike[str] | Any, doing: str) -> AudioStream:
    _require("av")
    _require("numpy")
    try:
        return AudioStream(source)
    except DecodeError as exc:
        raise InvalidFileError(f"cannot {doing}: {exc}") from None


def probe_duration(source: str | os.PathLike[str] | Any) -> float | None:
    """The audio's duration in seconds from the container's metadata, if it says."""
    with _stream(source, "read the audio to split it") as audio:
        return audio.header_seconds()


def iter_pieces(
    source: str | os.PathLike[str] | Any, *, max_seconds: float, search_seconds: float | None = None
) -> Generator[Piece, None, None]:
    """Decode ``source`` (a path or a binary file object) and yield pieces of at most
    ``max_seconds``, each cut at the quietest point of its last ``search_seconds``."""
    np = _require("numpy")
    max_samples = int(max_seconds * SAMPLE_RATE)
    search = search_seconds if search_seconds is not None else min(30.0, max_seconds * 0.25)
    search_samples = max(_WINDOW, int(search * SAMPLE_RATE))
    buffered: list[Any] = []
    count = 0
    offset = 0  # samples already emitted
    index = 0
    with _stream(source, "decode the audio to split it") as audio:
        chunks = audio.chunks("s16")
        while True:
            try:
                data = next(chunks)
            except StopIteration:
                break
            except DecodeError as exc:
                raise InvalidFileError(f"the audio could not be decoded: {exc}") from None
            buffered.append(data)
            count += len(data)
            while count >= max_samples:
                samples = np.concatenate(buffered)
                cut = quietest_cut(samples, max_samples - search_samples, max_samples)
                cut = max(1, min(cut, max_samples))
                yield Piece(index, _seconds(offset), _seconds(cut), _wav(samples[:cut]))
                index += 1
                offset += cut
                rest = samples[cut:]
                buffered, count = [rest], len(rest)
        if count:
            samples = np.concatenate(buffered)
            yield Piece(index, _seconds(offset), _seconds(count), _wav(samples))
