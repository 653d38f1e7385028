"""``client.with_raw_response``: the same calls, returning a :class:`RawResponse` that holds the
parsed result with its ``httpx.Response``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, overload

from typing_extensions import Unpack

if TYPE_CHECKING:
    from .._inputs.async_files import AsyncFileInput
    from ..files import FileInput
    from ..models import DiarizedTranscription, Transcription, VerboseTranscription
    from .options import TranscribeOptions
    from .params import TextFormat
    from .response import AnyResult, RawResponse
    from .shells import AsyncShell, SyncShell

__all__ = ["AsyncRawClient", "RawClient"]


class RawClient:
    """``client.with_raw_response.transcribe(...)``: the result and its ``httpx.Response``."""

    def __init__(self, client: SyncShell) -> None:
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


class AsyncRawClient:
    """``client.with_raw_response.transcribe(...)`` for :class:`AsyncClient`."""

    def __init__(self, client: AsyncShell) -> None:
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
