"""The two shells: :class:`Client` (blocking) and :class:`AsyncClient` (asyncio or trio).

All decisions live in :mod:`transcribe_sdk._base`; each shell only opens the file for an attempt,
sends the request, reads the answer (an error body with a size cap), and sleeps between retries.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from contextlib import AsyncExitStack, ExitStack
from typing import TYPE_CHECKING, Any, Literal, TypeAlias, overload

import anyio
import httpx
from typing_extensions import Self, Unpack

from ._async_files import AsyncFileInput, aopen, aprepare_file, aspool
from ._base import (
    ERROR_BODY_LIMIT,
    BaseClient,
    Call,
    Exchange,
    TimeoutTypes,
    TranscribeOptions,
    Wait,
    call_flow,
    map_transport_error,
    needs_spool,
)
from ._batch import (
    BatchResult,
    ProgressCallback,
    RateGate,
    arun_batch,
    run_batch,
)
from ._long import (
    DEFAULT_MAX_CHUNK_BYTES,
    PieceProgress,
    SplitPlan,
    atranscribe_long,
    needs_split,
    transcribe_long,
)
from ._multipart import MultipartBody
from ._response import RawResponse
from ._retry import RetryPolicy
from .errors import APIConnectionError, InvalidFileError
from .files import AudioFile, FileInput, prepare_file, prepare_to_send, spool

if TYPE_CHECKING:
    from .models import Transcription, VerboseTranscription

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
    ) -> None:
        super().__init__(
            api_key=api_key,
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
            default_headers=default_headers,
            retry_policy=retry_policy,
        )
        self._accept_http_client(http_client, httpx.Client, timeout)
        self._owns_http = http_client is None
        self._http = http_client or httpx.Client(**self._own_http_settings())
        self.with_raw_response = _RawClient(self)

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
        **options: Unpack[TranscribeOptions],
    ) -> Transcription: ...
    @overload
    def transcribe(
        self,
        file: FileInput,
        *,
        model: str,
        response_format: Literal["verbose_json"],
        **options: Unpack[TranscribeOptions],
    ) -> VerboseTranscription: ...
    @overload
    def transcribe(
        self,
        file: FileInput,
        *,
        model: str,
        response_format: TextFormat,
        **options: Unpack[TranscribeOptions],
    ) -> str: ...
    @overload
    def transcribe(
        self,
        file: FileInput,
        *,
        model: str,
        response_format: str | None,
        **options: Unpack[TranscribeOptions],
    ) -> AnyResult: ...
    def transcribe(
        self,
        file: FileInput,
        *,
        model: str,
        response_format: str | None = None,
        **options: Unpack[TranscribeOptions],
    ) -> AnyResult:
        """Transcribe ``file`` and return the result in the type ``response_format`` implies.

        ``json`` (the default) gives a :class:`Transcription`, ``verbose_json`` a
        :class:`VerboseTranscription`, and ``text``/``srt``/``vtt`` the body as a ``str``.
        Parameters left as ``None`` are not sent. See :class:`TranscribeOptions` for the
        keyword arguments; ``extra_body`` sends provider-specific fields.
        """
        result: AnyResult = self._transcribe(file, model, response_format, options).parsed
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
        **options: Unpack[TranscribeOptions],
    ) -> str: ...
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
        **options: Unpack[TranscribeOptions],
    ) -> AnyResult: ...
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
        **options: Unpack[TranscribeOptions],
    ) -> AnyResult:
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
        with ExitStack() as stack:
            if not audio.replayable:
                audio, copy = spool(audio)
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

    def _transcribe(
        self,
        file: FileInput,
        model: object,
        response_format: object,
        options: Mapping[str, Any],
        gate: RateGate | None = None,
    ) -> RawResponse[Any]:
        self._check_open(self._http.is_closed)
        call = self._prepare_call(model, response_format, options)
        call.gate = gate
        audio = prepare_to_send(file)
        with ExitStack() as stack:
            if needs_spool(call, audio):
                audio, copy = spool(audio)
                stack.callback(copy.close)
            flow = call_flow(call, audio)
            step = next(flow)
            while True:  # carry out the flow's steps; it decides, this only waits and sends
                outcome: Exchange | APIConnectionError | None = None
                if isinstance(step, Wait):
                    time.sleep(step.seconds)
                else:
                    try:
                        outcome = self._send_once(call, audio)
                    except OSError as exc:  # the file, not the network: httpx maps its own
                        raise InvalidFileError(f"reading the file failed: {exc}") from exc
                    except httpx.RequestError as exc:  # transport failures, undecodable bodies
                        outcome = map_transport_error(exc, call)
                try:
                    step = flow.send(outcome)
                except StopIteration as done:
                    result: RawResponse[Any] = done.value
                    return result

    def _send_once(self, call: Call, audio: AudioFile) -> Exchange:
        with audio.open() as reader:
            body = MultipartBody(call.params.fields, audio)
            request = self._http.build_request(
                "POST",
                call.url,
                headers={**call.headers, **body.headers()},
                content=body.iter_sync(reader),
                timeout=call.timeout,
            )
            # A redirect would re-send a body that was streamed already: never follow one.
            response = self._http.send(
                request, auth=self._auth, stream=True, follow_redirects=False
            )
            try:
                if response.is_success:
                    return Exchange(response, response.read())
                content = b""
                for chunk in response.iter_bytes():
                    content += chunk
                    if len(content) > ERROR_BODY_LIMIT:
                        return Exchange(response, content[:ERROR_BODY_LIMIT], truncated=True)
                return Exchange(response, content)
            finally:
                response.close()


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
    ) -> None:
        super().__init__(
            api_key=api_key,
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
            default_headers=default_headers,
            retry_policy=retry_policy,
        )
        self._accept_http_client(http_client, httpx.AsyncClient, timeout)
        self._owns_http = http_client is None
        self._http = http_client or httpx.AsyncClient(**self._own_http_settings())
        self.with_raw_response = _AsyncRawClient(self)

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
        **options: Unpack[TranscribeOptions],
    ) -> Transcription: ...
    @overload
    async def transcribe(
        self,
        file: AsyncFileInput,
        *,
        model: str,
        response_format: Literal["verbose_json"],
        **options: Unpack[TranscribeOptions],
    ) -> VerboseTranscription: ...
    @overload
    async def transcribe(
        self,
        file: AsyncFileInput,
        *,
        model: str,
        response_format: TextFormat,
        **options: Unpack[TranscribeOptions],
    ) -> str: ...
    @overload
    async def transcribe(
        self,
        file: AsyncFileInput,
        *,
        model: str,
        response_format: str | None,
        **options: Unpack[TranscribeOptions],
    ) -> AnyResult: ...
    async def transcribe(
        self,
        file: AsyncFileInput,
        *,
        model: str,
        response_format: str | None = None,
        **options: Unpack[TranscribeOptions],
    ) -> AnyResult:
        """Transcribe ``file``; see :meth:`Client.transcribe`. Also takes async byte iterators
        and objects with ``async def read`` (aiofiles, anyio)."""
        result: AnyResult = (await self._transcribe(file, model, response_format, options)).parsed
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
        **options: Unpack[TranscribeOptions],
    ) -> str: ...
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
        **options: Unpack[TranscribeOptions],
    ) -> AnyResult: ...
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
        **options: Unpack[TranscribeOptions],
    ) -> AnyResult:
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
        async with AsyncExitStack() as stack:
            if not audio.replayable:
                audio, copy = await aspool(audio)
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

    async def _transcribe(
        self,
        file: AsyncFileInput,
        model: object,
        response_format: object,
        options: Mapping[str, Any],
        gate: RateGate | None = None,
    ) -> RawResponse[Any]:
        self._check_open(self._http.is_closed)
        call = self._prepare_call(model, response_format, options)
        call.gate = gate
        audio = await aprepare_file(file)
        async with AsyncExitStack() as stack:
            if needs_spool(call, audio):
                audio, copy = await aspool(audio)
                stack.callback(copy.close)
            flow = call_flow(call, audio)
            step = next(flow)
            while True:  # carry out the flow's steps; it decides, this only waits and sends
                outcome: Exchange | APIConnectionError | None = None
                if isinstance(step, Wait):
                    await anyio.sleep(step.seconds)
                else:
                    try:
                        outcome = await self._send_once(call, audio)
                    except OSError as exc:  # the file, not the network: httpx maps its own
                        raise InvalidFileError(f"reading the file failed: {exc}") from exc
                    except httpx.RequestError as exc:  # transport failures, undecodable bodies
                        outcome = map_transport_error(exc, call)
                try:
                    step = flow.send(outcome)
                except StopIteration as done:
                    result: RawResponse[Any] = done.value
                    return result

    async def _send_once(self, call: Call, audio: AudioFile) -> Exchange:
        async with aopen(audio) as reader:
            body = MultipartBody(call.params.fields, audio)
            request = self._http.build_request(
                "POST",
                call.url,
                headers={**call.headers, **body.headers()},
                content=body.iter_async(reader),
                timeout=call.timeout,
            )
            response = await self._http.send(
                request, auth=self._auth, stream=True, follow_redirects=False
            )
            try:
                if response.is_success:
                    return Exchange(response, await response.aread())
                content = b""
                async for chunk in response.aiter_bytes():
                    content += chunk
                    if len(content) > ERROR_BODY_LIMIT:
                        return Exchange(response, content[:ERROR_BODY_LIMIT], truncated=True)
                return Exchange(response, content)
            finally:
                await response.aclose()


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
