"""Putting the pieces of a split transcription back together, as if it had been one call.

Pure code. Each piece's segments and words are moved by the piece's start time, renumbered, and
kept in order (a timestamp never goes back); the texts are joined in order; durations and usage
add up. The client then gives the result the type the caller asked for
(:func:`transcribe_sdk._client.response.as_format`), exactly as a single call would give it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .._route import Route, combine
from ..models import Segment, Transcription, VerboseTranscription, Word, total_usage


def _shift(value: float | None, offset: float, floor: float) -> float:
    moved = round((value if value is not None else 0.0) + offset, 3)
    return max(moved, floor)


def stitch(
    pieces: Sequence[tuple[float, float, Transcription]],
    *,
    routes: Sequence[Route] | None = None,
    retried: list[int] | None = None,
) -> VerboseTranscription:
    """Join ``(start, duration, result)`` triples, in order, into one verbose transcription.

    ``routes`` (one per piece) go into each chunk and, combined, into the result's ``route``;
    ``retried`` becomes its ``retried_pieces``."""
    piece_routes = list(routes) if routes is not None else [r.route for _, _, r in pieces]
    segments: list[Segment] = []
    words: list[Word] = []
    texts: list[str] = []
    chunks: list[dict[str, Any]] = []
    last_start = 0.0
    last_word = 0.0
    for (start, duration, result), route in zip(pieces, piece_routes, strict=True):
        text = result.text.strip()
        if text:
            texts.append(text)
        chunk: dict[str, Any] = {
            "start": start,
            "duration": duration,
            "provider": result.provider,
            "id": result.id,
        }
        if not route.is_empty:  # what the router said of this piece
            chunk["route"] = route.model_dump(exclude_none=True)
        chunks.append(chunk)
        piece_end = start + duration
        for segment in result.segments or []:
            begin = min(_shift(segment.start, start, last_start), piece_end)
            end = min(max(_shift(segment.end, start, begin), begin), piece_end)
            seg_words = [
                w.model_copy(
                    update={
                        "start": _shift(w.start, start, begin),
                        "end": max(_shift(w.end, start, begin), begin),
                    }
                )
                for w in segment.words or []
            ]
            segments.append(
                segment.model_copy(
                    update={
                        "id": len(segments),
                        "seek": None if segment.seek is None else segment.seek + round(start * 100),
                        "start": begin,
                        "end": end,
                        "words": seg_words or segment.words,
                    }
                )
            )
            last_start = begin
        for word in getattr(result, "words", None) or []:
            begin = _shift(word.start, start, last_word)
            end = max(_shift(word.end, start, begin), begin)
            words.append(word.model_copy(update={"start": begin, "end": end}))
            last_word = begin
    first = pieces[0][2] if pieces else Transcription()
    providers = {c["provider"] for c in chunks if c["provider"]}
    total = sum(duration for _, duration, _ in pieces)
    whole = VerboseTranscription.model_validate(
        {
            "id": first.id,
            "object": first.object,
            "created": first.created,
            "provider": first.provider if len(providers) <= 1 else ",".join(sorted(providers)),
            "model": first.model,
            "language": next((p.language for _, _, p in pieces if p.language), None),
            "text": " ".join(texts),
            "duration": round(total, 3),
            "segments": [s.model_dump(exclude_none=False) for s in segments] if segments else None,
            "words": [w.model_dump() for w in words] if words else None,
            "usage": total_usage(result for _, _, result in pieces),
            "chunks": chunks,
            "dropped_segments": _total_dropped([p for _, _, p in pieces]),
            "retried_pieces": list(retried or []),
        }
    )
    whole._route = combine(piece_routes)
    return whole


def _total_dropped(results: Sequence[Transcription]) -> int | None:
    counts = [r.dropped_segments for r in results if r.dropped_segments is not None]
    return sum(counts) if counts else None
