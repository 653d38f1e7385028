"""How the two clients carry out a call: the only lines where they differ.

Every decision is made in :mod:`transcribe_sdk._client.base` and
:mod:`transcribe_sdk._client.flow`; a shell only opens the file for an attempt, sends the
request, reads the answer (an error body with a size cap), and sleeps between retries:
:class:`SyncShell` with blocking calls, for :class:`~transcribe_sdk.Client`; :class:`AsyncShell`
awaited, for :class:`~transcribe_sdk.AsyncClient`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from contextlib import AsyncExitStack, ExitStack, aclosing
from typing import TYPE_CHECKING, Any

import anyio
import httpx

from .._http import wire
from .._http.decoded import aiter_decoded, iter_decoded
from .._inputs.async_files import AsyncFileInput, aopen, aprepare_file, aspool
from .._inputs.multipart import MultipartBody
from .._inputs.tee import atee, tee
from ..errors import APIConnectionError, InvalidFileError
from ..files import AudioFile, FileInput, prepare_to_send, spool
from .attempt import (
    AttemptTrace,
    BodySink,
    Exchange,
    OpenStream,
    closed_error,
    map_transport_error,
    opens_stream,
    resend_on_fresh_connection,
)
from .base import BaseClient
from .flow import Wait, call_flow, logger, needs_spool
from .guards import check_audio_seconds, guards_need_copy, limit_upload, spool_limit, upload_cap
from .quality import (
    emit,
    file_seconds,
    needs_file_duration,
    reviewed,
)
from .response import RawResponse

if TYPE_CHECKING:
    from .batch import RateGate
    from .call import Call

__all__ = ["AsyncShell", "SyncShell", "own_http_settings"]


def own_http_settings(client: BaseClient, *, asynchronous: bool) -> dict[str, Any]:
    """Arguments for the httpx client we create when the user brings none: the local engine's
    transport (``base_url="local"``), or ours (:mod:`transcribe_sdk._http`)."""
    if client.local_model is not None:
        from ..local._app import LocalApp
        from ..local._inprocess import LocalTransport
        from ..local._process import client_engine

        engine = client_engine(client.local_model or None)
        return {"timeout": client.timeout, "transport": LocalTransport(LocalApp(engine))}
    from .._http.transport import DEFAULT_LIMITS, client_settings  # httpcore, h11: loaded here

    return {
        "timeout": client.timeout,
        **client_settings(limits=DEFAULT_LIMITS, asynchronous=asynchronous),
    }


class SyncShell(BaseClient):
    """The blocking I/O of :class:`~transcribe_sdk.Client`: send, read, sleep."""

    _http: httpx.Client

    def _transcribe(
        self,
        file: FileInput,
        model: object,
        response_format: object,
        options: Mapping[str, Any],
        gate: RateGate | None = None,
        *,
        stream: bool = False,
        warn: bool = True,
    ) -> RawResponse[Any]:
        self._check_open(self._http.is_closed)
        call = self._prepare_call(model, response_format, options, stream)
        call.gate = gate
        audio = prepare_to_send(file)
        with ExitStack() as stack:
            if guards_need_copy(call, audio):  # the limits read the whole stream first
                with upload_cap(call):
                    audio, copy = spool(audio, spool_limit(call, self.max_spool_bytes))
                stack.callback(copy.close)
            elif needs_spool(call, audio):  # copied while the first attempt sends it
                audio, copying = tee(audio, self.max_spool_bytes)
                stack.enter_context(copying)
            audio = limit_upload(audio, call.max_upload_bytes)
            check_audio_seconds(audio, call.max_audio_seconds)
            flow = call_flow(call, audio)
            step = next(flow)
            while True:  # carry out the flow's steps; it decides, this only waits and sends
                outcome: Exchange | APIConnectionError | None = None
                if isinstance(step, Wait):
                    time.sleep(step.seconds)
                else:
                    trace = AttemptTrace(call.deadline_at())
                    try:
                        sent = self._send_once(call, audio, trace)
                        if isinstance(sent, OpenStream):
                            return opened(call, sent, asynchronous=False)
                        outcome = sent
                    except OSError as exc:  # the file, not the network: httpx maps its own
                        raise InvalidFileError(f"reading the file failed: {exc}") from exc
                    except (httpx.RequestError, RuntimeError) as exc:
                        # Transport failures and undecodable bodies; a client closed under us.
                        if self._http.is_closed:
                            raise closed_error(call) from exc
                        if isinstance(exc, RuntimeError):
                            raise
                        outcome = map_transport_error(exc, call, trace)
                try:
                    step = flow.send(outcome)
                except StopIteration as done:
                    if call.stream:
                        return whole_answer(call, done.value, asynchronous=False)
                    raw: RawResponse[Any] = done.value
                    seconds = file_seconds(audio) if needs_file_duration(raw.parsed) else None
                    raw = reviewed(raw, call, seconds)
                    if warn:
                        emit(list(raw.warnings))
                    return raw

    def _send_once(
        self, call: Call, audio: AudioFile, trace: AttemptTrace
    ) -> Exchange | OpenStream:
        try:
            return self._exchange(call, audio, trace)
        except httpx.RequestError as exc:
            if not (audio.replayable and resend_on_fresh_connection(exc, trace)):
                raise
            logger.debug("POST %s: a stale keep-alive connection; sending again", call.shown_url)
        trace.clear()
        return self._exchange(call, audio, trace)

    def _exchange(self, call: Call, audio: AudioFile, trace: AttemptTrace) -> Exchange | OpenStream:
        token = wire.current.set(trace.wire)
        try:
            with audio.open() as reader:
                body = MultipartBody(call.params.fields, audio)
                request = self._http.build_request(
                    "POST",
                    call.url,
                    headers={**call.headers, **body.headers()},
                    content=body.iter_sync(reader, deadline=call.deadline_at()),
                    timeout=call.timeout,
                    extensions={"trace": trace.record},
                )
                # A redirect would re-send a body that was streamed already: never follow one.
                response = self._http.send(
                    request, auth=self._auth, stream=True, follow_redirects=False
                )
                if opens_stream(call, response):
                    return OpenStream(response)  # read by the caller, event by event
                sink = BodySink(call, response)
                try:
                    for chunk in iter_decoded(response):  # bounded per step: a gzip bomb
                        if sink.add(chunk):
                            break
                finally:
                    response.close()
                return sink.exchange()
        finally:
            wire.current.reset(token)


class AsyncShell(BaseClient):
    """The awaited I/O of :class:`~transcribe_sdk.AsyncClient`: send, read, sleep."""

    _http: httpx.AsyncClient

    async def _transcribe(
        self,
        file: AsyncFileInput,
        model: object,
        response_format: object,
        options: Mapping[str, Any],
        gate: RateGate | None = None,
        *,
        stream: bool = False,
        warn: bool = True,
    ) -> RawResponse[Any]:
        self._check_open(self._http.is_closed)
        call = self._prepare_call(model, response_format, options, stream)
        call.gate = gate
        audio = await aprepare_file(file)
        async with AsyncExitStack() as stack:
            if guards_need_copy(call, audio):  # the limits read the whole stream first
                with upload_cap(call):
                    audio, copy = await aspool(audio, spool_limit(call, self.max_spool_bytes))
                stack.callback(copy.close)
            elif needs_spool(call, audio):  # copied while the first attempt sends it
                source = audio
                audio, copying = atee(audio, self.max_spool_bytes, lambda: aopen(source))
                await stack.enter_async_context(copying)
            audio = limit_upload(audio, call.max_upload_bytes)
            if call.max_audio_seconds is not None:
                await anyio.to_thread.run_sync(check_audio_seconds, audio, call.max_audio_seconds)
            flow = call_flow(call, audio)
            step = next(flow)
            while True:  # carry out the flow's steps; it decides, this only waits and sends
                outcome: Exchange | APIConnectionError | None = None
                if isinstance(step, Wait):
                    await anyio.sleep(step.seconds)
                else:
                    left = call.time_left()
                    # The deadline bounds the whole attempt, however the server drips its bytes.
                    with anyio.move_on_after(math.inf if left is None else left) as scope:
                        trace = AttemptTrace(call.deadline_at())
                        try:
                            sent = await self._send_once(call, audio, trace)
                            if isinstance(sent, OpenStream):
                                return opened(call, sent, asynchronous=True)
                            outcome = sent
                        except OSError as exc:  # the file, not the network
                            raise InvalidFileError(f"reading the file failed: {exc}") from exc
                        except (httpx.RequestError, RuntimeError) as exc:
                            # Transport failures and bad bodies; a client closed under us.
                            if self._http.is_closed:
                                raise closed_error(call) from exc
                            if isinstance(exc, RuntimeError):
                                raise
                            outcome = map_transport_error(exc, call, trace)
                    if scope.cancelled_caught:
                        outcome = call.deadline_error()
                try:
                    step = flow.send(outcome)
                except StopIteration as done:
                    if call.stream:
                        return whole_answer(call, done.value, asynchronous=True)
                    raw = done.value
                    # In memory only (no I/O): read on the loop, as in_memory content may be.
                    seconds = file_seconds(audio) if needs_file_duration(raw.parsed) else None
                    raw = reviewed(raw, call, seconds)
                    if warn:
                        emit(list(raw.warnings))
                    return raw

    async def _send_once(
        self, call: Call, audio: AudioFile, trace: AttemptTrace
    ) -> Exchange | OpenStream:
        try:
            return await self._exchange(call, audio, trace)
        except httpx.RequestError as exc:
            if not (audio.replayable and resend_on_fresh_connection(exc, trace)):
                raise
            logger.debug("POST %s: a stale keep-alive connection; sending again", call.shown_url)
        trace.clear()
        return await self._exchange(call, audio, trace)

    async def _exchange(
        self, call: Call, audio: AudioFile, attempt: AttemptTrace
    ) -> Exchange | OpenStream:
        async def trace(event: str, info: object) -> None:
            attempt.record(event, info)

        token = wire.current.set(attempt.wire)
        try:
            body = MultipartBody(call.params.fields, audio)
            # Closed here when an answer cut the upload short (trio warns of one left open).
            async with aopen(audio) as reader, aclosing(body.iter_async(reader)) as content:
                request = self._http.build_request(
                    "POST",
                    call.url,
                    headers={**call.headers, **body.headers()},
                    content=content,
                    timeout=call.timeout,
                    extensions={"trace": trace},
                )
                response = await self._http.send(
                    request, auth=self._auth, stream=True, follow_redirects=False
                )
                if opens_stream(call, response):
                    return OpenStream(response)  # read by the caller, event by event
                sink = BodySink(call, response)
                try:
                    async with aclosing(aiter_decoded(response)) as chunks:  # bounded per step
                        async for chunk in chunks:
                            if sink.add(chunk):
                                break
                finally:
                    await response.aclose()
                return sink.exchange()
        finally:
            wire.current.reset(token)


# How a stream=True call ends: an open event stream, or a whole answer given as one event. The
# stream classes (and the pydantic models they need) load only when a call streams.


def opened(call: Call, sent: OpenStream, *, asynchronous: bool) -> RawResponse[Any]:
    """The result of a call whose server answered with an event stream."""
    from ..streaming import AsyncTranscriptionStream, TranscriptionStream

    kind = AsyncTranscriptionStream if asynchronous else TranscriptionStream
    stream = kind(sent.response, max_bytes=call.max_response_bytes, secrets=call.secrets)
    return RawResponse(stream, sent.response)


def whole_answer(call: Call, raw: RawResponse[Any], *, asynchronous: bool) -> RawResponse[Any]:
    """``raw`` as it is, or, for a streamed call the server answered whole (it ignored
    ``stream``), a stream of one ``transcript.text.done`` event holding that answer."""
    if not call.stream:
        return raw
    from .._events import whole_answer_event
    from ..streaming import AsyncTranscriptionStream, TranscriptionStream

    event = whole_answer_event(raw.parsed)
    kind = AsyncTranscriptionStream if asynchronous else TranscriptionStream
    stream = kind(raw.http_response, whole=lambda: event)
    return RawResponse(stream, raw.http_response, raw.attempts)
