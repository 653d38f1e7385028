"""What the local engine gives back (a :class:`Transcript` as the model decodes, a
:class:`Result` gathered) and how it fails: the errors the request handling turns into a 400
or a 503, and :class:`EngineFailure` for the engine's own process. No model here: both the
engine in this process and the engine's own process (:mod:`._process`) use these."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "AudioDecodeError",
    "AudioTooLong",
    "Cancelled",
    "EngineFailure",
    "ModelLoadError",
    "Result",
    "Transcript",
    "WrongLanguageError",
    "check_cancel",
    "failure_words",
    "shifted",
    "verbose_segment",
]


@dataclass
class Result:
    """What the model heard: text, segments (OpenAI's verbose fields) and the audio's length."""

    text: str
    language: str
    duration: float
    segments: list[dict[str, Any]] = field(default_factory=list)
    words: list[dict[str, Any]] = field(default_factory=list)


class Cancelled(Exception):
    """The caller asked (through the ``cancel`` event) for the transcription to stop."""


def check_cancel(cancel: threading.Event) -> None:
    if cancel.is_set():
        raise Cancelled("the transcription was cancelled")


def verbose_segment(piece: Any) -> dict[str, Any]:
    """faster-whisper's segment as OpenAI's verbose one (without its ``id``), with the
    segment's words under ``"words"`` when word timestamps were asked for."""
    segment: dict[str, Any] = {
        "seek": piece.seek,
        "start": round(piece.start, 3),
        "end": round(piece.end, 3),
        "text": piece.text,
        "tokens": list(piece.tokens),
        "temperature": piece.temperature,
        "avg_logprob": piece.avg_logprob,
        "compression_ratio": piece.compression_ratio,
        "no_speech_prob": piece.no_speech_prob,
    }
    if piece.words is not None:
        segment["words"] = [
            {"word": w.word.strip(), "start": round(w.start, 3), "end": round(w.end, 3)}
            for w in piece.words
        ]
    return segment


def shifted(segment: dict[str, Any], offset: float, limit: float) -> dict[str, Any]:
    """``segment`` (and its words, as :func:`verbose_segment` makes them) moved ``offset``
    seconds on, no time past ``limit``: the end of the audio it was decoded from (a section, a
    window), where the model may place its last timestamp after the audio it was given."""

    def moved(seconds: float) -> float:
        return round(min(seconds + offset, limit), 3)

    segment["seek"] += round(offset * 100)  # faster-whisper counts seek in 10 ms frames
    segment["start"], segment["end"] = moved(segment["start"]), moved(segment["end"])
    for word in segment.get("words", ()):
        word["start"], word["end"] = moved(word["start"]), moved(word["end"])
    return segment


class Transcript:
    """A transcription under way: language and duration are known, segments come as the
    model decodes them (iterate once). Each item is OpenAI's verbose segment, with the
    segment's words under ``"words"`` when word timestamps were asked for.

    ``segments`` gives them as :func:`verbose_segment` makes them (numbered here), whether
    the model runs in this process or in the engine's own (:mod:`._process`)."""

    def __init__(
        self,
        language: str,
        duration: float,
        segments: Iterator[dict[str, Any]],
        cancel: threading.Event,
    ) -> None:
        self.language = language
        self.duration = duration
        self._segments = segments
        self._cancel = cancel

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for count, segment in enumerate(self._segments):
            check_cancel(self._cancel)
            yield {"id": count, **segment}
        check_cancel(self._cancel)

    def result(self, on_segment: Callable[[float], None] | None = None) -> Result:
        """Every segment, gathered; ``on_segment(end)`` is called as each one is decoded, with
        its end in seconds of the audio (how far the decoding is: progress)."""
        segments: list[dict[str, Any]] = []
        words: list[dict[str, Any]] = []
        for segment in self:
            if on_segment is not None:
                on_segment(segment["end"])
            words.extend(segment.pop("words", ()))
            segments.append(segment)
        text = "".join(s["text"] for s in segments).strip()
        return Result(text, self.language, self.duration, segments, words)


class AudioDecodeError(ValueError):
    """The uploaded bytes are not audio the decoder can read."""


class AudioTooLong(AudioDecodeError):
    """The audio is longer than the engine's ``max_audio_seconds``."""


class WrongLanguageError(ValueError):
    """An English-only model was asked for another language."""


class ModelLoadError(ValueError):
    """The requested model could not be loaded (not a model folder, or not downloadable)."""


class EngineFailure(RuntimeError):
    """The engine's own process failed in a way that is not the request's (the message is the
    cause, ``Type: words``, as that process gave it), or ended while a request was under way."""


def failure_words(exc: BaseException) -> str:
    """``exc`` as a 500's message gives it: its type and words."""
    return str(exc) if isinstance(exc, EngineFailure) else f"{type(exc).__name__}: {exc}"
