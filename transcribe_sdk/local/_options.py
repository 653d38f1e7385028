"""What a transcription request asks of the model (:class:`Options`), read and checked from its
form fields by :func:`parse_options`; the VAD settings an engine or a request may change."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .._formats import SUBTITLE_FORMATS
from .._languages import ISO_639_1

if TYPE_CHECKING:
    from ._forms import Form

VAD_PARAMETERS: dict[str, type] = {
    "threshold": float,
    "neg_threshold": float,
    "min_speech_duration_ms": int,
    "max_speech_duration_s": float,
    "min_silence_duration_ms": int,
    "speech_pad_ms": int,
}
"""The Silero VAD settings a request (``extra_body={"vad_parameters": {...}}``) or an engine
may change, with their types; faster-whisper's ``VadOptions`` documents each."""


@dataclass(frozen=True)
class Options:
    """What a request asks of the model."""

    language: str | None = None
    prompt: str | None = None
    temperature: float | None = None
    word_timestamps: bool = False
    vad_filter: bool | None = None
    """Gate on voice activity; ``None``: the engine's setting."""
    vad_parameters: Mapping[str, float] = field(default_factory=dict)
    """Silero VAD settings for this request, over the engine's (see :data:`VAD_PARAMETERS`)."""
    phrase_times: bool = False
    """Each segment must be a phrase with its own times (subtitles, or segment timestamps
    asked for): decoded sequentially, as batched decoding gives a segment per window of up to
    30 s of speech."""
    streamed: bool = False
    """The segments are sent on as they come (``stream=true``): batched decoding decodes the
    first window alone, so the first one comes as soon as sequentially. Otherwise the first
    window joins the first batch: fewer, fuller calls of the model (eight 63 s requests through
    two threads answered 1.09x to 1.16x the audio per second, docs/performance.md)."""


MAX_CPU_THREADS = 1024
"""The most threads a worker may be given: past it a typo, not a machine (each is a thread of
CTranslate2's pool, started as the model loads)."""


def check_cpu_threads(cpu_threads: object) -> int:
    """``cpu_threads`` as CTranslate2 takes it (its ``intra_threads``): the threads each model
    worker decodes with, ``0`` for CTranslate2's own default (its docs say 4; on a 2-core
    machine a worker got 2) or ``OMP_NUM_THREADS``. At most :data:`MAX_CPU_THREADS`."""
    if isinstance(cpu_threads, bool) or not isinstance(cpu_threads, int) or cpu_threads < 0:
        raise ValueError("cpu_threads must be a whole number of threads, or 0 for automatic")
    if cpu_threads > MAX_CPU_THREADS:
        raise ValueError(f"cpu_threads must be at most {MAX_CPU_THREADS}, not {cpu_threads}")
    return cpu_threads


def check_vad_parameters(values: Mapping[str, object]) -> dict[str, float]:
    """``values`` checked against :data:`VAD_PARAMETERS`: known names, finite numbers of the
    right kind, not negative (``threshold`` and ``neg_threshold`` in [0, 1]).

    Raises ``ValueError`` naming the first bad entry.
    """
    checked: dict[str, float] = {}
    for name, raw in values.items():
        kind = VAD_PARAMETERS.get(name)
        if kind is None:
            raise ValueError(
                f"unknown VAD parameter {name!r}; known: {', '.join(sorted(VAD_PARAMETERS))}"
            )
        try:
            if isinstance(raw, bool):
                raise ValueError
            number = float(raw)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise ValueError(f"VAD parameter {name!r} must be a number, not {raw!r}") from None
        if math.isnan(number) or number < 0 or (math.isinf(number) and kind is int):
            raise ValueError(f"VAD parameter {name!r} must be a non-negative number")
        if name.endswith("threshold") and number > 1:
            raise ValueError(f"VAD parameter {name!r} must be between 0 and 1")
        checked[name] = int(number) if kind is int else number
    return checked


FORMATS = ("json", "verbose_json", "text", "srt", "vtt")
STREAM_FORMATS = ("json", "text")
"""With ``stream=true`` the answer is text events, as OpenAI sends for these formats."""

_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")


class BadField(ValueError):
    """A form field with a value the engine cannot take; ``param`` names it."""

    def __init__(self, message: str, param: str) -> None:
        super().__init__(message)
        self.param = param


def _flag(form: Form, name: str) -> bool | None:
    raw = form.get(name)
    if raw is None or raw == "":
        return None
    if raw.lower() in _TRUE:
        return True
    if raw.lower() in _FALSE:
        return False
    raise BadField(f"{name} must be true or false", name)


def _vad_parameters(form: Form) -> dict[str, float]:
    prefix = "vad_parameters["
    raw = {k[len(prefix) : -1]: v for k, v in form.fields if k.startswith(prefix) and k[-1] == "]"}
    try:
        return check_vad_parameters(raw)
    except ValueError as exc:
        raise BadField(str(exc), "vad_parameters") from None


def _temperature(form: Form) -> float | None:
    raw = form.get("temperature")
    if not raw:
        return None
    try:
        temperature = float(raw)
    except ValueError:
        raise BadField("temperature must be a number", "temperature") from None
    if not math.isfinite(temperature) or not 0 <= temperature <= 1:
        raise BadField("temperature must be between 0 and 1", "temperature")
    return temperature


def parse_options(form: Form) -> tuple[Options, str, bool]:
    """The engine options, the response format and whether to stream; raises
    :class:`BadField`."""
    fmt = form.get("response_format") or "json"
    if fmt not in FORMATS:
        raise BadField(f"response_format must be one of {', '.join(FORMATS)}", "response_format")
    stream = bool(_flag(form, "stream"))
    if stream and fmt not in STREAM_FORMATS:
        raise BadField(
            f"stream=true answers text events: use response_format {' or '.join(STREAM_FORMATS)}",
            "stream",
        )
    language = form.get("language") or None
    if language is not None and language not in ISO_639_1:
        raise BadField(f"language {language!r} is not an ISO-639-1 code", "language")
    granularities = form.get_list("timestamp_granularities")
    for item in granularities:
        if item not in ("word", "segment"):
            raise BadField(f"unknown timestamp granularity {item!r}", "timestamp_granularities")
    if granularities and fmt != "verbose_json":
        raise BadField(
            "timestamp_granularities needs response_format=verbose_json", "timestamp_granularities"
        )
    options = Options(
        language,
        form.get("prompt"),
        _temperature(form),
        "word" in granularities,
        vad_filter=_flag(form, "vad_filter"),
        vad_parameters=_vad_parameters(form),
        phrase_times=fmt in SUBTITLE_FORMATS or "segment" in granularities,
        streamed=stream,
    )
    return options, fmt, stream
