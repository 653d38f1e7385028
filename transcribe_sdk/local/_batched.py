"""Batched decoding of long audio: voice-active windows decoded several at a time.

faster-whisper's ``BatchedInferencePipeline`` decodes up to ``batch_size`` windows in one call
of the model, each on its own: one prompt for the whole batch instead of each window's own
preceding text, no timestamp tokens (one segment per window, no resuming at the last whole
sentence) and one temperature (no fallback). That is what makes it fast, and what costs words
against sequential decoding on small models (docs/performance.md has the measurements).

What is done here to keep the words: the windows are cut from the engine's own voice detection
at pauses, at most :data:`BATCH_WINDOW_SECONDS` long, and handed to the pipeline as
``clip_timestamps`` (so each segment is also timed against the whole file); each batch is
prompted with the text of the window decoded just before it; the first window is decoded
alone, as sequential decoding would, so a stream's first event is not later than before; and a
window whose text fails sequential decoding's checks (it repeats itself, or the model doubts
it) is decoded again on its own the sequential way, with its temperature fallback.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from typing import Any

from .._audio.decode import SAMPLE_RATE
from ._results import shifted

DEFAULT_BATCH_SIZE = 1
"""Sequential decoding unless asked: batched decoding is faster but, on ``tiny.en``, misses
more words on long speech (docs/performance.md has the measurements)."""
MAX_BATCH_SIZE = 32
"""The largest batch: each unit holds a 30 s window's features and decoder state."""
BATCH_UNIT_MB = 60
"""Peak memory each unit of batch size adds with ``tiny.en`` and int8 on CPU, measured on the
296 s fixture (``benchmarks/batched.py``); bigger models cost more per unit."""
BATCH_WINDOW_SECONDS = 20.0
"""Batched decoding cuts the voice-active audio into windows of at most this many seconds,
each ending in a pause Silero VAD found. Whisper hears 30 s; 20 s windows gave the fewest
word errors of 10, 15, 20, 25 and 28 s on the long fixtures (docs/performance.md)."""


PROMPT_RESET_ON_TEMPERATURE = 0.5
"""Above this temperature no earlier text is given as a prompt (faster-whisper's default)."""
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


def speech_windows(samples: Any, vad: Any, limit: float) -> list[dict[str, float]]:
    """Where Silero VAD hears speech in ``samples``, as windows (seconds) of at most ``limit``
    seconds: speech longer than that is cut at its longest pause (Silero's own rule for
    ``max_speech_duration_s``), and neighbours are joined while they fit."""
    from faster_whisper.vad import get_speech_timestamps

    bounded = replace(vad, max_speech_duration_s=min(vad.max_speech_duration_s, limit))
    windows: list[dict[str, float]] = []
    for span in get_speech_timestamps(samples, bounded):
        start, end = span["start"] / SAMPLE_RATE, span["end"] / SAMPLE_RATE
        if windows and end - windows[-1]["start"] <= limit:
            windows[-1]["end"] = end
        else:
            windows.append({"start": start, "end": end})
    return windows


def decode_batched(
    model: Any,
    samples: Any,
    windows: Sequence[dict[str, float]],
    *,
    batch_size: int,
    kwargs: dict[str, Any],
    convert: Callable[[Any], dict[str, Any]],
    check: Callable[[], None],
) -> tuple[str, Iterator[dict[str, Any]]]:
    """The language and the segments of ``windows`` of ``samples``, decoded with
    faster-whisper's ``BatchedInferencePipeline``: the first window alone (so a stream's first
    event comes as soon as sequentially), then ``batch_size`` at a time.

    Each batch is one call of the pipeline, so only its windows' features (about 1 MB each)
    are held, however long the audio; ``check`` runs before each batch (it raises to stop).
    ``kwargs`` are the engine's arguments for ``WhisperModel.transcribe``.
    """
    from faster_whisper import BatchedInferencePipeline

    pipeline = BatchedInferencePipeline(model)
    # The pipeline decodes at one temperature (no fallback): the first of the schedule.
    temperature = kwargs.get("temperature", (0.0,))[0]
    common = {
        "language": kwargs["language"],
        "temperature": temperature,
        "vad_filter": False,
        "without_timestamps": True,
    }
    # Sequential decoding prompts each window with the text before it (and drops it once
    # decoding runs hot). A batch shares one prompt: the last window decoded before it.
    conditioned = temperature <= PROMPT_RESET_ON_TEMPERATURE

    def batch(group: Sequence[dict[str, float]], before: str) -> tuple[Iterator[Any], Any]:
        # Whisper's text tokens carry their leading space: the prompt is written as the
        # model wrote it (sequential decoding adds the space to a caller's prompt too).
        prompt = "".join(f" {p.strip()}" for p in (kwargs["initial_prompt"], before) if p)
        pieces, info = pipeline.transcribe(
            samples,
            clip_timestamps=list(group),
            batch_size=len(group),
            initial_prompt=prompt or None,
            **common,
        )
        return iter(pieces), info

    first, info = batch(windows[:1], "")
    language: str = info.language

    def alone(window: dict[str, float], before: str) -> Iterator[dict[str, Any]]:
        # As sequential decoding decodes it: its own 30 s, the temperature schedule and
        # fallback, timestamps; prompted with the text before it.
        start, end = (int(window[edge] * SAMPLE_RATE) for edge in ("start", "end"))
        prompt = " ".join(p.strip() for p in (kwargs["initial_prompt"], before) if p)
        again = {**kwargs, "language": language, "initial_prompt": prompt or None}
        redone, _ = model.transcribe(samples[start:end], **again)
        return (shifted(convert(p), window["start"], window["end"]) for p in redone)

    def batches() -> Iterator[tuple[Iterator[Any], Sequence[dict[str, float]]]]:
        yield first, windows[:1]
        for index in range(1, len(windows), batch_size):
            check()
            group = windows[index : index + batch_size]
            yield batch(group, before)[0], group

    before = ""  # the text decoded last: the next batch's (or redone window's) prompt

    def pieces() -> Iterator[dict[str, Any]]:
        nonlocal before
        for got, group in batches():
            for piece in filter(heard, got):
                if failed(piece):  # the window the pipeline gave this piece: the nearest start
                    window = min(group, key=lambda w: abs(w["start"] - piece.start))
                    redone = alone(window, before)
                else:  # timed against the whole file already (clip_timestamps)
                    redone = iter((convert(piece),))
                for out in redone:
                    before = out["text"].strip() if conditioned else ""
                    yield out

    return language, pieces()
