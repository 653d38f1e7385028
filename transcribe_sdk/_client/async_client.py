"""The async client: :class:`AsyncClient`, its arguments, its typed overloads and their docs.

What it does with a call is in :class:`~transcribe_sdk._client.shells.AsyncShell` (the sending,
reading and sleeping, awaited) and :mod:`transcribe_sdk._client.base` (everything else, shared with
:class:`~transcribe_sdk.Client`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal, overload

import httpx
from typing_extensions import Self, Unpack

from .._audio.long import DEFAULT_MAX_CHUNK_BYTES, PieceProgress
from .batch import BatchResult, ProgressCallback, RateGate, arun_batch
from .long_shells import long_async
from .options import (
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_MAX_SPOOL_BYTES,
    TimeoutTypes,
    TranscribeOptions,
)
from .raw import AsyncRawClient
from .shells import AsyncShell, own_http_settings

if TYPE_CHECKING:
    from .._http.retry import RetryPolicy
    from .._inputs.async_files import AsyncFileInput
    from ..models import DiarizedTranscription, Transcription, VerboseTranscription
    from ..streaming import AsyncPiecewiseStream, AsyncTranscriptionStream
    from .params import TextFormat
    from .response import AnyResult

__all__ = ["AsyncClient"]


class AsyncClient(AsyncShell):
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
        self._http = http_client or httpx.AsyncClient(**own_http_settings(self, asynchronous=True))
        self.with_raw_response: AsyncRawClient = AsyncRawClient(self)
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
            return await self._transcribe(file, model, response_format, options, gate, warn=False)

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
    ) -> DiarizedTranscription: ...
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
        return await long_async(
            self,
            file,
            model,
            response_format,
            options,
            max_chunk_bytes=max_chunk_bytes,
            max_chunk_seconds=max_chunk_seconds,
            max_concurrency=max_concurrency,
            on_progress=on_progress,
            stream=stream,
        )
