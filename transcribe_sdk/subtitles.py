"""SubRip (SRT) and WebVTT subtitles from a verbose transcription, made locally.

For servers and providers that cannot answer ``response_format="srt"``/``"vtt"`` themselves:
ask for ``verbose_json`` and convert. Long segments are wrapped into lines of at most
``max_line_chars`` characters (a single longer word keeps a line of its own, unbroken), at most
``max_lines`` lines per cue; a segment with more text than one cue holds is split into several
cues, its time shared in proportion to their text.

Example::

    result = client.transcribe("talk.mp3", model="whisper-large-v3",
                               response_format="verbose_json")
    Path("talk.srt").write_text(to_srt(result))
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from .errors import InvalidInputError
from .models import Segment, Transcription

__all__ = ["DEFAULT_MIN_DURATION", "Cue", "format_timestamp", "make_cues", "to_srt", "to_vtt"]

DEFAULT_MIN_DURATION = 5 / 6
"""The shortest time a cue stays on screen by default, in seconds: five-sixths of a second
(20 frames at 24 fps), the minimum duration of a subtitle event in Netflix's Timed Text Style
Guide (General Requirements). Shorter cues flash past before they can be read."""


@dataclass(frozen=True)
class Cue:
    """One subtitle: shown from ``start`` to ``end`` (seconds), one or more lines of text."""

    start: float
    end: float
    lines: tuple[str, ...]
    speaker: str | None = None
    """Who speaks (diarized transcriptions): SRT shows ``Name: `` before the text, WebVTT a
    ``<v Name>`` voice span."""


def format_timestamp(
    seconds: float, *, decimal_marker: str = ",", always_hours: bool = True
) -> str:
    """``HH:MM:SS,mmm`` (SRT) or, with ``decimal_marker="."``, ``HH:MM:SS.mmm`` (WebVTT).

    Negative and non-finite times become 0; the time is rounded to the millisecond.
    """
    if not math.isfinite(seconds) or seconds < 0:
        seconds = 0.0
    millis = round(seconds * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    if hours or always_hours:
        return f"{hours:02d}:{minutes:02d}:{secs:02d}{decimal_marker}{millis:03d}"
    return f"{minutes:02d}:{secs:02d}{decimal_marker}{millis:03d}"


def _segments_of(source: Transcription | Sequence[Segment]) -> list[Segment]:
    if isinstance(source, Transcription):
        if source.segments:
            return list(source.segments)
        duration = getattr(source, "duration", None)
        if source.text.strip():
            end = float(duration) if duration else max(1.0, len(source.text) / 15)
            return [Segment(start=0.0, end=end, text=source.text)]
        return []
    return list(source)


def _wrap(text: str, width: int) -> list[str]:
    # A word longer than a line (a URL) gets a line of its own rather than being cut in two.
    return textwrap.wrap(text, width=width, break_long_words=False, break_on_hyphens=False)


def _shares(
    start: float, end: float, weights: list[int], floor: float
) -> list[tuple[float, float]]:
    """``start`` to ``end`` cut into consecutive spans in proportion to ``weights``, each at
    least ``floor`` long (or ``1/n`` of the whole, when that is less)."""
    n = len(weights)
    span = end - start
    floor = min(floor, span / n)
    lengths = [0.0] * n
    held: set[int] = set()  # spans raised to the floor; the rest share what is left
    for _ in range(n):  # each round holds at least one more span, or ends
        free = [i for i in range(n) if i not in held]
        room = span - floor * len(held)
        weight = sum(weights[i] for i in free)
        for i in free:
            lengths[i] = room * weights[i] / weight if weight else room / len(free)
        short = [i for i in free if lengths[i] < floor]
        if not short:
            break
        for i in short:
            held.add(i)
            lengths[i] = floor
    times: list[tuple[float, float]] = []
    cursor = start
    for index, length in enumerate(lengths):
        cue_end = end if index == n - 1 else cursor + length
        times.append((cursor, cue_end))
        cursor = cue_end
    return times


def _check_limits(min_duration: float, max_line_chars: int, max_lines: int) -> None:
    if (
        isinstance(min_duration, bool)
        or not isinstance(min_duration, (int, float))
        or not math.isfinite(min_duration)
        or min_duration < 0
    ):
        raise InvalidInputError(
            "min_duration", f"must be a finite number of seconds, 0 or more, not {min_duration!r}"
        )
    for name, value in (("max_line_chars", max_line_chars), ("max_lines", max_lines)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InvalidInputError(name, f"must be an int of at least 1, not {value!r}")


@dataclass
class _Draft:
    """A cue being timed: its audio's span, its text, who speaks."""

    start: float
    end: float
    text: str
    speaker: str | None

    @property
    def length(self) -> float:
        return self.end - self.start


def _drafts(
    source: Transcription | Sequence[Segment], max_line_chars: int, max_lines: int, floor: float
) -> list[_Draft]:
    """One draft per cue, at its audio's times (a split segment's time shared by its cues)."""
    drafts: list[_Draft] = []
    previous_end = 0.0
    for segment in _segments_of(source):
        text = " ".join(segment.text.split())
        if not text:
            continue
        start = segment.start if segment.start is not None else previous_end
        start = max(start, previous_end) if math.isfinite(start) else previous_end
        end = segment.end if segment.end is not None and math.isfinite(segment.end) else start
        end = max(end, start)
        lines = _wrap(text, max_line_chars)
        groups = [lines[i : i + max_lines] for i in range(0, len(lines), max_lines)]
        times = _shares(start, end, [len(" ".join(g)) for g in groups], floor)
        for group, (cue_start, cue_end) in zip(groups, times, strict=True):
            drafts.append(_Draft(cue_start, cue_end, " ".join(group), segment.speaker))
        previous_end = end
    return drafts


def _readable(drafts: list[_Draft], min_duration: float, fits: Callable[[str], bool]) -> None:
    """Give each draft shorter than ``min_duration`` the time it lacks without pushing any
    later cue off its audio: first the silence after it (up to the next cue's start), else it
    joins its next (or previous) cue when their text fits in one cue, else it borrows from the
    next cue what that one has beyond ``min_duration``. No cue ever starts later than its
    audio, so a run of short cues cannot drift."""
    enough = min_duration - 1e-6  # a microsecond of float error is not a flash
    index = 0
    while index < len(drafts):
        cue = drafts[index]
        after = drafts[index + 1] if index + 1 < len(drafts) else None
        before = drafts[index - 1] if index > 0 else None
        if cue.length >= enough:
            index += 1
            continue
        limit = math.inf if after is None else after.start
        cue.end = max(cue.end, min(cue.start + min_duration, limit))
        if cue.length >= enough:
            index += 1
            continue
        if after is not None and after.speaker == cue.speaker and fits(f"{cue.text} {after.text}"):
            cue.end, cue.text = after.end, f"{cue.text} {after.text}"
            del drafts[index + 1]
            continue  # the joined cue is checked again
        if (
            before is not None
            and before.speaker == cue.speaker
            and fits(f"{before.text} {cue.text}")
        ):
            before.end, before.text = cue.end, f"{before.text} {cue.text}"
            del drafts[index]
            continue
        if after is not None:
            spare = max(0.0, min(min_duration - cue.length, after.length - min_duration))
            after.start += spare
            cue.end = after.start
        index += 1


def make_cues(
    source: Transcription | Sequence[Segment],
    *,
    max_line_chars: int = 42,
    max_lines: int = 2,
    min_duration: float = DEFAULT_MIN_DURATION,
) -> list[Cue]:
    """Cues from a transcription's segments, wrapped and split for reading.

    Segments without text are skipped; a segment without times follows the previous one.
    Cue times never go backwards and never overlap. ``min_duration`` (default
    :data:`DEFAULT_MIN_DURATION`, 5/6 s; ``0`` keeps the segments' own times) is the shortest
    time a cue stays on screen: a split segment's time is shared in proportion to each cue's
    text with no cue under it (or under an equal share, when the segment is too short for all
    of its cues to last that long); a shorter cue is stretched into the silence after it,
    or, where there is none, joined with the cue after (or before) it when their text fits in
    one cue of ``max_lines`` lines, or else takes time from the next cue's surplus. A cue is
    never moved later than its audio: a run of short words does not drift behind the sound.
    """
    _check_limits(min_duration, max_line_chars, max_lines)
    drafts = _drafts(source, max_line_chars, max_lines, min_duration)
    if min_duration > 0:
        _readable(drafts, min_duration, lambda text: len(_wrap(text, max_line_chars)) <= max_lines)
    return [Cue(d.start, d.end, tuple(_wrap(d.text, max_line_chars)), d.speaker) for d in drafts]


def _vtt_escape(line: str) -> str:
    # WebVTT cue text is markup: '&' and '<' must be escaped, and '-->' would end the cue.
    return line.replace("&", "&amp;").replace("<", "&lt;").replace("-->", "--&gt;")


def _text(cue: Cue, vtt: bool) -> str:
    lines = [_vtt_escape(line) for line in cue.lines] if vtt else list(cue.lines)
    speaker = " ".join(cue.speaker.split()) if cue.speaker else ""
    if speaker and lines:
        if vtt:  # a voice span; its annotation may not hold '>' or line breaks
            lines[0] = f"<v {_vtt_escape(speaker).replace('>', '&gt;')}>{lines[0]}"
        else:
            lines[0] = f"{speaker}: {lines[0]}"
    return "\n".join(lines)


def _render(cues: Iterable[Cue], marker: str, vtt: bool = False) -> list[str]:
    return [
        f"{format_timestamp(c.start, decimal_marker=marker)} --> "
        f"{format_timestamp(c.end, decimal_marker=marker)}\n" + _text(c, vtt)
        for c in cues
    ]


def to_srt(
    source: Transcription | Sequence[Segment],
    *,
    max_line_chars: int = 42,
    max_lines: int = 2,
    min_duration: float = DEFAULT_MIN_DURATION,
) -> str:
    """SubRip text: numbered cues, ``HH:MM:SS,mmm --> HH:MM:SS,mmm``, blank line between.
    The keywords are those of :func:`make_cues`."""
    cues = make_cues(
        source, max_line_chars=max_line_chars, max_lines=max_lines, min_duration=min_duration
    )
    blocks = [f"{n}\n{body}" for n, body in enumerate(_render(cues, ","), start=1)]
    return "\n\n".join(blocks) + ("\n" if blocks else "")


def to_vtt(
    source: Transcription | Sequence[Segment],
    *,
    max_line_chars: int = 42,
    max_lines: int = 2,
    min_duration: float = DEFAULT_MIN_DURATION,
) -> str:
    """WebVTT text: the ``WEBVTT`` header, then ``HH:MM:SS.mmm --> HH:MM:SS.mmm`` cues.
    The keywords are those of :func:`make_cues`."""
    cues = make_cues(
        source, max_line_chars=max_line_chars, max_lines=max_lines, min_duration=min_duration
    )
    body = _render(cues, ".", vtt=True)
    return "WEBVTT\n\n" + "\n\n".join(body) + ("\n" if body else "")
