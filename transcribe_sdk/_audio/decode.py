"""Decoding audio with PyAV, our own way, for every PyAV release pip installs (17 to 19).

Both users of decoded audio go through here: the local engine, which needs the whole file as
16 kHz mono float32 samples, and the long-audio splitter, which walks the file a window at a
time. Only long-standing PyAV calls are used (``av.open``, ``demux``, ``Packet.decode``,
``AudioResampler``), and no keyword that one release has and another lacks.

Memory: :func:`decode` writes samples straight into one array sized from the container's
stated duration, so a file costs its final sample array (4 bytes a sample, 64 KB a second) and
nothing more of its length (without a stated duration, twice that for a moment at the end).
``max_seconds`` bounds that array: it is checked against the container's header before
decoding and enforced while decoding, so a small file that expands to hours of audio is
refused, not held.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import os
import wave
from collections.abc import Iterator
from typing import IO, Any, Union

SAMPLE_RATE = 16_000
"""Samples per second of everything decoded here: the rate speech models work at."""

MAX_BAD_PACKETS = 64
"""Packets FFmpeg cannot decode that are skipped (a damaged stretch in a long recording) before
the whole file counts as undecodable."""

_BLOCK_SECONDS = 30
_HEADER_SLACK_SECONDS = 1.0

Source = Union[str, "os.PathLike[str]", IO[bytes]]


class DecodeError(ValueError):
    """The input is not audio that FFmpeg can decode; the message says why, about the file."""


class AudioTooLongError(DecodeError):
    """The audio is longer than the limit asked for."""

    def __init__(self, seconds: float, limit: float) -> None:
        self.seconds = seconds
        self.limit = limit
        super().__init__(
            f"the audio is longer than the {limit:g} s this server accepts "
            f"({'at least ' if seconds <= limit else ''}{seconds:.1f} s)"
        )


def require(name: str) -> Any:
    """Import ``name`` (``av`` or ``numpy``), or raise ``ImportError`` with what to install."""
    try:
        return importlib.import_module(name)
    except ImportError:
        raise ImportError(f"decoding audio needs {name}") from None


def _errors(av: Any) -> tuple[type[BaseException], ...]:
    # PyAV raises its own FFmpegError (a subclass of OSError or ValueError depending on the
    # error), plus plain ValueError/TypeError/OSError from its Python layer.
    return (av.error.FFmpegError, OSError, ValueError, TypeError, EOFError, IndexError)


def _undecodable(exc: BaseException) -> DecodeError:
    # FFmpegError (like OSError) documents ``strerror``, FFmpeg's own words ("Invalid data
    # found when processing input"); its str() adds an errno and a file name of 'None'.
    reason = getattr(exc, "strerror", None)
    text = (reason if isinstance(reason, str) and reason.strip() else str(exc)).strip()
    text = text[:200].rstrip(".") or type(exc).__name__
    return DecodeError(
        f"the file could not be decoded as audio: {text[0].lower()}{text[1:]}; it is corrupt, "
        "cut short, or not a sound or video file"
    )


# WAV format tags FFmpeg decodes: PCM, MS ADPCM, IEEE float, A-law, mu-law, IMA ADPCM, GSM,
# MP3, and the extensible header. Some FFmpeg builds (PyAV 17) crash the whole process on a
# WAV that names another codec, so such a file is refused before it reaches FFmpeg.
_WAV_TAGS = frozenset({0x0001, 0x0002, 0x0003, 0x0006, 0x0007, 0x0011, 0x0031, 0x0055, 0xFFFE})
_HEAD_BYTES = 64 * 1024


def check_wav_codec(head: bytes) -> None:
    """Raise :class:`DecodeError` for a WAV (its first bytes in ``head``) whose format tag no
    decoder here supports. Anything that is not a WAV passes."""
    if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return
    offset = 12
    for _ in range(16):  # the fmt chunk comes first or nearly; never walk a whole file
        header = head[offset : offset + 8]
        if len(header) < 8:
            return
        size = int.from_bytes(header[4:8], "little")
        if header[:4] == b"fmt ":
            tag = int.from_bytes(head[offset + 8 : offset + 10], "little")
            if tag not in _WAV_TAGS:
                raise DecodeError(
                    f"the file could not be decoded as audio (a WAV with codec tag 0x{tag:04x}, "
                    "which is not supported; convert it to PCM WAV, FLAC or MP3)"
                )
            return
        offset += 8 + size + (size & 1)


def _head(source: Source) -> bytes:
    """The first bytes of ``source``, leaving a file object where it was."""
    if isinstance(source, (str, os.PathLike)):
        try:
            with open(source, "rb") as file:
                return file.read(_HEAD_BYTES)
        except OSError:
            return b""  # FFmpeg reports the unreadable path itself
    # Not every file object has seekable(): Python 3.10's SpooledTemporaryFile (what the
    # server spools uploads to) lacks it, yet seeks. Try the seek itself.
    seekable = getattr(source, "seekable", None)
    try:
        if seekable is not None and not seekable():
            return b""
        where = source.tell()
        head = source.read(_HEAD_BYTES)
        source.seek(where)
    except (OSError, ValueError, AttributeError):
        return b""
    return head if isinstance(head, bytes) else b""


class AudioStream:
    """An opened container and its first audio stream; use as a context manager."""

    def __init__(self, source: Source) -> None:
        self._av = require("av")
        av = self._av
        check_wav_codec(_head(source))
        try:
            self.container = av.open(source, mode="r")
        except Exception as exc:  # whatever FFmpeg's probing raises, it is about the file
            raise _undecodable(exc) from None
        streams = [s for s in self.container.streams if s.type == "audio"]
        if not streams:
            self.container.close()
            raise DecodeError("the file could not be decoded as audio (it holds no audio stream)")
        self.stream = streams[0]

    def __enter__(self) -> AudioStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        # closing a half-read container must never hide the real outcome
        with contextlib.suppress(Exception):
            self.container.close()

    def header_seconds(self) -> float | None:
        """The duration the container states (stream first, then container), if any."""
        stream = self.stream
        try:
            if stream.duration is not None and stream.time_base:
                return max(0.0, float(stream.duration * stream.time_base))
            if self.container.duration is not None:
                return max(0.0, float(self.container.duration) / 1_000_000)
        except (TypeError, ValueError, OverflowError, ZeroDivisionError):
            return None
        return None

    def chunks(self, sample_format: str = "flt") -> Iterator[Any]:
        """1-D NumPy arrays of 16 kHz mono samples (``"flt"``: float32, ``"s16"``: int16),
        in order. Packets that fail to decode are skipped, up to :data:`MAX_BAD_PACKETS`."""
        av = self._av
        resampler = av.AudioResampler(format=sample_format, layout="mono", rate=SAMPLE_RATE)
        bad = 0
        try:
            for packet in self.container.demux(self.stream):
                try:
                    frames = packet.decode()
                except av.error.InvalidDataError as exc:
                    bad += 1
                    if bad > MAX_BAD_PACKETS:
                        raise _undecodable(exc) from None
                    continue
                for frame in frames:
                    for out in resampler.resample(frame):
                        yield out.to_ndarray().reshape(-1)
            for out in resampler.resample(None):
                yield out.to_ndarray().reshape(-1)
        except DecodeError:
            raise
        except _errors(av) as exc:
            raise _undecodable(exc) from None


def wav_seconds(head: bytes) -> float | None:
    """A WAV's length from its header (``head``: its first bytes), or ``None`` for anything
    that is not a readable WAV header. Needs no PyAV."""
    if len(head) < 44 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    try:
        with wave.open(io.BytesIO(head)) as reader:
            rate = reader.getframerate()
            return reader.getnframes() / rate if rate else None
    except (wave.Error, EOFError):
        return None


def probe_seconds(source: Source, *, count_up_to: float | None = None) -> float | None:
    """The length the container states; when it states none and ``count_up_to`` is given,
    the length counted by decoding (stopping once past ``count_up_to`` seconds). ``None``
    when it cannot be known: not decodable, or PyAV not installed."""
    try:
        with AudioStream(source) as audio:
            stated = audio.header_seconds()
            if stated is not None or count_up_to is None:
                return stated
            counted = 0
            for chunk in audio.chunks("s16"):
                counted += len(chunk)
                if counted > (count_up_to + 1) * SAMPLE_RATE:
                    break
            return counted / SAMPLE_RATE
    except (DecodeError, ImportError):
        return None


def decode(source: Source, *, max_seconds: float | None = None) -> Any:
    """The whole audio of ``source`` (a path or a binary file object) as a float32 array of
    16 kHz mono samples in [-1, 1].

    Raises :class:`DecodeError` for input that is not decodable audio and
    :class:`AudioTooLongError` when it is longer than ``max_seconds``.

    Memory: with a duration stated in the container (nearly every file), the samples go into
    one array of that length (plus a second), and that array is the result: nothing else of
    the file's length is held. Without one, or when the container understates it, the samples
    are gathered in blocks of :data:`_BLOCK_SECONDS` and joined once at the end, so at most
    twice the audio's samples are held for that moment.
    """
    np = require("numpy")
    limit = None if max_seconds is None else int(max_seconds * SAMPLE_RATE)
    with AudioStream(source) as audio:
        stated = audio.header_seconds()
        if max_seconds is not None and stated is not None and stated > max_seconds + 1.0:
            raise AudioTooLongError(stated, max_seconds)
        first = (
            int((stated + _HEADER_SLACK_SECONDS) * SAMPLE_RATE)
            if stated is not None
            else _BLOCK_SECONDS * SAMPLE_RATE
        )
        if limit is not None:
            first = min(first, limit + 1)
        blocks = [np.empty(max(first, 1), dtype=np.float32)]
        filled = 0  # samples in the last block
        total = 0
        for decoded in audio.chunks("flt"):
            total += len(decoded)
            if limit is not None and total > limit:
                raise AudioTooLongError(total / SAMPLE_RATE, limit / SAMPLE_RATE)
            chunk = decoded
            while len(chunk):
                block = blocks[-1]
                room = len(block) - filled
                if room == 0:
                    blocks.append(np.empty(_BLOCK_SECONDS * SAMPLE_RATE, dtype=np.float32))
                    filled = 0
                    continue
                taken = chunk[:room]
                block[filled : filled + len(taken)] = taken
                filled += len(taken)
                chunk = chunk[len(taken) :]
    if len(blocks) == 1:
        return blocks[0][:filled]  # a view: the slack is a second at most, never touched
    blocks[-1] = blocks[-1][:filled]
    return np.concatenate(blocks)
