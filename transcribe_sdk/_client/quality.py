"""Quality flags: a transcript that stops short of its audio, or comes back in another language.

Two warnings, :class:`IncompleteTranscriptWarning` and :class:`LanguageMismatchWarning`, both
``UserWarning`` subclasses, so the standard :mod:`warnings` filters show, hide or raise them.
:func:`review` is pure: given a result, the language asked for and the file's own length (if
known), it returns the warnings that apply; the shells emit them (:func:`emit`) and
``transcribe_long`` re-sends a piece flagged incomplete once.
"""

from __future__ import annotations

import warnings
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from .._languages import to_language_code

if TYPE_CHECKING:
    from ..files import AudioFile
    from .call import Call
    from .response import RawResponse

__all__ = [
    "MAX_WORDS_PER_MINUTE_FLAGGED",
    "MIN_COVERAGE",
    "MIN_MISSING_SECONDS",
    "MIN_SECONDS_FOR_RATE",
    "IncompleteTranscriptWarning",
    "LanguageMismatchWarning",
    "file_seconds",
    "review",
]

MIN_COVERAGE = 0.5
"""A transcript whose last segment ends before this fraction of the audio is flagged..."""
MIN_MISSING_SECONDS = 5.0
"""...when the part left uncovered is also at least this long (a short tail of silence is not
a missing transcript)."""
MAX_WORDS_PER_MINUTE_FLAGGED = 15.0
"""A transcript with fewer words per minute of audio than this is flagged (speech runs at about
100 to 180); an empty transcript is not (silence has no words; see ``silence_filter``)..."""
MIN_SECONDS_FOR_RATE = 60.0
"""...when the audio lasts at least this long (in a short clip a pause weighs too much)."""


class IncompleteTranscriptWarning(UserWarning):
    """The transcript covers clearly less of the audio than the audio lasts.

    Raised as a warning (``warnings.warn``) when the last segment ends before
    :data:`MIN_COVERAGE` (half) of the audio with at least :data:`MIN_MISSING_SECONDS` (5 s)
    uncovered, or when the words per minute are below :data:`MAX_WORDS_PER_MINUTE_FLAGGED`
    (15) over at least a minute. Attributes: ``duration`` (the audio's seconds, the server's
    ``duration`` or, for content held in memory, the file's own), ``covered`` (the last
    segment's end, or ``None`` without segments), ``words_per_minute``, ``duration_source``
    (``"server"`` or ``"file"``) and ``request_id``.

    Turn it into an error with ``warnings.simplefilter("error", IncompleteTranscriptWarning)``.
    """

    def __init__(
        self,
        message: str,
        *,
        duration: float,
        covered: float | None,
        words_per_minute: float | None,
        duration_source: str,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.duration = duration
        self.covered = covered
        self.words_per_minute = words_per_minute
        self.duration_source = duration_source
        self.request_id = request_id


class LanguageMismatchWarning(UserWarning):
    """``language=`` was asked for and the result names another language.

    Some providers translate into English, or ignore the hint. Attributes: ``asked`` (the code
    sent), ``answered`` (the result's ``language`` as the server wrote it, e.g. ``"english"``),
    ``answered_code`` (as an ISO-639-1 code, ``"en"``) and ``request_id``.
    """

    def __init__(
        self,
        message: str,
        *,
        asked: str,
        answered: str,
        answered_code: str | None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.asked = asked
        self.answered = answered
        self.answered_code = answered_code
        self.request_id = request_id


def _incomplete(
    result: Any, file_duration: float | None, request_id: str | None
) -> IncompleteTranscriptWarning | None:
    server = getattr(result, "duration", None)
    duration, source = (server, "server") if server else (file_duration, "file")
    if not duration or duration <= 0:
        return None
    ends = [s.end for s in result.segments or [] if s.end is not None]
    covered = max(ends) if ends else None
    words = len(result.text.split())
    rate = words / (duration / 60)
    short = (
        covered is not None
        and covered < MIN_COVERAGE * duration
        and duration - covered >= MIN_MISSING_SECONDS
    )
    sparse = words > 0 and duration >= MIN_SECONDS_FOR_RATE and rate < MAX_WORDS_PER_MINUTE_FLAGGED
    if not (short or sparse):
        return None
    why = (
        f"its segments end at {covered:.1f} s"
        if short and covered is not None
        else f"it has {rate:.1f} words per minute (speech has about 100 to 180)"
    )
    where = f" (request id: {request_id})" if request_id else ""
    return IncompleteTranscriptWarning(
        f"The transcript looks incomplete: the audio lasts {duration:.1f} s ({source}'s "
        f"length) but {why}{where}. Send the file again, or split it with transcribe_long.",
        duration=duration,
        covered=covered,
        words_per_minute=round(rate, 2),
        duration_source=source,
        request_id=request_id,
    )


def _mismatch(
    result: Any, asked: str | None, request_id: str | None
) -> LanguageMismatchWarning | None:
    answered = getattr(result, "language", None)
    if not asked or not answered:
        return None
    asked_code = to_language_code(asked) or asked.lower()
    answered_code = to_language_code(answered)
    if answered_code is None or answered_code == asked_code:
        return None
    where = f" (request id: {request_id})" if request_id else ""
    return LanguageMismatchWarning(
        f"language={asked!r} was asked for but the transcript is in {answered!r}"
        f"{where}: the provider may have translated it or ignored the language.",
        asked=asked,
        answered=answered,
        answered_code=answered_code,
        request_id=request_id,
    )


def review(
    result: Any, *, asked_language: str | None, file_duration: float | None = None
) -> list[UserWarning]:
    """The quality warnings that apply to ``result`` (a transcription model; a ``str`` result
    has nothing to check)."""
    from ..models import Transcription

    if not isinstance(result, Transcription):
        return []
    found: list[UserWarning] = []
    request_id = result.request_id
    incomplete = _incomplete(result, file_duration, request_id)
    if incomplete is not None:
        found.append(incomplete)
    mismatch = _mismatch(result, asked_language, request_id)
    if mismatch is not None:
        found.append(mismatch)
    return found


def needs_file_duration(result: Any) -> bool:
    """Whether :func:`review` could use the file's own length: a result with no ``duration``."""
    from ..models import Transcription

    if not isinstance(result, Transcription) or getattr(result, "duration", None):
        return False
    # Without words or segment times there is nothing the length could be compared with.
    return bool(result.text.strip()) or any(s.end is not None for s in result.segments or [])


def file_seconds(audio: AudioFile) -> float | None:
    """The file's own length, when it costs no I/O: only content already in memory (bytes,
    a file small enough to be read whole, a piece of ``transcribe_long``) is looked at, its
    WAV header, else the container's stated length with PyAV if installed (nothing is
    decoded). A file on disk is never opened again for it, nor a URL downloaded again.
    ``None`` when unknown."""
    if not (audio.in_memory and audio.replayable):
        return None
    from .._audio.decode import probe_seconds, wav_seconds

    try:
        with audio.open() as reader:
            seconds = wav_seconds(reader.read(64 * 1024))
        if seconds is None:
            with audio.open() as reader:
                seconds = probe_seconds(reader)  # type: ignore[arg-type]
    except Exception:  # best effort: an unreadable length only means no check, never a failure
        return None
    return seconds


def asked_language(fields: Any) -> str | None:
    """The ``language`` form field of a call, if one was sent."""
    for name, value in fields:
        if name == "language" and isinstance(value, str):
            return value
    return None


def emit(found: list[UserWarning], stacklevel: int = 4) -> None:
    """Warn each of ``found`` (a filter set to "error" raises the first)."""
    for warning in found:
        warnings.warn(warning, stacklevel=stacklevel)


def reviewed(raw: RawResponse[Any], call: Call, file_duration: float | None) -> RawResponse[Any]:
    """``raw`` with the warnings its result raises (see :attr:`RawResponse.warnings`)."""
    found = review(
        raw.parsed,
        asked_language=asked_language(call.params.fields),
        file_duration=file_duration,
    )
    return replace(raw, warnings=tuple(found)) if found else raw


def looks_incomplete(raw: RawResponse[Any]) -> bool:
    """Whether ``raw``'s result was flagged :class:`IncompleteTranscriptWarning`."""
    return any(isinstance(w, IncompleteTranscriptWarning) for w in raw.warnings)


class PieceLog:
    """``transcribe_long``'s pieces: the last answer of each, so that the warnings still true
    of the pieces (after a piece flagged incomplete was sent again) are warned once, when the
    whole is stitched."""

    def __init__(self) -> None:
        self._last: dict[str, RawResponse[Any]] = {}  # by the piece's file name

    def record(self, name: str, raw: RawResponse[Any]) -> RawResponse[Any]:
        self._last[name] = raw  # one thread per piece: no two write the same key
        return raw

    def warnings(self) -> list[UserWarning]:
        """Each piece's incomplete warnings, and the first language mismatch."""
        found: list[UserWarning] = []
        mismatch: UserWarning | None = None
        for name in sorted(self._last):
            for warning in self._last[name].warnings:
                if isinstance(warning, IncompleteTranscriptWarning):
                    found.append(warning)
                elif mismatch is None:
                    mismatch = warning
        return found + ([mismatch] if mismatch is not None else [])


def sent_again(result: Any) -> None:
    """Mark the result of a ``transcribe_long`` call sent whole a second time."""
    from ..models import Transcription

    if isinstance(result, Transcription):
        result.retried_pieces = [0]
