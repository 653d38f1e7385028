"""Long audio: split when over a size or duration limit, transcribe the pieces concurrently,
stitch them into one result.

The decisions (whether to split, how long a piece may be, what to ask for each piece) are
made once in :func:`plan_split`; :func:`transcribe_long` and :func:`atranscribe_long` only
differ in running the pieces on threads or on tasks. Both give the pieces stitched into one
``verbose_json`` result; the client gives it the type the caller asked for. At most
``max_concurrency`` pieces are in memory at once, whatever the file's length.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, closing
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread

from .._formats import SUBTITLE_FORMATS
from ..errors import InvalidInputError
from .splitter import Piece, iter_pieces, probe_duration, seconds_for_bytes

if TYPE_CHECKING:
    from ..files import AudioFile, Reader
    from ..models import Transcription, VerboseTranscription

DEFAULT_MAX_CHUNK_BYTES = 25 * 1000 * 1000
"""OpenAI's upload limit; providers behind the router may accept more or less."""

PieceProgress = Callable[[int, float], None]
"""``on_progress(pieces_done, seconds_done)``, called as each piece is transcribed."""


@dataclass(frozen=True)
class SplitPlan:
    """How a long call runs: the longest piece, and what each piece's request asks for."""

    max_seconds: float
    max_bytes: int
    duration_limited: bool
    piece_options: dict[str, Any]
    response_format: str | None

    @property
    def piece_format(self) -> str:
        """What each piece asks for: ``verbose_json`` (times to move), or ``diarized_json``
        when the speakers are wanted (its segments have times and speakers)."""
        return "diarized_json" if self.response_format == "diarized_json" else "verbose_json"


def plan_split(
    *,
    max_chunk_bytes: object,
    max_chunk_seconds: object,
    response_format: str | None,
    options: Mapping[str, Any],
) -> SplitPlan:
    """Check the limits and work out the pieces' requests (always ``verbose_json``, so their
    timestamps can be moved to the whole file)."""
    if (
        isinstance(max_chunk_bytes, bool)
        or not isinstance(max_chunk_bytes, int)
        or (max_chunk_bytes < 64 * 1024)
    ):
        raise InvalidInputError(
            "max_chunk_bytes", f"must be an int of at least 65536, not {max_chunk_bytes!r}"
        )
    limit = seconds_for_bytes(max_chunk_bytes)
    if max_chunk_seconds is not None:
        if (
            isinstance(max_chunk_seconds, bool)
            or not isinstance(max_chunk_seconds, (int, float))
            or not max_chunk_seconds >= 1
        ):
            raise InvalidInputError(
                "max_chunk_seconds", f"must be at least 1 second, not {max_chunk_seconds!r}"
            )
        limit = min(limit, float(max_chunk_seconds))
    piece_options = dict(options)
    if response_format in SUBTITLE_FORMATS and options.get("timestamp_granularities") is None:
        # The pieces' verbose_json becomes subtitles: a segment a phrase (the local engine
        # decodes batched, a segment a window of up to 30 s, unless asked).
        piece_options["timestamp_granularities"] = ["segment"]
    return SplitPlan(
        limit, max_chunk_bytes, max_chunk_seconds is not None, piece_options, response_format
    )


def needs_split(audio: AudioFile, reader: Reader, plan: SplitPlan) -> bool:
    """Whether the file is over the size limit, or (when one was set and its container says)
    the duration limit. Only the duration check needs PyAV."""
    if audio.size is None or audio.size > plan.max_bytes:
        return True
    if not plan.duration_limited:
        return False
    duration = probe_duration(reader)
    seek = getattr(reader, "seek", None)
    if seek is not None:
        seek(0)
    return duration is not None and duration > plan.max_seconds


def _stitched(
    results: Mapping[int, tuple[float, float, Transcription]],
    raws: Mapping[int, Any],
    retried: set[int],
) -> VerboseTranscription:
    from .stitch import stitch  # the models load with the first answer, not before

    order = sorted(results)
    routes = [raws[i].route for i in order]
    return stitch([results[i] for i in order], routes=routes, retried=sorted(retried))


def _piece_input(audio: AudioFile, piece: Piece) -> tuple[str, bytes, str]:
    stem = audio.filename.rsplit(".", 1)[0] or "audio"
    return (f"{stem}.part{piece.index:03d}.wav", piece.wav, "audio/wav")


def transcribe_long(
    send: Callable[[tuple[str, bytes, str], str, Mapping[str, Any]], Any],
    audio: AudioFile,
    plan: SplitPlan,
    *,
    max_concurrency: int,
    on_progress: PieceProgress | None,
    redo: Callable[[Any], bool] = lambda _: False,
) -> VerboseTranscription:
    """Split ``audio``, send each piece with ``send`` on up to ``max_concurrency`` threads, and
    stitch the pieces into one verbose transcription (the client gives it the format asked).

    ``send`` returns a ``RawResponse``; a piece whose answer ``redo`` flags is sent once more
    (its index is in the result's ``retried_pieces``)."""
    results: dict[int, tuple[float, float, Transcription]] = {}
    raws: dict[int, Any] = {}
    retried: set[int] = set()

    def send_piece(piece: Piece) -> Transcription:
        args = (_piece_input(audio, piece), plan.piece_format, plan.piece_options)
        raw = send(*args)
        if redo(raw):
            retried.add(piece.index)
            raw = send(*args)
        raws[piece.index] = raw
        result: Transcription = raw.parsed
        return result

    errors: list[BaseException] = []  # any failure, so no piece can go missing unnoticed
    slots = threading.BoundedSemaphore(max_concurrency)
    lock = threading.Lock()
    done = [0, 0.0]

    def finished(piece: Piece, future: Future[Transcription]) -> None:
        try:
            error = future.exception()
            with lock:
                if error is None:
                    results[piece.index] = (piece.start, piece.duration, future.result())
                    done[0] += 1
                    done[1] += piece.duration
                    report = (int(done[0]), round(float(done[1]), 3))
                else:  # raised from here it would only be logged, and the piece lost
                    errors.append(error)
                    report = None
            if report and on_progress is not None:
                on_progress(*report)
        except BaseException as exc:  # a failing callback too: raised by the call, not lost
            with lock:
                errors.append(exc)
        finally:
            slots.release()

    with ExitStack() as stack:
        reader = stack.enter_context(audio.open())
        pool = ThreadPoolExecutor(max_concurrency, "transcribe-piece")
        # Stopped (Ctrl+C, a failing callback): pieces not started are dropped and the ones in
        # flight are not waited for, so the caller gets the exception at once.
        stack.push(
            lambda kind, *_: pool.shutdown(wait=kind is None, cancel_futures=kind is not None)
        )
        pieces = stack.enter_context(closing(iter_pieces(reader, max_seconds=plan.max_seconds)))
        while True:
            slots.acquire()  # before decoding: at most max_concurrency pieces held at once
            piece = None if errors else next(pieces, None)
            if piece is None:
                slots.release()
                break
            future = pool.submit(send_piece, piece)
            future.add_done_callback(partial(finished, piece))
    if errors:
        raise errors[0]
    return _stitched(results, raws, retried)


async def atranscribe_long(
    send: Callable[[tuple[str, bytes, str], str, Mapping[str, Any]], Any],
    audio: AudioFile,
    plan: SplitPlan,
    *,
    max_concurrency: int,
    on_progress: PieceProgress | None,
    redo: Callable[[Any], bool] = lambda _: False,
) -> VerboseTranscription:
    """The task-based :func:`transcribe_long`: decoding runs in a worker thread."""
    results: dict[int, tuple[float, float, Transcription]] = {}
    raws: dict[int, Any] = {}
    retried: set[int] = set()
    errors: list[Exception] = []
    slots = anyio.Semaphore(max_concurrency)
    done = [0, 0.0]

    async def one(piece: Piece) -> None:
        try:
            args = (_piece_input(audio, piece), plan.piece_format, plan.piece_options)
            raw = await send(*args)
            if redo(raw):
                retried.add(piece.index)
                raw = await send(*args)
            raws[piece.index] = raw
            result = raw.parsed
        except Exception as exc:  # raised as itself below, not inside an exception group
            errors.append(exc)
            return
        finally:
            slots.release()
        results[piece.index] = (piece.start, piece.duration, result)
        done[0] += 1
        done[1] += piece.duration
        if on_progress is not None:
            try:
                on_progress(int(done[0]), round(float(done[1]), 3))
            except Exception as exc:  # raised as itself below, as in the sync client
                errors.append(exc)

    with ExitStack() as stack:
        with anyio.CancelScope(shield=True):
            reader = await anyio.to_thread.run_sync(stack.enter_context, audio.open())
        pieces: Generator[Piece, None, None] = stack.enter_context(
            closing(iter_pieces(reader, max_seconds=plan.max_seconds))
        )
        async with anyio.create_task_group() as group:
            while not errors:
                await slots.acquire()
                piece = await anyio.to_thread.run_sync(next, pieces, None)
                if piece is None or errors:
                    slots.release()
                    break
                group.start_soon(one, piece)
    if errors:
        raise errors[0]
    return _stitched(results, raws, retried)


__all__ = [
    "DEFAULT_MAX_CHUNK_BYTES",
    "PieceProgress",
    "SplitPlan",
    "atranscribe_long",
    "needs_split",
    "plan_split",
    "transcribe_long",
]
