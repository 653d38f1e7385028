"""Long audio through the model in sections, so a pass's memory does not grow with the file.

faster-whisper computes the features of everything one ``transcribe`` call is given at once:
with ``tiny.en`` the engine peaked at 4.1 GB on an hour of speech. Audio longer than
:data:`SECTION_SECONDS` is therefore given to the model a section at a time, each cut at the
quietest tenth of a second in the last :data:`CUT_SEARCH_SECONDS` before the section's limit
(a pause between words, not a word cut in two). Each section after the first is decoded in the
language the first was heard in, and its segments are timed against the whole file. It starts
without the text before it: given as a prompt (plain text, no timestamps), that text made the
model answer in 30-second segments without timestamps and drop words (0.084 word error rate on
26 minutes against 0.047 in one pass); without it, the cost is a few words at each cut. Audio
up to a section long is one pass, exactly as before.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from .._audio.decode import SAMPLE_RATE
from ._results import shifted

__all__ = ["CUT_SEARCH_SECONDS", "SECTION_SECONDS", "section_ranges", "sectioned"]

SECTION_SECONDS = 600.0
"""The most audio one pass of the model is given. A pass holds its features whole (about 70 MB
a minute of speech with faster-whisper's feature extractor), so ten minutes peak near 0.7 GB
over the decoded samples, whatever the file's length."""
CUT_SEARCH_SECONDS = 30.0
"""How far before a section's limit its cut is looked for."""
_FRAME_SECONDS = 0.1


def section_ranges(
    samples: Any, limit: float = SECTION_SECONDS, search: float = CUT_SEARCH_SECONDS
) -> list[tuple[int, int]]:
    """``samples`` (16 kHz) as ``(start, end)`` sample ranges of at most ``limit`` seconds
    covering it end to end, each cut at the quietest ``_FRAME_SECONDS`` in the last ``search``
    seconds before its limit."""
    import numpy as np

    total = len(samples)
    longest = int(limit * SAMPLE_RATE)
    window = min(int(search * SAMPLE_RATE), longest // 2)
    frame = int(_FRAME_SECONDS * SAMPLE_RATE)
    ranges: list[tuple[int, int]] = []
    start = 0
    while total - start > longest:
        end = start + longest
        frames = window // frame
        tail = np.asarray(samples[end - frames * frame : end], dtype=np.float32)
        energy = np.square(tail.reshape(frames, frame)).mean(axis=1)
        cut = end - frames * frame + int(np.argmin(energy)) * frame + frame // 2
        ranges.append((start, cut))
        start = cut
    ranges.append((start, total))
    return ranges


def sectioned(
    model: Any,
    samples: Any,
    ranges: list[tuple[int, int]],
    kwargs: dict[str, Any],
    *,
    convert: Callable[[Any], dict[str, Any]],
    check: Callable[[], None],
) -> tuple[str, Iterator[dict[str, Any]]]:
    """Decode ``samples`` section by section (``ranges`` from :func:`section_ranges`) with
    ``model.transcribe(section, **kwargs)``: the language heard (the first section is started
    here) and the segments as ``convert`` makes them, timed against the whole file. The
    caller's ``initial_prompt`` goes with the first section, as faster-whisper gives it to the
    first window only."""
    first, info = model.transcribe(samples[ranges[0][0] : ranges[0][1]], **kwargs)
    language: str = info.language
    later = {**kwargs, "language": kwargs.get("language") or language, "initial_prompt": None}

    def segments() -> Iterator[dict[str, Any]]:
        pieces = first
        for number, (start, end) in enumerate(ranges):
            if number:
                check()
                pieces, _ = model.transcribe(samples[start:end], **later)
            for piece in pieces:
                yield shifted(convert(piece), start / SAMPLE_RATE, end / SAMPLE_RATE)

    return language, segments()
