"""The two shells: :class:`Client` (blocking) and :class:`AsyncClient` (asyncio or trio).

All decisions live in :mod:`transcribe_sdk._base`; each shell only opens the file for an attempt,
sends the request, reads the answer (an error body with a size cap), and sleeps between retries.
"""

from __future__ import annotations

import math
import time
from collections.abc import AsyncGenerator, AsyncIterator, Generator, Iterable, Mapping
from contextlib import AsyncExitStack, ExitStack, asynccontextmanager
from typing import TYPE_CHECKING, Any, Literal, TypeAlias, overload

import anyio
import httpx
from typing_extensions import Self, Unpack

from ._async_files import AsyncFileInput, aopen, aprepare_file, aspool
from ._attempt import OpenStream, opens_stream
from ._base import (
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_MAX_SPOOL_BYTES,
    BaseClient,
    BodySink,
    Call,
    Exchange,
    TimeoutTypes,
    TranscribeOptions,
    Wait,
    call_flow,
    closed_error,
    logger,
    map_transport_error,
    needs_spool,
    resend_on_fresh_connection,
)
from ._batch import (
    BatchResult,
    ProgressCallback,
    RateGate,
    arun_batch,
    run_batch,
)
from ._guards import check_audio_seconds, guards_need_copy, limit_upload, spool_limit, upload_cap
from ._long import (
    DEFAULT_MAX_CHUNK_BYTES,
    PieceProgress,
    SplitPlan,
    atranscribe_long,
    needs_split,
    transcribe_long,
)
from ._multipart import MultipartBody
from ._net import deadline, guard_client
from ._response import RawResponse
from ._retry import RetryPolicy
from ._streamed import opened, whole_answer
from .errors import APIConnectionError, InvalidFileError
from .files import AudioFile, FileInput, prepare_file, prepare_to_send, spool

if TYPE_CHECKING:
    from ._long_stream import AsyncPiecewiseStream, PiecewiseStream
    from .models import DiarizedTranscription, Transcription, VerboseTranscription
    from .streaming import AsyncTranscriptionStream, StreamEvent, TranscriptionStream

    AnyResult: TypeAlias = Transcription | VerboseTranscription | str

__all__ = ["AsyncClient", "Client"]

TextFormat = Literal["text", "srt", "vtt"]


def _probe_split(audio: AudioFile, plan: SplitPlan) -> bool:
    with audio.open() as reader:
        return needs_split(audio, reader, plan)


class Client(BaseClient):
    """A blocking client for ``POST {base_url}/audio/transcriptions``.

    Safe to share between threads. Use it as a context manager, or call :meth:`close`, to
    release its connections; an ``http_client`` you pass in stays open (it is yours).

    Arguments (all keyword-only, all optional):

    - ``api_key``: the bearer key; default ``$TRANSCRIBE_API_KEY``. ``""`` sends no key (a
      self-hosted server); with neither, :class:`MissingAPIKeyError`.
    - ``base_url``: default ``$TRANSCRIBE_BASE_URL``, else ``https://api.cortecs.ai/v1``;
      ``"local"`` or ``"local://<model>"`` runs the local Whisper engine in-process.
    - ``timeout``: seconds, or an ``httpx.Timeout`` with connect/write/read/pool limits;
      default :data:`DEFAULT_TIMEOUT` (long enough for long audio), or the timeout of an
      ``http_client`` you configured.
    - ``max_retries``: retries after the first attempt (default 2); ``retry_policy`` shapes
      their backoff (:class:`RetryPolicy`).
    - ``default_headers``: sent with every request.
    - ``http_client``: your own ``httpx.Client`` (proxies, CA bundle, limits, event hooks).
    - ``max_response_bytes``: the most of a success body read, after decompression (default
      64 MiB); more raises :class:`ResponseTooLargeError`.
    - ``max_spool_bytes``: the most of a one-shot stream copied so retries can re-send it
      (default 1 GiB); more raises :class:`SpoolLimitError` (``max_retries=0`` sends without
      a copy).

    Example::

        from transcribe_sdk import Client

        with Client() as client:  # TRANSCRIBE_API_KEY and TRANSCRIBE_BASE_URL from the env
            result = client.transcribe("talk.mp3", model="whisper-large-v3", language="en")
            print(result.text, result.provider)
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: TimeoutTypes | None = None,
        max_retries: int = 2,
        default_headers: Mapping[str, str] | None = None,
        http_client: httpx.Client | None = None,
        retry_policy: RetryPolicy | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        max_spool_bytes: int = DEFAULT_MAX_SPOOL_BYTES,
    ) -> None:
        super().__init__(
            api_key=api_key,
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
            default_headers=default_headers,
            retry_policy=retry_policy,
            max_response_bytes=max_response_bytes,
            max_spool_bytes=max_spool_bytes,
        )
        self._accept_http_client(http_client, httpx.Client, timeout)
        self._owns_http = http_client is None
        self._http = http_client or httpx.Client(**self._own_http_settings())
        if http_client is None:
            guard_client(self._http)
        self.with_raw_response: _RawClient = _RawClient(self)
        """``client.with_raw_response.transcribe(...)``: the result with its HTTP response."""

    # -- lifecycle -------------------------------------------------------------------------
    def close(self) -> None:
        """Close the connections this client opened (not those of an ``http_client`` passed in)."""
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- the call ------------------------------------------------------------------------
    @overload
    def transcribe(
        self,
        file: FileInput,
        *,
        model: str,
        response_format: Literal["json"] | None = None,
        stream: Literal[False] = False,
        **options: Unpack[TranscribeOptions],
    ) -> Transcription: ...
    @overload
    def transcribe(
        self,
        file: FileInput,
        *,
        model: str,
        response_format: Literal["verbose_json"],
        stream: Literal[False] = False,
        **options: Unpack[TranscribeOptions],
    ) -> VerboseTranscription: ...
    @overload
    def transcribe(
        self,
        file: FileInput,
        *,
        model: str,
        response_format: TextFormat,
        stream: Literal[False] = False,
        **options: Unpack[TranscribeOptions],
    ) -> str: ...
    @overload
    def transcribe(
        self,
        file: FileInput,
        *,
        model: str,
        response_format: Literal["diarized_json"],
        stream: Literal[False] = False,
        **options: Unpack[TranscribeOptions],
    ) -> DiarizedTranscription: ...
    @overload
    def transcribe(
        self,
        file: FileInput,
        *,
        model: str,
        response_format: str | None = None,
        stream: Literal[True],
        **options: Unpack[TranscribeOptions],
    ) -> TranscriptionStream: ...
    @overload
    def transcribe(
        self,
        file: FileInput,
        *,
        model: str,
        response_format: str | None,
        stream: Literal[False] = False,
        **options: Unpack[TranscribeOptions],
    ) -> AnyResult: ...
    @overload
    def transcribe(
        self,
        file: FileInput,
        *,
        model: str,
        response_format: str | None = None,
        stream: bool,
        **options: Unpack[TranscribeOptions],
    ) -> AnyResult | TranscriptionStream: ...
    def transcribe(
        self,
        file: FileInput,
        *,
        model: str,
        response_format: str | None = None,
        stream: bool = False,
        **options: Unpack[TranscribeOptions],
    ) -> AnyResult | TranscriptionStream:
        """Transcribe ``file`` and return the result in the type ``response_format`` implies.

        ``json`` (the default) gives a :class:`Transcription`, ``verbose_json`` a
        :class:`VerboseTranscription`, and ``text``/``srt``/``vtt`` the body as a ``str``.

        Arguments (``file`` positional, the rest keyword-only; a keyword left out or ``None``
        is not sent):

        - ``file``: a path, bytes, a binary file object, or ``(filename, content[,
          content_type])``.
        - ``model``: the model to ask for (``"whisper-large-v3"``).
        - ``response_format``: ``"json"`` (default), ``"verbose_json"``, ``"text"``, ``"srt"``,
          ``"vtt"`` or ``"diarized_json"``.
        - ``language``: language of the audio, ISO-639-1 (``"en"``, ``"fr"``); else detected.
        - ``prompt``: text to guide the model's style or vocabulary.
        - ``temperature``: sampling temperature, 0 to 1.
        - ``preference``: router: ``"speed"``, ``"cost"`` or ``"balanced"``.
        - ``allowed_providers``: router: only these providers may serve it.
        - ``eu_native``: router: only providers based and regulated in the EU.
        - ``allow_quantization``: router: ``False`` keeps quantized endpoints out.
        - ``allow_zero_data_retention``: router: only providers that keep no data.
        - ``enable_model_fallback``: router: allow another model when this one is unavailable.
        - ``timestamp_granularities``: ``"word"`` and/or ``"segment"`` (with ``verbose_json``).
        - ``extra_body``: more form fields for the server or provider.
        - ``extra_headers``: HTTP headers for this call only.
        - ``timeout``: this call's timeout, seconds or ``httpx.Timeout``; else the client's.
        - ``max_retries``: this call's retries; else the client's.
        - ``deadline``: the whole call's limit in seconds, retries and waits included.
        - ``silence_filter``: ``True`` or a :class:`SilenceFilter`: drop made-up segments on
          silence.
        - ``known_speaker_names``: diarizing: the names of up to four known speakers.
        - ``known_speaker_references``: a 2-10 s sample of each named speaker (a path, bytes
          or a ``data:`` URL).
        - ``chunking_strategy``: ``"auto"`` or ``{"type": "server_vad", ...}``.
        - ``include``: ``["logprobs"]`` for token log-probabilities.
        - ``max_upload_bytes``: refuse a larger file before sending it.
        - ``max_audio_seconds``: refuse longer audio before sending it.
        - ``enforce_allowed_providers``: raise when the provider is not in
          ``allowed_providers``.
        - ``stream``: ``True`` returns a stream of events as the server sends them.

        The same keywords are :class:`TranscribeOptions`.

        With ``stream=True`` the server is asked for events, and a
        :class:`~transcribe_sdk.streaming.TranscriptionStream` of them is returned once the
        answer starts (errors before that are raised as usual, retries included); use it in a
        ``with`` block and iterate it.
        """
        result: AnyResult | TranscriptionStream = self._transcribe(
            file, model, response_format, options, stream=stream
        ).parsed
        return result

    @overload
    def transcribe_many(
        self,
        files: Iterable[FileInput],
        *,
        model: str,
        response_format: Literal["json"] | None = None,
        max_concurrency: int = 4,
        on_progress: ProgressCallback | None = None,
        **options: Unpack[TranscribeOptions],
    ) -> list[BatchResult[Transcription]]: ...
    @overload
    def transcribe_many(
        self,
        files: Iterable[FileInput],
        *,
        model: str,
        response_format: Literal["verbose_json"],
        max_concurrency: int = 4,
        on_progress: ProgressCallback | None = None,
        **options: Unpack[TranscribeOptions],
    ) -> list[BatchResult[VerboseTranscription]]: ...
    @overload
    def transcribe_many(
        self,
        files: Iterable[FileInput],
        *,
        model: str,
        response_format: TextFormat,
        max_concurrency: int = 4,
        on_progress: ProgressCallback | None = None,
        **options: Unpack[TranscribeOptions],
    ) -> list[BatchResult[str]]: ...
    @overload
    def transcribe_many(
        self,
        files: Iterable[FileInput],
        *,
        model: str,
        response_format: Literal["diarized_json"],
        max_concurrency: int = 4,
        on_progress: ProgressCallback | None = None,
        **options: Unpack[TranscribeOptions],
    ) -> list[BatchResult[DiarizedTranscription]]: ...
    @overload
    def transcribe_many(
        self,
        files: Iterable[FileInput],
        *,
        model: str,
        response_format: str | None,
        max_concurrency: int = 4,
        on_progress: ProgressCallback | None = None,
        **options: Unpack[TranscribeOptions],
    ) -> list[BatchResult[AnyResult]]: ...
    def transcribe_many(
        self,
        files: Iterable[FileInput],
        *,
        model: str,
        response_format: str | None = None,
        max_concurrency: int = 4,
        on_progress: ProgressCallback | None = None,
        **options: Unpack[TranscribeOptions],
    ) -> list[BatchResult[Any]]:
        """Transcribe many inputs on up to ``max_concurrency`` threads.

        Returns one :class:`BatchResult` per input, in input order; a file that fails holds
        its error and the others carry on. A 429 on any request pauses every worker.
        ``on_progress(done, total, item)`` is called as each input finishes.

        Example::

            for item in client.transcribe_many(paths, model="whisper-large-v3"):
                print(item.input, item.result.text if item.ok else item.error)
        """
        items, limit = self._check_many(files, model, response_format, options, max_concurrency)

        def one(file: FileInput, gate: RateGate) -> Any:
            return self._transcribe(file, model, response_format, options, gate).parsed

        return run_batch(items, one, max_concurrency=limit, on_progress=on_progress)

    @overload
    def transcribe_long(
        self,
        file: FileInput,
        *,
        model: str,
        response_format: Literal["json"] | None = None,
        max_chunk_bytes: int = DEFAULT_MAX_CHUNK_BYTES,
        max_chunk_seconds: float | None = None,
        max_concurrency: int = 2,
        on_progress: PieceProgress | None = None,
        stream: Literal[False] = False,
        **options: Unpack[TranscribeOptions],
    ) -> Transcription: ...
    @overload
    def transcribe_long(
        self,
        file: FileInput,
        *,
        model: str,
        response_format: Literal["verbose_json"],
        max_chunk_bytes: int = DEFAULT_MAX_CHUNK_BYTES,
        max_chunk_seconds: float | None = None,
        max_concurrency: int = 2,
        on_progress: PieceProgress | None = None,
        stream: Literal[False] = False,
        **options: Unpack[TranscribeOptions],
    ) -> VerboseTranscription: ...
    @overload
    def transcribe_long(
        self,
        file: FileInput,
        *,
        model: str,
        response_format: TextFormat,
        max_chunk_bytes: int = DEFAULT_MAX_CHUNK_BYTES,
        max_chunk_seconds: float | None = None,
        max_concurrency: int = 2,
        on_progress: PieceProgress | None = None,
        stream: Literal[False] = False,
        **options: Unpack[TranscribeOptions],
    ) -> str: ...
    @overload
    def transcribe_long(
        self,
        file: FileInput,
        *,
        model: str,
        response_format: Literal["diarized_json"],
        max_chunk_bytes: int = DEFAULT_MAX_CHUNK_BYTES,
        max_chunk_seconds: float | None = None,
        max_concurrency: int = 2,
        on_progress: PieceProgress | None = None,
        stream: Literal[False] = False,
        **options: Unpack[TranscribeOptions],
    ) -> Transcription: ...
    @overload
    def transcribe_long(
        self,
        file: FileInput,
        *,
        model: str,
        response_format: str | None = None,
        max_chunk_bytes: int = DEFAULT_MAX_CHUNK_BYTES,
        max_chunk_seconds: float | None = None,
        max_concurrency: int = 2,
        on_progress: PieceProgress | None = None,
        stream: Literal[True],
        **options: Unpack[TranscribeOptions],
    ) -> PiecewiseStream: ...
    @overload
    def transcribe_long(
        self,
        file: FileInput,
        *,
        model: str,
        response_format: str | None,
        max_chunk_bytes: int = DEFAULT_MAX_CHUNK_BYTES,
        max_chunk_seconds: float | None = None,
        max_concurrency: int = 2,
        on_progress: PieceProgress | None = None,
        stream: Literal[False] = False,
        **options: Unpack[TranscribeOptions],
    ) -> AnyResult: ...
    @overload
    def transcribe_long(
        self,
        file: FileInput,
        *,
        model: str,
        response_format: str | None = None,
        max_chunk_bytes: int = DEFAULT_MAX_CHUNK_BYTES,
        max_chunk_seconds: float | None = None,
        max_concurrency: int = 2,
        on_progress: PieceProgress | None = None,
        stream: bool,
        **options: Unpack[TranscribeOptions],
    ) -> AnyResult | PiecewiseStream: ...
    def transcribe_long(
        self,
        file: FileInput,
        *,
        model: str,
        response_format: str | None = None,
        max_chunk_bytes: int = DEFAULT_MAX_CHUNK_BYTES,
        max_chunk_seconds: float | None = None,
        max_concurrency: int = 2,
        on_progress: PieceProgress | None = None,
        stream: bool = False,
        **options: Unpack[TranscribeOptions],
    ) -> AnyResult | PiecewiseStream:
        """Transcribe audio of any length: split it when it is over ``max_chunk_bytes`` (or,
        when given, ``max_chunk_seconds``), send the pieces concurrently, and stitch them.

        Pieces end at the quietest moment near the limit and are sent as 16 kHz mono WAV; the
        result has the type a single :meth:`transcribe` call would return, with segment and
        word times measured from the start of the whole file. Needs the ``split`` extra
        (PyAV) when a split is needed. ``on_progress(pieces_done, seconds_done)`` reports.

        Example::

            result = client.transcribe_long("meeting.mp3", model="whisper-large-v3",
                                            max_chunk_seconds=600)
        """
        plan, limit = self._check_long(
            model,
            response_format,
            options,
            max_chunk_bytes=max_chunk_bytes,
            max_chunk_seconds=max_chunk_seconds,
            max_concurrency=max_concurrency,
        )
        audio = prepare_file(file)
        if stream:
            self._prepare_call(model, response_format, options, stream)  # a stream's own rules
            return self._stream_long(audio, model, response_format, options, plan)
        with ExitStack() as stack:
            if not audio.replayable:
                audio, copy = spool(audio, self.max_spool_bytes)
                stack.callback(copy.close)
            if not _probe_split(audio, plan):
                result: AnyResult = self._transcribe(audio, model, response_format, options).parsed
                return result

            def send(piece: FileInput, fmt: str, opts: Mapping[str, Any]) -> Any:
                return self._transcribe(piece, model, fmt, opts).parsed

            stitched: AnyResult = transcribe_long(
                send, audio, plan, max_concurrency=limit, on_progress=on_progress
            )
            return stitched

    def _stream_long(
        self,
        audio: AudioFile,
        model: str,
        response_format: str | None,
        options: Mapping[str, Any],
        plan: SplitPlan,
    ) -> PiecewiseStream:
        from ._long_stream import Joiner, PiecewiseStream, stream_long

        joiner = Joiner()

        def open_stream(piece: FileInput) -> Any:
            return self._transcribe(piece, model, response_format, options, stream=True).parsed

        def events() -> Generator[StreamEvent, None, None]:
            source = audio
            with ExitStack() as stack:
                if not source.replayable:
                    source, copy = spool(source, self.max_spool_bytes)
                    stack.callback(copy.close)
                split = _probe_split(source, plan)
                yield from stream_long(open_stream, source, plan, split, joiner)

        return PiecewiseStream(events(), joiner)

    def _transcribe(
        self,
        file: FileInput,
        model: object,
        response_format: object,
        options: Mapping[str, Any],
        gate: RateGate | None = None,
        *,
        stream: bool = False,
    ) -> RawResponse[Any]:
        self._check_open(self._http.is_closed)
        call = self._prepare_call(model, response_format, options, stream)
        call.gate = gate
        audio = prepare_to_send(file)
        with ExitStack() as stack:
            if needs_spool(call, audio) or guards_need_copy(call, audio):
                with upload_cap(call):
                    audio, copy = spool(audio, spool_limit(call, self.max_spool_bytes))
                stack.callback(copy.close)
            audio = limit_upload(audio, call.max_upload_bytes)
            check_audio_seconds(audio, call.max_audio_seconds)
            flow = call_flow(call, audio)
            step = next(flow)
            while True:  # carry out the flow's steps; it decides, this only waits and sends
                outcome: Exchange | APIConnectionError | None = None
                if isinstance(step, Wait):
                    time.sleep(step.seconds)
                else:
                    try:
                        sent = self._send_once(call, audio)
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
                        outcome = map_transport_error(exc, call)
                try:
                    step = flow.send(outcome)
                except StopIteration as done:
                    return whole_answer(call, done.value, asynchronous=False)

    def _send_once(self, call: Call, audio: AudioFile) -> Exchange | OpenStream:
        events: set[str] = set()
        try:
            return self._exchange(call, audio, events)
        except httpx.RequestError as exc:
            if not (audio.replayable and resend_on_fresh_connection(exc, events)):
                raise
        logger.debug("POST %s: a stale keep-alive connection; sending again", call.shown_url)
        return self._exchange(call, audio, set())

    def _exchange(self, call: Call, audio: AudioFile, events: set[str]) -> Exchange | OpenStream:
        def trace(event: str, info: object) -> None:
            events.add(event)

        token = deadline.set(call.deadline_at())
        try:
            with audio.open() as reader:
                body = MultipartBody(call.params.fields, audio)
                request = self._http.build_request(
                    "POST",
                    call.url,
                    headers={**call.headers, **body.headers()},
                    content=body.iter_sync(reader),
                    timeout=call.timeout,
                    extensions={"trace": trace},
                )
                # A redirect would re-send a body that was streamed already: never follow one.
                response = self._http.send(
                    request, auth=self._auth, stream=True, follow_redirects=False
                )
                if opens_stream(call, response):
                    return OpenStream(response)  # read by the caller, event by event
                try:
                    sink = BodySink(call, response)
                    for chunk in response.iter_bytes():
                        if sink.add(chunk):
                            break
                    return sink.exchange()
                finally:
                    response.close()
        finally:
            deadline.reset(token)


class AsyncClient(BaseClient):
    """The :class:`Client` for ``async`` code: same arguments, same results, awaited.

    Files are read in worker threads and async sources are awaited, so the event loop never
    waits on a disk. Safe to share between tasks.

    Example::

        async with AsyncClient() as client:
            result = await client.transcribe("talk.wav", model="whisper-large-v3")
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: TimeoutTypes | None = None,
        max_retries: int = 2,
        default_headers: Mapping[str, str] | None = None,
        http_client: httpx.AsyncClient | None = None,
        retry_policy: RetryPolicy | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        max_spool_bytes: int = DEFAULT_MAX_SPOOL_BYTES,
    ) -> None:
        super().__init__(
            api_key=api_key,
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
            default_headers=default_headers,
            retry_policy=retry_policy,
            max_response_bytes=max_response_bytes,
            max_spool_bytes=max_spool_bytes,
        )
        self._accept_http_client(http_client, httpx.AsyncClient, timeout)
        self._owns_http = http_client is None
        self._http = http_client or httpx.AsyncClient(**self._own_http_settings())
        if http_client is None:
            guard_client(self._http)
        self.with_raw_response: _AsyncRawClient = _AsyncRawClient(self)
        """``client.with_raw_response.transcribe(...)``: the result with its HTTP response."""

    async def close(self) -> None:
        """Close the connections this client opened (not those of an ``http_client`` passed in)."""
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @overload
    async def transcribe(
        self,
        file: AsyncFileInput,
        *,
        model: str,
        response_format: Literal["json"] | None = None,
        stream: Literal[False] = False,
        **options: Unpack[TranscribeOptions],
    ) -> Transcription: ...
    @overload
    async def transcribe(
        self,
        file: AsyncFileInput,
        *,
        model: str,
        response_format: Literal["verbose_json"],
        stream: Literal[False] = False,
        **options: Unpack[TranscribeOptions],
    ) -> VerboseTranscription: ...
    @overload
    async def transcribe(
        self,
        file: AsyncFileInput,
        *,
        model: str,
        response_format: TextFormat,
        stream: Literal[False] = False,
        **options: Unpack[TranscribeOptions],
    ) -> str: ...
    @overload
    async def transcribe(
        self,
        file: AsyncFileInput,
        *,
        model: str,
        response_format: Literal["diarized_json"],
        stream: Literal[False] = False,
        **options: Unpack[TranscribeOptions],
    ) -> DiarizedTranscription: ...
    @overload
    async def transcribe(
        self,
        file: AsyncFileInput,
        *,
        model: str,
        response_format: str | None = None,
        stream: Literal[True],
        **options: Unpack[TranscribeOptions],
    ) -> AsyncTranscriptionStream: ...
    @overload
    async def transcribe(
        self,
        file: AsyncFileInput,
        *,
        model: str,
        response_format: str | None,
        stream: Literal[False] = False,
        **options: Unpack[TranscribeOptions],
    ) -> AnyResult: ...
    @overload
    async def transcribe(
        self,
        file: AsyncFileInput,
        *,
        model: str,
        response_format: str | None = None,
        stream: bool,
        **options: Unpack[TranscribeOptions],
    ) -> AnyResult | AsyncTranscriptionStream: ...
    async def transcribe(
        self,
        file: AsyncFileInput,
        *,
        model: str,
        response_format: str | None = None,
        stream: bool = False,
        **options: Unpack[TranscribeOptions],
    ) -> AnyResult | AsyncTranscriptionStream:
        """Transcribe ``file`` and return the result in the type ``response_format`` implies,
        as :meth:`Client.transcribe` does. ``file`` may also be an async byte iterator or an
        object with ``async def read`` (aiofiles, anyio).

        Arguments (``file`` positional, the rest keyword-only; a keyword left out or ``None``
        is not sent):

        - ``file``: a path, bytes, a binary file object, or ``(filename, content[,
          content_type])``.
        - ``model``: the model to ask for (``"whisper-large-v3"``).
        - ``response_format``: ``"json"`` (default), ``"verbose_json"``, ``"text"``, ``"srt"``,
          ``"vtt"`` or ``"diarized_json"``.
        - ``language``: language of the audio, ISO-639-1 (``"en"``, ``"fr"``); else detected.
        - ``prompt``: text to guide the model's style or vocabulary.
        - ``temperature``: sampling temperature, 0 to 1.
        - ``preference``: router: ``"speed"``, ``"cost"`` or ``"balanced"``.
        - ``allowed_providers``: router: only these providers may serve it.
        - ``eu_native``: router: only providers based and regulated in the EU.
        - ``allow_quantization``: router: ``False`` keeps quantized endpoints out.
        - ``allow_zero_data_retention``: router: only providers that keep no data.
        - ``enable_model_fallback``: router: allow another model when this one is unavailable.
        - ``timestamp_granularities``: ``"word"`` and/or ``"segment"`` (with ``verbose_json``).
        - ``extra_body``: more form fields for the server or provider.
        - ``extra_headers``: HTTP headers for this call only.
        - ``timeout``: this call's timeout, seconds or ``httpx.Timeout``; else the client's.
        - ``max_retries``: this call's retries; else the client's.
        - ``deadline``: the whole call's limit in seconds, retries and waits included.
        - ``silence_filter``: ``True`` or a :class:`SilenceFilter`: drop made-up segments on
          silence.
        - ``known_speaker_names``: diarizing: the names of up to four known speakers.
        - ``known_speaker_references``: a 2-10 s sample of each named speaker (a path, bytes
          or a ``data:`` URL).
        - ``chunking_strategy``: ``"auto"`` or ``{"type": "server_vad", ...}``.
        - ``include``: ``["logprobs"]`` for token log-probabilities.
        - ``max_upload_bytes``: refuse a larger file before sending it.
        - ``max_audio_seconds``: refuse longer audio before sending it.
        - ``enforce_allowed_providers``: raise when the provider is not in
          ``allowed_providers``.
        - ``stream``: ``True`` returns a stream of events as the server sends them.

        The same keywords are :class:`TranscribeOptions`. With ``stream=True``, an
        :class:`~transcribe_sdk.streaming.AsyncTranscriptionStream` for ``async with`` and
        ``async for``.
        """
        raw = await self._transcribe(file, model, response_format, options, stream=stream)
        result: AnyResult | AsyncTranscriptionStream = raw.parsed
        return result

    @overload
    async def transcribe_many(
        self,
        files: Iterable[AsyncFileInput],
        *,
        model: str,
        response_format: Literal["json"] | None = None,
        max_concurrency: int = 4,
        on_progress: ProgressCallback | None = None,
        **options: Unpack[TranscribeOptions],
    ) -> list[BatchResult[Transcription]]: ...
    @overload
    async def transcribe_many(
        self,
        files: Iterable[AsyncFileInput],
        *,
        model: str,
        response_format: Literal["verbose_json"],
        max_concurrency: int = 4,
        on_progress: ProgressCallback | None = None,
        **options: Unpack[TranscribeOptions],
    ) -> list[BatchResult[VerboseTranscription]]: ...
    @overload
    async def transcribe_many(
        self,
        files: Iterable[AsyncFileInput],
        *,
        model: str,
        response_format: TextFormat,
        max_concurrency: int = 4,
        on_progress: ProgressCallback | None = None,
        **options: Unpack[TranscribeOptions],
    ) -> list[BatchResult[str]]: ...
    @overload
    async def transcribe_many(
        self,
        files: Iterable[AsyncFileInput],
        *,
        model: str,
        response_format: Literal["diarized_json"],
        max_concurrency: int = 4,
        on_progress: ProgressCallback | None = None,
        **options: Unpack[TranscribeOptions],
    ) -> list[BatchResult[DiarizedTranscription]]: ...
    @overload
    async def transcribe_many(
        self,
        files: Iterable[AsyncFileInput],
        *,
        model: str,
        response_format: str | None,
        max_concurrency: int = 4,
        on_progress: ProgressCallback | None = None,
        **options: Unpack[TranscribeOptions],
    ) -> list[BatchResult[AnyResult]]: ...
    async def transcribe_many(
        self,
        files: Iterable[AsyncFileInput],
        *,
        model: str,
        response_format: str | None = None,
        max_concurrency: int = 4,
        on_progress: ProgressCallback | None = None,
        **options: Unpack[TranscribeOptions],
    ) -> list[BatchResult[Any]]:
        """Transcribe many inputs as tasks, at most ``max_concurrency`` at a time.

        Returns one :class:`BatchResult` per input, in input order; a file that fails holds
        its error and the others carry on. A 429 on any request pauses every worker.
        ``on_progress(done, total, item)`` is called in the event loop as each input finishes.

        Example::

            for item in await client.transcribe_many(paths, model="whisper-large-v3"):
                print(item.input, item.result.text if item.ok else item.error)
        """
        items, limit = self._check_many(files, model, response_format, options, max_concurrency)

        async def one(file: AsyncFileInput, gate: RateGate) -> Any:
            return (await self._transcribe(file, model, response_format, options, gate)).parsed

        return await arun_batch(items, one, max_concurrency=limit, on_progress=on_progress)

    @overload
    async def transcribe_long(
        self,
        file: AsyncFileInput,
        *,
        model: str,
        response_format: Literal["json"] | None = None,
        max_chunk_bytes: int = DEFAULT_MAX_CHUNK_BYTES,
        max_chunk_seconds: float | None = None,
        max_concurrency: int = 2,
        on_progress: PieceProgress | None = None,
        stream: Literal[False] = False,
        **options: Unpack[TranscribeOptions],
    ) -> Transcription: ...
    @overload
    async def transcribe_long(
        self,
        file: AsyncFileInput,
        *,
        model: str,
        response_format: Literal["verbose_json"],
        max_chunk_bytes: int = DEFAULT_MAX_CHUNK_BYTES,
        max_chunk_seconds: float | None = None,
        max_concurrency: int = 2,
        on_progress: PieceProgress | None = None,
        stream: Literal[False] = False,
        **options: Unpack[TranscribeOptions],
    ) -> VerboseTranscription: ...
    @overload
    async def transcribe_long(
        self,
        file: AsyncFileInput,
        *,
        model: str,
        response_format: TextFormat,
        max_chunk_bytes: int = DEFAULT_MAX_CHUNK_BYTES,
        max_chunk_seconds: float | None = None,
        max_concurrency: int = 2,
        on_progress: PieceProgress | None = None,
        stream: Literal[False] = False,
        **options: Unpack[TranscribeOptions],
    ) -> str: ...
    @overload
    async def transcribe_long(
        self,
        file: AsyncFileInput,
        *,
        model: str,
        response_format: Literal["diarized_json"],
        max_chunk_bytes: int = DEFAULT_MAX_CHUNK_BYTES,
        max_chunk_seconds: float | None = None,
        max_concurrency: int = 2,
        on_progress: PieceProgress | None = None,
        stream: Literal[False] = False,
        **options: Unpack[TranscribeOptions],
    ) -> Transcription: ...
    @overload
    async def transcribe_long(
        self,
        file: AsyncFileInput,
        *,
        model: str,
        response_format: str | None = None,
        max_chunk_bytes: int = DEFAULT_MAX_CHUNK_BYTES,
        max_chunk_seconds: float | None = None,
        max_concurrency: int = 2,
        on_progress: PieceProgress | None = None,
        stream: Literal[True],
        **options: Unpack[TranscribeOptions],
    ) -> AsyncPiecewiseStream: ...
    @overload
    async def transcribe_long(
        self,
        file: AsyncFileInput,
        *,
        model: str,
        response_format: str | None,
        max_chunk_bytes: int = DEFAULT_MAX_CHUNK_BYTES,
        max_chunk_seconds: float | None = None,
        max_concurrency: int = 2,
        on_progress: PieceProgress | None = None,
        stream: Literal[False] = False,
        **options: Unpack[TranscribeOptions],
    ) -> AnyResult: ...
    @overload
    async def transcribe_long(
        self,
        file: AsyncFileInput,
        *,
        model: str,
        response_format: str | None = None,
        max_chunk_bytes: int = DEFAULT_MAX_CHUNK_BYTES,
        max_chunk_seconds: float | None = None,
        max_concurrency: int = 2,
        on_progress: PieceProgress | None = None,
        stream: bool,
        **options: Unpack[TranscribeOptions],
    ) -> AnyResult | AsyncPiecewiseStream: ...
    async def transcribe_long(
        self,
        file: AsyncFileInput,
        *,
        model: str,
        response_format: str | None = None,
        max_chunk_bytes: int = DEFAULT_MAX_CHUNK_BYTES,
        max_chunk_seconds: float | None = None,
        max_concurrency: int = 2,
        on_progress: PieceProgress | None = None,
        stream: bool = False,
        **options: Unpack[TranscribeOptions],
    ) -> AnyResult | AsyncPiecewiseStream:
        """Transcribe audio of any length: split it when it is over ``max_chunk_bytes`` (or,
        when given, ``max_chunk_seconds``), send the pieces concurrently, and stitch them.

        Pieces end at the quietest moment near the limit and are sent as 16 kHz mono WAV; the
        result has the type a single :meth:`transcribe` call would return, with segment and
        word times measured from the start of the whole file. Needs the ``split`` extra
        (PyAV) when a split is needed. ``on_progress(pieces_done, seconds_done)`` reports.

        Example::

            result = await client.transcribe_long("meeting.mp3", model="whisper-large-v3",
                                            max_chunk_seconds=600)
        """
        plan, limit = self._check_long(
            model,
            response_format,
            options,
            max_chunk_bytes=max_chunk_bytes,
            max_chunk_seconds=max_chunk_seconds,
            max_concurrency=max_concurrency,
        )
        audio = await aprepare_file(file)
        if stream:
            self._prepare_call(model, response_format, options, stream)  # a stream's own rules
            return self._stream_long(audio, model, response_format, options, plan)
        async with AsyncExitStack() as stack:
            if not audio.replayable:
                audio, copy = await aspool(audio, self.max_spool_bytes)
                stack.callback(copy.close)
            split = await anyio.to_thread.run_sync(_probe_split, audio, plan)
            if not split:
                raw = await self._transcribe(audio, model, response_format, options)
                result: AnyResult = raw.parsed
                return result

            async def send(piece: AsyncFileInput, fmt: str, opts: Mapping[str, Any]) -> Any:
                return (await self._transcribe(piece, model, fmt, opts)).parsed

            stitched: AnyResult = await atranscribe_long(
                send, audio, plan, max_concurrency=limit, on_progress=on_progress
            )
            return stitched

    def _stream_long(
        self,
        audio: AudioFile,
        model: str,
        response_format: str | None,
        options: Mapping[str, Any],
        plan: SplitPlan,
    ) -> AsyncPiecewiseStream:
        from ._long_stream import AsyncPiecewiseStream, Joiner, astream_long

        joiner = Joiner()

        async def open_stream(piece: AsyncFileInput) -> Any:
            raw = await self._transcribe(piece, model, response_format, options, stream=True)
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
                    source, copy = await aspool(source, self.max_spool_bytes)
                    stack.callback(copy.close)
                split = await anyio.to_thread.run_sync(_probe_split, source, plan)
                async for event in astream_long(opened, source, plan, split, joiner):
                    yield event

        return AsyncPiecewiseStream(events(), joiner)

    async def _transcribe(
        self,
        file: AsyncFileInput,
        model: object,
        response_format: object,
        options: Mapping[str, Any],
        gate: RateGate | None = None,
        *,
        stream: bool = False,
    ) -> RawResponse[Any]:
        self._check_open(self._http.is_closed)
        call = self._prepare_call(model, response_format, options, stream)
        call.gate = gate
        audio = await aprepare_file(file)
        async with AsyncExitStack() as stack:
            if needs_spool(call, audio) or guards_need_copy(call, audio):
                with upload_cap(call):
                    audio, copy = await aspool(audio, spool_limit(call, self.max_spool_bytes))
                stack.callback(copy.close)
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
                        try:
                            sent = await self._send_once(call, audio)
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
                            outcome = map_transport_error(exc, call)
                    if scope.cancelled_caught:
                        outcome = call.deadline_error()
                try:
                    step = flow.send(outcome)
                except StopIteration as done:
                    return whole_answer(call, done.value, asynchronous=True)

    async def _send_once(self, call: Call, audio: AudioFile) -> Exchange | OpenStream:
        events: set[str] = set()
        try:
            return await self._exchange(call, audio, events)
        except httpx.RequestError as exc:
            if not (audio.replayable and resend_on_fresh_connection(exc, events)):
                raise
        logger.debug("POST %s: a stale keep-alive connection; sending again", call.shown_url)
        return await self._exchange(call, audio, set())

    async def _exchange(
        self, call: Call, audio: AudioFile, events: set[str]
    ) -> Exchange | OpenStream:
        async def trace(event: str, info: object) -> None:
            events.add(event)

        token = deadline.set(call.deadline_at())
        try:
            async with aopen(audio) as reader:
                body = MultipartBody(call.params.fields, audio)
                request = self._http.build_request(
                    "POST",
                    call.url,
                    headers={**call.headers, **body.headers()},
                    content=body.iter_async(reader),
                    timeout=call.timeout,
                    extensions={"trace": trace},
                )
                response = await self._http.send(
                    request, auth=self._auth, stream=True, follow_redirects=False
                )
                if opens_stream(call, response):
                    return OpenStream(response)  # read by the caller, event by event
                try:
                    sink = BodySink(call, response)
                    async for chunk in response.aiter_bytes():
                        if sink.add(chunk):
                            break
                    return sink.exchange()
                finally:
                    await response.aclose()
        finally:
            deadline.reset(token)


class _RawClient:
    """``client.with_raw_response.transcribe(...)``: the result and its ``httpx.Response``."""

    def __init__(self, client: Client) -> None:
        self._client = client

    @overload
    def transcribe(
        self,
        file: FileInput,
        *,
        model: str,
        response_format: Literal["json"] | None = None,
        **options: Unpack[TranscribeOptions],
    ) -> RawResponse[Transcription]: ...
    @overload
    def transcribe(
        self,
        file: FileInput,
        *,
        model: str,
        response_format: Literal["verbose_json"],
        **options: Unpack[TranscribeOptions],
    ) -> RawResponse[VerboseTranscription]: ...
    @overload
    def transcribe(
        self,
        file: FileInput,
        *,
        model: str,
        response_format: TextFormat,
        **options: Unpack[TranscribeOptions],
    ) -> RawResponse[str]: ...
    @overload
    def transcribe(
        self,
        file: FileInput,
        *,
        model: str,
        response_format: Literal["diarized_json"],
        **options: Unpack[TranscribeOptions],
    ) -> RawResponse[DiarizedTranscription]: ...
    @overload
    def transcribe(
        self,
        file: FileInput,
        *,
        model: str,
        response_format: str | None,
        **options: Unpack[TranscribeOptions],
    ) -> RawResponse[AnyResult]: ...
    def transcribe(
        self,
        file: FileInput,
        *,
        model: str,
        response_format: str | None = None,
        **options: Unpack[TranscribeOptions],
    ) -> RawResponse[Any]:
        """Like :meth:`Client.transcribe`, returning a :class:`RawResponse`."""
        return self._client._transcribe(file, model, response_format, options)


class _AsyncRawClient:
    """``client.with_raw_response.transcribe(...)`` for :class:`AsyncClient`."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    @overload
    async def transcribe(
        self,
        file: AsyncFileInput,
        *,
        model: str,
        response_format: Literal["json"] | None = None,
        **options: Unpack[TranscribeOptions],
    ) -> RawResponse[Transcription]: ...
    @overload
    async def transcribe(
        self,
        file: AsyncFileInput,
        *,
        model: str,
        response_format: Literal["verbose_json"],
        **options: Unpack[TranscribeOptions],
    ) -> RawResponse[VerboseTranscription]: ...
    @overload
    async def transcribe(
        self,
        file: AsyncFileInput,
        *,
        model: str,
        response_format: TextFormat,
        **options: Unpack[TranscribeOptions],
    ) -> RawResponse[str]: ...
    @overload
    async def transcribe(
        self,
        file: AsyncFileInput,
        *,
        model: str,
        response_format: Literal["diarized_json"],
        **options: Unpack[TranscribeOptions],
    ) -> RawResponse[DiarizedTranscription]: ...
    @overload
    async def transcribe(
        self,
        file: AsyncFileInput,
        *,
        model: str,
        response_format: str | None,
        **options: Unpack[TranscribeOptions],
    ) -> RawResponse[AnyResult]: ...
    async def transcribe(
        self,
        file: AsyncFileInput,
        *,
        model: str,
        response_format: str | None = None,
        **options: Unpack[TranscribeOptions],
    ) -> RawResponse[Any]:
        """Like :meth:`AsyncClient.transcribe`, returning a :class:`RawResponse`."""
        return await self._client._transcribe(file, model, response_format, options)
