"""Limits a caller sets on a call, checked before any byte is sent, and the provider check.

- ``max_upload_bytes``: a file whose size is known (a path, bytes, a seekable file, a copied
  stream) and is larger is refused with :class:`UploadTooLargeError`; a stream of unknown size
  is cut off at the limit while it is read (the same error: a refusal of the client's, not a
  server's answer).
- ``max_audio_seconds``: the audio's length from its container (the WAV header, or PyAV's probe
  of any other format); when the container does not say, the audio is decoded and counted
  (stopping at the limit). Longer audio is refused with :class:`AudioTooLongError`. A length
  that cannot be known at all is an error too, since the limit could not be kept.
- ``enforce_allowed_providers``: the answer's ``provider`` must be one of ``allowed_providers``,
  or :class:`ProviderNotAllowedError` is raised with the result on it.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import replace
from typing import IO, TYPE_CHECKING, Any, cast

from ..errors import (
    FileTooLargeError,
    InvalidFileError,
    InvalidInputError,
    SpoolLimitError,
    UnexpectedResponseError,
)

if TYPE_CHECKING:
    from ..files import AudioFile
    from .call import Call

__all__ = [
    "AudioTooLongError",
    "ProviderNotAllowedError",
    "UploadTooLargeError",
    "check_audio_seconds",
    "check_limit_options",
    "check_provider",
    "limit_upload",
]


class UploadTooLargeError(InvalidFileError):
    """The file is larger than the call's ``max_upload_bytes``: refused by the client, not
    answered by a server (a server's own 413 is a :class:`~transcribe_sdk.FileTooLargeError`).

    A file whose size is known is refused before any byte is sent. A stream of unknown size is
    stopped when it passes the limit: when it is copied whole first (``max_audio_seconds``),
    before anything is sent; when it is sent as it is read (copied as it goes when retries are
    on), its request is cut off there and never completes. ``size`` is the file's size in
    bytes (or how much was read when its size was not known), ``limit`` the limit. ``param``
    is ``"file"``.
    """

    def __init__(self, size: int, limit: int, *, known: bool = True) -> None:
        if known:
            what = f"is {size:,} bytes ({size / 2**20:.1f} MiB)"
            done = "nothing was sent"
        else:
            what = f"is a stream of more than {limit:,} bytes"
            done = "it was stopped there and no request was completed"
        super().__init__(
            f"{what}, over max_upload_bytes={limit:,} ({limit / 2**20:.1f} MiB); "
            f"{done}. {FileTooLargeError.hint}"
        )
        self.size = size
        self.limit = limit


class AudioTooLongError(InvalidFileError):
    """The audio is longer than the call's ``max_audio_seconds`` (or its length could not be
    read while a limit was asked for); nothing was sent. ``seconds`` is the length found
    (``None`` when it could not be read), ``limit`` the limit."""

    def __init__(self, message: str, *, seconds: float | None, limit: float) -> None:
        super().__init__(message)
        self.seconds = seconds
        self.limit = limit


class ProviderNotAllowedError(UnexpectedResponseError):
    """``enforce_allowed_providers=True`` and the answer's ``provider`` is not one of the
    ``allowed_providers`` the request named. ``result`` is the transcription all the same;
    ``provider`` and ``allowed`` say what happened, ``request_id`` which request it was."""

    result: Any
    provider: str | None
    allowed: tuple[str, ...]


def _positive(value: object, name: str, *, integer: bool) -> None:
    kinds: tuple[type, ...] = (int,) if integer else (int, float)
    if (
        isinstance(value, bool)
        or not isinstance(value, kinds)
        or not math.isfinite(value)  # type: ignore[arg-type]
        or value <= 0  # type: ignore[operator]
    ):
        kind = "an int" if integer else "a number"
        raise InvalidInputError(name, f"must be {kind} more than 0, not {value!r}")


def check_limit_options(
    max_upload_bytes: object, max_audio_seconds: object, enforce: object, allowed: object
) -> None:
    """The options' own values, checked with the rest of a call's arguments."""
    # (allowed_providers itself is checked with the request's fields)
    if max_upload_bytes is not None:
        _positive(max_upload_bytes, "max_upload_bytes", integer=True)
    if max_audio_seconds is not None:
        _positive(max_audio_seconds, "max_audio_seconds", integer=False)
    if enforce is not None and not isinstance(enforce, bool):
        raise InvalidInputError(
            "enforce_allowed_providers", f"must be True or False, not {enforce!r}"
        )
    if enforce and allowed is None:
        raise InvalidInputError(
            "enforce_allowed_providers", "needs allowed_providers: the providers to allow"
        )


class _CappedReader:
    def __init__(self, reader: Any, limit: int) -> None:
        self._reader = reader
        self._limit = limit
        self._read = 0

    def read(self, size: int = -1, /) -> bytes:
        data: bytes = self._reader.read(size)
        self._read += len(data)
        if self._read > self._limit:
            raise UploadTooLargeError(self._read, self._limit, known=False)
        return data


class _AsyncCappedReader(_CappedReader):
    async def read(self, size: int = -1, /) -> bytes:  # type: ignore[override]
        data: bytes = await self._reader.read(size)
        self._read += len(data)
        if self._read > self._limit:
            raise UploadTooLargeError(self._read, self._limit, known=False)
        return data


def limit_upload(audio: AudioFile, limit: int | None) -> AudioFile:
    """``audio`` if it is within ``limit``; raise when its known size is over it; for an
    unknown size, an :class:`AudioFile` whose reader stops at the limit."""
    if limit is None:
        return audio
    if audio.size is not None:
        if audio.size > limit:
            raise UploadTooLargeError(audio.size, limit)
        return audio
    inner, ainner = audio._opener, audio._aopener

    @contextmanager
    def capped() -> Iterator[Any]:
        with inner() as reader:
            yield _CappedReader(reader, limit)

    @asynccontextmanager
    async def acapped() -> AsyncIterator[Any]:
        async with ainner() as reader:
            yield _AsyncCappedReader(reader, limit)

    return replace(
        audio,
        _opener=None if inner is None else capped,
        _aopener=None if ainner is None else acapped,
    )


def check_audio_seconds(audio: AudioFile, limit: float | None) -> None:
    """Raise :class:`AudioTooLongError` unless ``audio`` is known to last at most ``limit``.
    ``audio`` must be replayable (a one-shot stream is copied first)."""
    if limit is None:
        return
    from .._audio.decode import probe_seconds, wav_seconds

    with audio.open() as reader:
        head = reader.read(64 * 1024)
    seconds = wav_seconds(head)
    if seconds is None:
        with audio.open() as reader:
            seconds = probe_seconds(cast("IO[bytes]", reader), count_up_to=limit)
    if seconds is None:
        raise AudioTooLongError(
            f"max_audio_seconds={limit:g} was asked for but the length of {audio.filename!r} "
            f"could not be read ({_why_unreadable()}); nothing was sent",
            seconds=None,
            limit=limit,
        )
    if seconds > limit:
        raise AudioTooLongError(
            f"{audio.filename!r} is {seconds:.1f} s long, over max_audio_seconds={limit:g}; "
            "nothing was sent (transcribe_long splits long audio)",
            seconds=seconds,
            limit=limit,
        )


def check_provider(result: Any, allowed: Sequence[str] | None, request_id: str | None) -> None:
    """Raise :class:`ProviderNotAllowedError` when ``result`` names a provider outside
    ``allowed`` (or names none)."""
    if allowed is None:
        return
    provider = getattr(result, "provider", None)
    if provider is not None and provider in allowed:
        return
    said = f"was served by {provider!r}" if provider else "does not say which provider served it"
    error = ProviderNotAllowedError(
        f"The answer {said}, which is not in allowed_providers={list(allowed)!r}"
        + (f" (request id: {request_id})" if request_id else "")
        + ". The transcription is on this error as .result.",
        status_code=200,
        request_id=request_id,
        body=None,
    )
    error.result = result
    error.provider = provider
    error.allowed = tuple(allowed)
    raise error


def guards_need_copy(call: Call, audio: AudioFile) -> bool:
    """Whether ``audio`` must be copied before the call's limits can be checked: a length can
    only be read from a file that can be read twice, and an async-only source has no reader
    the checks can use."""
    if call.max_audio_seconds is not None and not audio.replayable:
        return True
    limited = call.max_upload_bytes is not None or call.max_audio_seconds is not None
    return audio._opener is None and limited


def spool_limit(call: Call, max_spool_bytes: int) -> int:
    """How much of a stream to copy: never more than the upload may be."""
    if call.max_upload_bytes is None:
        return max_spool_bytes
    return min(max_spool_bytes, call.max_upload_bytes)


@contextmanager
def upload_cap(call: Call) -> Iterator[None]:
    """Report a copy stopped at ``max_upload_bytes`` as the upload limit it is."""
    try:
        yield
    except SpoolLimitError as exc:
        limit = call.max_upload_bytes
        if limit is None or exc.limit != limit:
            raise
        raise UploadTooLargeError(limit + 1, limit, known=False) from None


def _why_unreadable() -> str:
    import importlib.util

    if importlib.util.find_spec("av") is None:
        return (
            "install PyAV to read formats other than WAV: pip install av numpy (or, in a "
            "clone of transcribe-sdk, pip install -e '.[split]')"
        )
    return "PyAV cannot read it as audio"
