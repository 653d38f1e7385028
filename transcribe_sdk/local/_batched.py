"""Batched decoding of long audio: voice-active windows decoded several at a time.

faster-whisper's ``BatchedInferencePipeline`` decodes up to ``batch_size`` windows in one call
of the model, each on its own: no text of the window before it as a prompt, no timestamp
tokens (one segment per window) and one temperature (no fallback). That is what makes it
fast. The engine cuts the windows the way the pipeline cuts them when it finds the speech
itself (Silero VAD with pauses from 160 ms, the voice-active spans packed in order, with the
silence between them left out, into windows of up to Whisper's 30 s), and measured against
sequential decoding that cutting kept the words where shorter windows, windows keeping their
silences or a prompt of the text before lost some (docs/performance.md has the measurements).

What the engine adds: each batch is one call of the pipeline, so only its windows are held
however long the audio; for a stream, the first window is decoded alone, so its first event
is not later than sequentially (otherwise the first window joins the first batch: the whole
answer comes sooner); and a window whose text fails sequential decoding's checks (it
repeats itself, or the model doubts it) is decoded again on its own the sequential way, with
timestamps and its temperature fallback.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from itertools import groupby, islice
from typing import Any

from .._audio.decode import SAMPLE_RATE

DEFAULT_BATCH_SIZE = 4
"""Windows decoded at once unless asked otherwise (1: sequential decoding). On 2 cores, 4 was
the fastest of 1, 4 and 8 for one request (docs/performance.md)."""
MAX_BATCH_SIZE = 32
"""The largest batch: each unit holds a 30 s window's features and decoder state."""
BATCH_UNIT_MB = 60
"""Peak memory each unit of batch size adds with ``tiny.en`` and int8 on CPU: the most
measured on the 297 s file of ``benchmarks/batched.py`` (20 to 35 MB with today's windows, up
to 69 with the first design's); bigger models cost more per unit."""
WINDOW_SECONDS = 30.0
"""The most speech one window holds: what Whisper hears at once."""
CUT_SILENCE_MS = 160
"""Pauses at least this long may end a voice-active span (the pipeline's own setting for
cutting; Silero's default, 2 s, is for finding speech at all). A caller's
``min_silence_duration_ms`` is used instead when given."""


NO_SPEECH_THRESHOLD = 0.6
LOG_PROB_THRESHOLD = -1.0
"""A window the model thinks holds no speech (``no_speech_prob`` above the first) and whose
text it doubts (``avg_logprob`` below the second) is dropped, as sequential decoding skips it;
the pipeline itself keeps it. faster-whisper's defaults."""


COMPRESSION_RATIO_THRESHOLD = 2.4
"""Text that gzip shrinks more than this is the model repeating itself; sequential decoding
then decodes the window again, hotter (faster-whisper's default)."""


def heard(piece: Any) -> bool:
    """Whether a decoded window is kept: not both probably silent and improbable text."""
    return not (
        piece.no_speech_prob > NO_SPEECH_THRESHOLD and piece.avg_logprob < LOG_PROB_THRESHOLD
    )


def failed(piece: Any) -> bool:
    """Whether a kept window fails the checks after which sequential decoding tries a higher
    temperature: text that repeats itself, or text the model doubts."""
    return bool(
        piece.compression_ratio > COMPRESSION_RATIO_THRESHOLD
        or piece.avg_logprob < LOG_PROB_THRESHOLD
    )


@dataclass(frozen=True)
class Window:
    """Voice-active spans of the file (``(start, end)`` in samples, in order), decoded as one
    piece of audio: the spans one after another, the silence between them left out."""

    spans: tuple[tuple[int, int], ...]

    @property
    def start(self) -> float:
        """Where the window's first span starts in the file, in seconds."""
        return self.spans[0][0] / SAMPLE_RATE

    @property
    def end(self) -> float:
        """Where its last span ends in the file, in seconds."""
        return self.spans[-1][1] / SAMPLE_RATE

    @property
    def length(self) -> int:
        """The samples of speech it holds."""
        return sum(end - start for start, end in self.spans)

    def audio(self, samples: Any) -> Any:
        """Its spans of ``samples``, joined."""
        import numpy as np

        return np.concatenate([samples[start:end] for start, end in self.spans])

    def file_time(self, seconds: float) -> float:
        """A time in the window's audio as the time in the file, never past its end."""
        left = round(seconds * SAMPLE_RATE)
        for start, end in self.spans:
            if left <= end - start:
                return (start + max(left, 0)) / SAMPLE_RATE
            left -= end - start
        return self.end


def cutting_options(vad: Any, given: Mapping[str, float]) -> Any:
    """The Silero settings windows are cut with: ``vad`` (what the engine gates speech with),
    pauses from :data:`CUT_SILENCE_MS` unless ``given`` (the caller's settings) names its own,
    and no span longer than a window."""
    pause = given.get("min_silence_duration_ms", CUT_SILENCE_MS)
    longest = min(vad.max_speech_duration_s, WINDOW_SECONDS)
    return replace(vad, min_silence_duration_ms=int(pause), max_speech_duration_s=longest)


def speech_windows(samples: Any, vad: Any, sections: Sequence[tuple[int, int]]) -> Iterator[Window]:
    """The voice-active spans Silero VAD finds in ``samples`` with ``vad`` (see
    :func:`cutting_options`), packed in order into windows of at most :data:`WINDOW_SECONDS`
    of speech. The spans are looked for a section (``(start, end)`` in samples, each ending
    in a pause) at a time, as the windows are asked for: Silero's working memory grows with
    the audio it is given (an hour in ten-minute sections grew a server by 280 MB over the
    samples)."""
    from faster_whisper.vad import get_speech_timestamps

    most = int(WINDOW_SECONDS * SAMPLE_RATE)
    spans: list[tuple[int, int]] = []
    length = 0
    for first, last in sections:
        for found in get_speech_timestamps(samples[first:last], vad):
            begin, finish = first + int(found["start"]), first + int(found["end"])
            # Silero keeps a span under max_speech_duration_s only where its padding lets it:
            # a longer one is cut, as Whisper hears 30 s.
            for start in range(begin, finish, most):
                end = min(start + most, finish)
                if spans and length + end - start > most:
                    yield Window(tuple(spans))
                    spans, length = [], 0
                spans.append((start, end))
                length += end - start
    if spans:
        yield Window(tuple(spans))


def retimed(segment: dict[str, Any], window: Window, start: float, end: float) -> dict[str, Any]:
    """``segment`` (as :func:`~._results.verbose_segment` makes it, no words) placed at
    ``start`` to ``end`` of ``window``'s audio, timed against the whole file."""
    segment["start"] = round(window.file_time(start), 3)
    segment["end"] = round(max(window.file_time(end), segment["start"]), 3)
    segment["seek"] = round(segment["start"] * 100)  # faster-whisper counts in 10 ms frames
    return segment


def decode_batched(
    model: Any,
    samples: Any,
    windows: Iterable[Window],
    *,
    batch_size: int,
    first_alone: bool,
    kwargs: dict[str, Any],
    convert: Callable[[Any], dict[str, Any]],
    check: Callable[[], None],
) -> tuple[str, Iterator[dict[str, Any]]]:
    """The language and the segments of ``windows`` of ``samples``, decoded with
    faster-whisper's ``BatchedInferencePipeline``, ``batch_size`` at a time; with
    ``first_alone``, the first window alone before them (so a stream's first event comes as
    soon as sequentially).

    Each batch is one call of the pipeline, so only its windows (their audio and features,
    about 3 MB each) are held, however long the audio; ``check`` runs before each batch (it
    raises to stop). ``kwargs`` are the engine's arguments for ``WhisperModel.transcribe``;
    the caller's prompt goes with every window, as the pipeline gives it.
    """
    import numpy as np
    from faster_whisper import BatchedInferencePipeline

    pipeline = BatchedInferencePipeline(model)
    common = {
        "language": kwargs["language"],
        # The pipeline decodes at one temperature: the first of the schedule.
        "temperature": kwargs.get("temperature", (0.0,))[0],
        "initial_prompt": kwargs["initial_prompt"],
        "vad_filter": False,
        "without_timestamps": True,
    }

    def batch(group: Sequence[Window]) -> tuple[list[tuple[Any, Window, float]], str]:
        """Each decoded piece with the window it came from and where that window starts in
        the batch's audio; the language."""
        starts = [0, *np.cumsum([w.length for w in group]).tolist()]
        clips = [
            {"start": starts[n] / SAMPLE_RATE, "end": starts[n + 1] / SAMPLE_RATE}
            for n in range(len(group))
        ]
        pieces, info = pipeline.transcribe(
            np.concatenate([w.audio(samples) for w in group]),
            clip_timestamps=clips,
            batch_size=len(group),
            **common,
        )

        def placed(piece: Any) -> tuple[Any, Window, float]:
            # The window whose clip holds the piece's start (a window that gave no text gives
            # no piece); the pipeline rounds a clip's start down to a whole sample.
            at = piece.start + 0.01
            n = max(i for i, clip in enumerate(clips) if i == 0 or clip["start"] <= at)
            return piece, group[n], clips[n]["start"]

        return [placed(piece) for piece in pieces], info.language

    remaining = iter(windows)
    first, language = batch(list(islice(remaining, 1 if first_alone else batch_size)))
    common["language"] = common["language"] or language  # every later batch in that language

    def alone(window: Window) -> Iterator[dict[str, Any]]:
        # As sequential decoding decodes it: timestamps, the temperature schedule and fallback.
        redone, _ = model.transcribe(window.audio(samples), **{**kwargs, "language": language})
        for piece in redone:
            yield retimed(convert(piece), window, piece.start, piece.end)

    def pieces() -> Iterator[dict[str, Any]]:
        found = first
        while True:
            for _, placed in groupby(found, key=lambda item: id(item[1])):
                kept = [(piece, window, offset) for piece, window, offset in placed if heard(piece)]
                if any(failed(piece) for piece, _, _ in kept):  # the checks are the window's
                    yield from alone(kept[0][1])
                    continue
                for piece, window, offset in kept:
                    yield retimed(convert(piece), window, piece.start - offset, piece.end - offset)
            group = list(islice(remaining, batch_size))
            if not group:
                return
            check()
            found, _ = batch(group)

    return language, pieces()
