"""Checks for diarization and chunking parameters, before anything is sent.

``known_speaker_references`` are short recordings of each known speaker: paths, bytes, or
``data:`` URLs. OpenAI takes them as data URLs of 2 to 10 seconds of audio, at most four, one per
name in ``known_speaker_names``. Each is read here (at most :data:`MAX_REFERENCE_BYTES`), its
length checked from its header (the WAV header, or PyAV's probe for other formats), and sent
as a data URL.
"""

from __future__ import annotations

import base64
import binascii
import io
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any, Literal, TypeAlias

from typing_extensions import TypedDict

from .._formats import content_type_for, sniff_extension
from ..errors import InvalidInputError
from ..errors import type_name as _type_name

MAX_SPEAKERS = 4
MIN_REFERENCE_SECONDS = 2.0
MAX_REFERENCE_SECONDS = 10.0
MAX_REFERENCE_BYTES = 16 * 1024 * 1024
"""The most read of one reference: ten seconds of any sane audio is far less."""

Include = Literal["logprobs"]
INCLUDES: tuple[str, ...] = ("logprobs",)


class ServerVad(TypedDict, total=False):
    """``chunking_strategy`` for the server's voice activity detection, with its settings."""

    type: Literal["server_vad"]
    prefix_padding_ms: int
    silence_duration_ms: int
    threshold: float


ChunkingStrategy: TypeAlias = Literal["auto"] | ServerVad
"""``"auto"`` (the server normalises loudness and cuts at pauses) or a :class:`ServerVad`."""

SpeakerReference: TypeAlias = str | bytes | os.PathLike[str]
"""A known speaker's sample: a path, the file's bytes, or a ``data:audio/...;base64,`` URL."""

_VAD_KEYS = {"type": str, "prefix_padding_ms": int, "silence_duration_ms": int, "threshold": float}


def check_chunking(value: object) -> str | dict[str, Any]:
    """``chunking_strategy``: ``"auto"`` or a ``server_vad`` mapping with known keys."""
    if value == "auto":
        return "auto"
    if not isinstance(value, Mapping):
        raise InvalidInputError(
            "chunking_strategy",
            f"must be 'auto' or {{'type': 'server_vad', ...}}, not {value!r}"[:200],
        )
    if value.get("type") != "server_vad":
        raise InvalidInputError("chunking_strategy", "a mapping must have type 'server_vad'")
    checked: dict[str, Any] = {}
    for key, item in value.items():
        kind = _VAD_KEYS.get(key)
        if kind is None:
            raise InvalidInputError(
                "chunking_strategy", f"unknown key {key!r}; known: {', '.join(sorted(_VAD_KEYS))}"
            )
        if kind is not str:
            if isinstance(item, bool) or not isinstance(item, (int, float)):
                raise InvalidInputError("chunking_strategy", f"{key} must be a number")
            if not math.isfinite(item) or item < 0 or (key == "threshold" and item > 1):
                raise InvalidInputError(
                    "chunking_strategy",
                    f"{key} must be {'between 0 and 1' if key == 'threshold' else '0 or more'}",
                )
            if kind is int and not float(item).is_integer():
                raise InvalidInputError("chunking_strategy", f"{key} must be whole milliseconds")
            checked[key] = int(item) if kind is int else item
            continue
        checked[key] = item
    return checked


def check_include(value: object) -> list[str]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, Sequence) or not items:
        raise InvalidInputError("include", "must be a list such as ['logprobs']")
    for item in items:
        if item not in INCLUDES:
            raise InvalidInputError("include", f"{item!r} is not one of {', '.join(INCLUDES)}")
    return list(items)


def check_speakers(names: object, references: object) -> tuple[list[str], list[str]]:
    """``known_speaker_names`` and ``known_speaker_references`` as the names and data URLs to
    send; raises :class:`InvalidInputError` naming the first problem."""
    if names is None or references is None:
        given = "known_speaker_names" if references is None else "known_speaker_references"
        other = "known_speaker_references" if references is None else "known_speaker_names"
        raise InvalidInputError(given, f"needs {other}: one sample per name, in the same order")
    if isinstance(names, str) or not isinstance(names, Sequence):
        raise InvalidInputError("known_speaker_names", "must be a list of names")
    if isinstance(references, (str, bytes)) or not isinstance(references, Sequence):
        raise InvalidInputError("known_speaker_references", "must be a list of samples")
    if not 1 <= len(names) <= MAX_SPEAKERS:
        raise InvalidInputError(
            "known_speaker_names", f"must name 1 to {MAX_SPEAKERS} speakers, not {len(names)}"
        )
    if len(references) != len(names):
        raise InvalidInputError(
            "known_speaker_references",
            f"must hold one sample per name: {len(names)} names, {len(references)} samples",
        )
    for name in names:
        if not isinstance(name, str) or not name.strip():
            raise InvalidInputError("known_speaker_names", f"each name must be a str, not {name!r}")
    if len(set(names)) != len(names):
        raise InvalidInputError("known_speaker_names", "names must differ")
    urls = [_data_url(ref, i) for i, ref in enumerate(references)]
    return list(names), urls


def _data_url(reference: object, index: int) -> str:
    param = f"known_speaker_references[{index}]"
    if isinstance(reference, str) and reference.startswith("data:"):
        data, content_type = _parse_data_url(reference, param)
    elif isinstance(reference, (bytes, bytearray, memoryview)):
        data, content_type = bytes(reference), None
    elif isinstance(reference, (str, os.PathLike)):
        data, content_type = _read_reference(os.fspath(reference), param), None
        content_type = content_type_for(os.fspath(reference))
    else:
        raise InvalidInputError(
            param, f"must be a path, bytes or a data: URL, not {_type_name(reference)}"
        )
    if len(data) > MAX_REFERENCE_BYTES:
        raise InvalidInputError(param, f"is over {MAX_REFERENCE_BYTES // (1024 * 1024)} MiB")
    extension = sniff_extension(data[:64])
    if content_type is None:
        content_type = content_type_for(f"x.{extension}") if extension else None
    if content_type is None:
        raise InvalidInputError(param, "is not audio in a format the API reads (WAV, MP3, ...)")
    seconds = _seconds(data)
    if seconds is None:
        raise InvalidInputError(param, "its length could not be read from the audio")
    if not MIN_REFERENCE_SECONDS <= seconds <= MAX_REFERENCE_SECONDS:
        raise InvalidInputError(
            param,
            f"is {seconds:.1f} s long; a speaker sample must be {MIN_REFERENCE_SECONDS:g} to "
            f"{MAX_REFERENCE_SECONDS:g} s",
        )
    return f"data:{content_type};base64,{base64.b64encode(data).decode('ascii')}"


def _parse_data_url(url: str, param: str) -> tuple[bytes, str | None]:
    head, comma, body = url.partition(",")
    if not comma or not head.endswith(";base64"):
        raise InvalidInputError(param, "a data: URL must be base64 (data:audio/wav;base64,...)")
    if len(body) > MAX_REFERENCE_BYTES * 4 // 3 + 4:
        raise InvalidInputError(param, f"is over {MAX_REFERENCE_BYTES // (1024 * 1024)} MiB")
    try:
        data = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInputError(param, "its base64 data is not valid") from None
    content_type = head[len("data:") : -len(";base64")] or None
    return data, content_type


def _read_reference(path: str, param: str) -> bytes:
    try:
        with open(path, "rb") as file:
            data = file.read(MAX_REFERENCE_BYTES + 1)
    except OSError as exc:
        raise InvalidInputError(param, f"cannot be read: {exc.strerror or exc}") from None
    return data


def _seconds(data: bytes) -> float | None:
    from .._audio.decode import probe_seconds, wav_seconds

    seconds = wav_seconds(data)
    return seconds if seconds is not None else probe_seconds(io.BytesIO(data))
