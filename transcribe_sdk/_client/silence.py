"""Dropping text a server transcribed from silence, whichever server it is.

Whisper models sometimes "hear" words in silence or noise ("Thank you.", "You"). Whisper servers
say so themselves in ``verbose_json``: such a segment has a high ``no_speech_prob`` and a low
``avg_logprob``. openai-whisper skips a segment when both are past its thresholds (0.6 and
-1.0); :class:`SilenceFilter` applies the same rule to any server's answer, after it arrives.

Pure code: :func:`ask_for_scores` makes a request ask the server for (``verbose_json``, which
carries the scores), :func:`apply` filters the answer, with
:attr:`~transcribe_sdk.Transcription.dropped_segments` saying how many went.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._formats import SUBTITLE_FORMATS
from ..errors import InvalidInputError

if TYPE_CHECKING:
    from .params import RequestParams

logger = logging.getLogger("transcribe_sdk")

NO_SPEECH_THRESHOLD = 0.6
"""openai-whisper's ``no_speech_threshold``."""
LOGPROB_THRESHOLD = -1.0
"""openai-whisper's ``logprob_threshold``."""


@dataclass(frozen=True)
class SilenceFilter:
    """Drop segments the server itself marked as probably not speech.

    A segment is dropped when its ``no_speech_prob`` is above ``no_speech_threshold`` *and* its
    ``avg_logprob`` is below ``logprob_threshold`` (openai-whisper's rule and defaults). A
    segment without both scores is kept. ``text`` is rebuilt from the segments that remain.

    Example::

        result = client.transcribe("call.wav", model="whisper-large-v3",
                                   silence_filter=SilenceFilter(no_speech_threshold=0.5))
        print(result.text, result.dropped_segments)

    ``silence_filter=True`` means ``SilenceFilter()``.
    """

    no_speech_threshold: float = NO_SPEECH_THRESHOLD
    """Above this probability of "no speech" a segment may be silence (0 to 1)."""
    logprob_threshold: float = LOGPROB_THRESHOLD
    """Below this average token log-probability the text is unlikely (0 or less)."""

    def __post_init__(self) -> None:
        for name in ("no_speech_threshold", "logprob_threshold"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise InvalidInputError(
                    f"SilenceFilter.{name}", f"must be a number, not {type(value).__name__}"
                )
            if not math.isfinite(value):
                raise InvalidInputError(f"SilenceFilter.{name}", f"must be finite, not {value!r}")
        if not 0.0 <= self.no_speech_threshold <= 1.0:
            raise InvalidInputError(
                "SilenceFilter.no_speech_threshold",
                f"is a probability, between 0 and 1, not {self.no_speech_threshold!r}",
            )
        if self.logprob_threshold > 0:
            raise InvalidInputError(
                "SilenceFilter.logprob_threshold",
                f"is a log-probability, 0 or less, not {self.logprob_threshold!r}",
            )

    def is_silent(self, segment: Any) -> bool:
        """Whether ``segment`` (a :class:`~transcribe_sdk.Segment`) is to be dropped."""
        no_speech = segment.no_speech_prob
        logprob = segment.avg_logprob
        if no_speech is None or logprob is None:
            return False
        return bool(no_speech > self.no_speech_threshold and logprob < self.logprob_threshold)


def check_silence_filter(value: object) -> SilenceFilter | None:
    """The ``silence_filter`` option as a filter, or ``None`` for none."""
    if value is None or value is False:
        return None
    if value is True:
        return SilenceFilter()
    if isinstance(value, SilenceFilter):
        return value
    raise InvalidInputError(
        "silence_filter", f"must be True, False or a SilenceFilter, not {type(value).__name__}"
    )


def ask_for_scores(params: RequestParams) -> RequestParams:
    """``params`` asking for ``verbose_json``, the format that carries the segments' scores.
    Subtitles (``srt``, ``vtt``, made here from that answer) also ask for segment timestamps:
    a segment a phrase, as a server asked for subtitles would time them (the local engine
    decodes batched, a segment a window of up to 30 s, unless asked)."""
    wanted = ("response_format", "verbose_json")
    fields = [wanted if name == "response_format" else (name, v) for name, v in params.fields]
    if wanted not in fields:
        fields.append(wanted)
    granular = any(name.startswith("timestamp_granularities") for name, _ in fields)
    if params.response_format in SUBTITLE_FORMATS and not granular:
        fields.append(("timestamp_granularities[]", "segment"))
    return type(params)(fields, "verbose_json")


def apply(result: Any, silence: SilenceFilter) -> Any:
    """``result`` (the server's ``verbose_json`` answer) as a
    :class:`~transcribe_sdk.VerboseTranscription` without its silent segments, its request id
    kept; :func:`~transcribe_sdk._client.response.as_format` then gives it the type asked for."""
    from ..models import VerboseTranscription

    if not isinstance(result, VerboseTranscription):
        result = VerboseTranscription.model_validate(result.model_dump())
    filtered = drop_silent(result, silence)
    filtered._request_id = result.request_id
    if filtered.dropped_segments:
        logger.info("silence_filter dropped %d segment(s)", filtered.dropped_segments)
    return filtered


def drop_silent(result: Any, silence: SilenceFilter) -> Any:
    """A copy of a verbose result without the segments (and their words) ``silence`` drops."""
    segments = result.segments or []
    kept = [s for s in segments if not silence.is_silent(s)]
    dropped = len(segments) - len(kept)
    update: dict[str, Any] = {"dropped_segments": dropped}
    if dropped:
        gone = [(s.start, s.end) for s in segments if silence.is_silent(s)]
        update["segments"] = [s.model_copy(update={"id": i}) for i, s in enumerate(kept)]
        update["text"] = "".join(s.text for s in kept).strip()
        if result.words:
            update["words"] = [w for w in result.words if not _inside(w.start, gone)]
    return result.model_copy(update=update)


def _inside(time: float | None, spans: list[tuple[float | None, float | None]]) -> bool:
    if time is None:
        return False
    return any(
        start is not None and end is not None and start <= time < end for start, end in spans
    )
