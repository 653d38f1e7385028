"""The blocking client: :class:`Client`, its arguments, its typed overloads and their docs.

What it does with a call is in :class:`~transcribe_sdk._client.shells.SyncShell` (the sending,
reading and sleeping) and :mod:`transcribe_sdk._client.base` (everything else);
:class:`~transcribe_sdk.AsyncClient` is in :mod:`transcribe_sdk._client.async_client`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal, overload

import httpx
from typing_extensions import Self, Unpack

from .._audio.long import DEFAULT_MAX_CHUNK_BYTES, PieceProgress
from .batch import BatchResult, ProgressCallback, RateGate, run_batch
from .long_shells import long_sync
from .options import (
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_MAX_SPOOL_BYTES,
    TimeoutTypes,
    TranscribeOptions,
)
from .raw import RawClient
from .shells import SyncShell, own_http_settings

if TYPE_CHECKING:
    from .._http.retry import RetryPolicy
    from ..files import FileInput
    from ..models import DiarizedTranscription, Transcription, VerboseTranscription
    from ..streaming import PiecewiseStream, TranscriptionStream
    from .params import TextFormat
    from .response import AnyResult

__all__ = ["Client"]


class Client(SyncShell):
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
        self._http = http_client or httpx.Client(**own_http_settings(self, asynchronous=False))
        self.with_raw_response: RawClient = RawClient(self)
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
            return self._transcribe(file, model, response_format, options, gate, warn=False)

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
    ) -> DiarizedTranscription: ...
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
        return long_sync(
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
