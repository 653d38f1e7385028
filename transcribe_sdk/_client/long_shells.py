"""``transcribe_long`` in the two clients: the audio checked, then sent whole or in pieces.

The splitting, the sending of pieces and the stitching are written once, in
:mod:`transcribe_sdk._audio.long` (and :mod:`transcribe_sdk._audio.long_stream` for a stream).
Here, one function per client opens the file, probes whether it must be split (in a thread for
the async one) and hands every piece to that client's own ``_transcribe``. A piece, or a file
sent whole, that looks incomplete is sent once more (:mod:`transcribe_sdk._client.quality`).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Generator, Mapping
from contextlib import AsyncExitStack, ExitStack, asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio

from .._audio.long import (
    PieceProgress,
    SplitPlan,
    atranscribe_long,
    needs_split,
    plan_split,
    transcribe_long,
)
from .._inputs.async_files import AsyncFileInput, aprepare_file, aspool
from ..files import AudioFile, FileInput, prepare_file, spool
from .base import BaseClient, one_key_per_call
from .batch import check_concurrency
from .quality import PieceLog, emit, looks_incomplete, sent_again
from .response import as_format

if TYPE_CHECKING:
    from ..streaming import AsyncPiecewiseStream, PiecewiseStream, StreamEvent
    from .response import AnyResult, RawResponse
    from .shells import AsyncShell, SyncShell

__all__ = ["check_long", "long_async", "long_sync"]


def check_long(
    client: BaseClient,
    model: object,
    response_format: object,
    options: Mapping[str, Any],
    *,
    max_chunk_bytes: object,
    max_chunk_seconds: object,
    max_concurrency: object,
    stream: object = False,
) -> tuple[SplitPlan, int]:
    """``transcribe_long``'s arguments, checked for the whole call and for its pieces."""
    # The format a single call would use (timestamp_granularities implies verbose_json),
    # so a split result has the same type as an unsplit one; a stream's own rules too.
    effective = client._prepare_call(model, response_format, options, stream).asked_format
    client._prepare_call(model, "verbose_json", options)
    plan = plan_split(
        max_chunk_bytes=max_chunk_bytes,
        max_chunk_seconds=max_chunk_seconds,
        response_format=effective,
        options=options,
    )
    limit = check_concurrency(max_concurrency)
    one_key_per_call(options)
    return plan, limit


def _whole(raw: RawResponse[Any], *, again: bool) -> AnyResult:
    """A file sent in one piece: its result, marked when it was sent a second time, and its
    warnings given."""
    if again:
        sent_again(raw.parsed)
    emit(list(raw.warnings))
    result: AnyResult = raw.parsed
    return result


def _stitched(stitched: Any, log: PieceLog, plan: SplitPlan) -> AnyResult:
    """The pieces' transcript in the format asked for, once every piece's warnings are given."""
    emit(log.warnings())
    shaped: AnyResult = as_format(stitched, plan.response_format)
    return shaped


def _probe_split(audio: AudioFile, plan: SplitPlan) -> bool:
    with audio.open() as reader:
        return needs_split(audio, reader, plan)


def long_sync(
    client: SyncShell,
    file: FileInput,
    model: str,
    response_format: str | None,
    options: Mapping[str, Any],
    *,
    max_chunk_bytes: int,
    max_chunk_seconds: float | None,
    max_concurrency: int,
    on_progress: PieceProgress | None,
    stream: bool,
) -> AnyResult | PiecewiseStream:
    """``transcribe_long``: checked, then one request, the pieces stitched, or a stream."""
    plan, limit = check_long(
        client,
        model,
        response_format,
        options,
        max_chunk_bytes=max_chunk_bytes,
        max_chunk_seconds=max_chunk_seconds,
        max_concurrency=max_concurrency,
        stream=stream,
    )
    audio = prepare_file(file)
    if stream:
        return _stream_long_sync(client, audio, model, response_format, options, plan=plan)
    with ExitStack() as stack:
        if not audio.replayable:
            audio, copy = spool(audio, client.max_spool_bytes)
            stack.callback(copy.close)
        if not _probe_split(audio, plan):  # one piece: sent again once if incomplete
            raw = client._transcribe(audio, model, response_format, options, warn=False)
            if not looks_incomplete(raw):
                return _whole(raw, again=False)
            raw = client._transcribe(audio, model, response_format, options, warn=False)
            return _whole(raw, again=True)

        log = PieceLog()

        def send(piece: tuple[str, bytes, str], fmt: str, opts: Mapping[str, Any]) -> Any:
            raw = client._transcribe(piece, model, fmt, opts, warn=False)
            return log.record(piece[0], raw)

        stitched = transcribe_long(
            send,
            audio,
            plan,
            max_concurrency=limit,
            on_progress=on_progress,
            redo=looks_incomplete,
        )
        return _stitched(stitched, log, plan)


def _stream_long_sync(
    client: SyncShell,
    audio: AudioFile,
    model: str,
    response_format: str | None,
    options: Mapping[str, Any],
    *,
    plan: SplitPlan,
) -> PiecewiseStream:
    from .._audio.long_stream import stream_long
    from ..streaming import Joiner, PiecewiseStream

    joiner = Joiner()

    def open_stream(piece: FileInput) -> Any:
        raw = client._transcribe(piece, model, response_format, options, stream=True)
        joiner.routes.append(raw.route)
        return raw.parsed

    def events() -> Generator[StreamEvent, None, None]:
        source = audio
        with ExitStack() as stack:
            if not source.replayable:
                source, copy = spool(source, client.max_spool_bytes)
                stack.callback(copy.close)
            split = _probe_split(source, plan)
            yield from stream_long(open_stream, source, plan, split, joiner)

    return PiecewiseStream(events(), joiner)


async def long_async(
    client: AsyncShell,
    file: AsyncFileInput,
    model: str,
    response_format: str | None,
    options: Mapping[str, Any],
    *,
    max_chunk_bytes: int,
    max_chunk_seconds: float | None,
    max_concurrency: int,
    on_progress: PieceProgress | None,
    stream: bool,
) -> AnyResult | AsyncPiecewiseStream:
    """``transcribe_long``: checked, then one request, the pieces stitched, or a stream."""
    plan, limit = check_long(
        client,
        model,
        response_format,
        options,
        max_chunk_bytes=max_chunk_bytes,
        max_chunk_seconds=max_chunk_seconds,
        max_concurrency=max_concurrency,
        stream=stream,
    )
    audio = await aprepare_file(file)
    if stream:
        return _stream_long_async(client, audio, model, response_format, options, plan=plan)
    async with AsyncExitStack() as stack:
        if not audio.replayable:
            audio, copy = await aspool(audio, client.max_spool_bytes)
            stack.callback(copy.close)
        split = await anyio.to_thread.run_sync(_probe_split, audio, plan)
        if not split:  # one piece: sent again once if incomplete
            raw = await client._transcribe(audio, model, response_format, options, warn=False)
            if not looks_incomplete(raw):
                return _whole(raw, again=False)
            raw = await client._transcribe(audio, model, response_format, options, warn=False)
            return _whole(raw, again=True)

        log = PieceLog()

        async def send(piece: tuple[str, bytes, str], fmt: str, opts: Mapping[str, Any]) -> Any:
            raw = await client._transcribe(piece, model, fmt, opts, warn=False)
            return log.record(piece[0], raw)

        stitched = await atranscribe_long(
            send,
            audio,
            plan,
            max_concurrency=limit,
            on_progress=on_progress,
            redo=looks_incomplete,
        )
        return _stitched(stitched, log, plan)


def _stream_long_async(
    client: AsyncShell,
    audio: AudioFile,
    model: str,
    response_format: str | None,
    options: Mapping[str, Any],
    *,
    plan: SplitPlan,
) -> AsyncPiecewiseStream:
    from .._audio.long_stream import astream_long
    from ..streaming import AsyncPiecewiseStream, Joiner

    joiner = Joiner()

    async def open_stream(piece: AsyncFileInput) -> Any:
        raw = await client._transcribe(piece, model, response_format, options, stream=True)
        joiner.routes.append(raw.route)
        return raw.parsed

    @asynccontextmanager
    async def opened(piece: AsyncFileInput) -> AsyncIterator[Any]:
        stream = await open_stream(piece)
        async with stream:
            yield stream

    async def events() -> AsyncGenerator[StreamEvent, None]:
        source = audio
        async with AsyncExitStack() as stack:
            if not source.replayable:
                source, copy = await aspool(source, client.max_spool_bytes)
                stack.callback(copy.close)
            split = await anyio.to_thread.run_sync(_probe_split, source, plan)
            async for event in astream_long(opened, source, plan, split, joiner):
                yield event

    return AsyncPiecewiseStream(events(), joiner)
